// HostRunner over SSM Run Command (AWS-RunShellScript).
//
// Command encoding. The step's script file travels base64-encoded inside a single-quoted shell word and
// runs as `bash -c "$script" <name> <arg1> <arg2> …`; every argument is a POSIX single-quoted word
// (validate.shellQuote). What SSM receives (the `commands` lines, joined by newlines by the agent):
//
//   # etcd-replace StopFailedMember: script text is base64 below; arguments are single-quoted words
//   etcd_replace_script=$(printf '%s' '<base64 of the script file>' | base64 -d) || { echo '…' >&2; exit 125; }
//   exec bash -c "$etcd_replace_script" 'StopFailedMember' 'arg 1' 'it'\''s' </dev/null
//
// A request with secrets (signed artifact-store URLs) is two commands: a one-time key made on the host,
// then the script, whose text carries the secrets only as ciphertext sealed to that key; the wrapper
// unseals them into the shell's memory and pipes them to the script's stdin (secretSeal.ts):
//
//   etcd_replace_secrets=$(… openssl pkeyutl -decrypt -inkey /run/etcd-replace/keys/<id>.pem …) || exit 125
//   rm -f /run/etcd-replace/keys/<id>.pem
//   printf '%s' "$etcd_replace_secrets" | bash -c "$etcd_replace_script" 'StartNewMember' 'arg 1' …
//
// A step that knows such a command follows asks for the key first (prepareSecrets): its round trip then
// runs beside the step's other commands instead of before the script's.
//
// Better, the key rides on a command already going to the host (keyAhead, functions/hosts/keysAhead.ts):
// that command's wrapper makes the key before its script runs and prints the public half framed on
// stderr, before anything the script prints; the runner strips the frames before the output is returned
// (secretSeal.ts: keyAheadCommands, readKeyFrames):
//
//   etcd_replace_script=$(…)
//   # etcd-replace: one-time keys for later commands' secrets …, framed on stderr
//   if ( umask 077 && mkdir -p /run/etcd-replace/keys … ); then … openssl genpkey … -out …/<id>.pem … fi
//   exec bash -c "$etcd_replace_script" 'etcdctl' …
//
// A key made so and not used in its step is carried to later steps in the run's context (public half,
// id, instance, when made): a later command with secrets to that instance takes it, once, while it is
// younger than KEY_AHEAD_MAX_MS. One already taken (this runner remembers) or too old is never taken
// again: the command makes its own as above. One the host no longer has (used by a try that failed after,
// or removed as stale) stops the command before anything runs (KEY_GONE): the runner makes a fresh key
// and sends the command again, once. One that is there and does not open the ciphertext is removed on the
// host and the command fails (exit 125, saying so): another try makes a fresh key.
//
// Why this and not the alternatives:
// - base64 has only [A-Za-z0-9+/=], so the script text cannot end a quote, a heredoc or a line early,
//   whatever it contains; no delimiter collision as with a heredoc.
// - `bash -c` runs the script text unchanged (its `set -o errexit -o nounset -o pipefail` applies as in
//   the file); $0 is the script name and $1… are the arguments, exactly as `bash Script.sh args` gives.
// - `bash -s` (script on stdin, heredoc or pipe) would let any command in the script that reads stdin eat
//   the rest of the script; here stdin is /dev/null.
// - no temp file: nothing to clean up, nothing left on disk if the agent kills the run.
// - the wrapper needs only a POSIX sh, printf, base64 (coreutils) and bash; it runs the same under the
//   agent's /bin/sh, under bash -c in a test, or in a fake SSM client that executes the commands on a
//   sandbox host. `exec` hands the script's exit code straight to the agent (ResponseCode). A decode
//   failure exits 125 rather than running an empty script that would "succeed".

import {
  CancelCommandCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  SendCommandCommand,
  type GetCommandInvocationCommandOutput,
  type SendCommandCommandInput,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { CommandCancelledError, HostUnreachableError, InvalidInputError, ScriptTimedOutError, errorMessage, type WorkflowError } from '../../errors.ts';
import type { HostRunner, ScriptOutput, ScriptRequest } from '../../ports.ts';
import { assertNoControlChars, instanceId as validInstanceId, shellQuote } from '../../validate.ts';
import { SCRIPT_NAME } from '../scriptText.ts';
import { abortReason, stepSignal } from '../../workflow/stepSignal.ts';
import { secretLines } from '../secretLines.ts';
import { DEFAULT_KEY_DIR, KEY_GONE, keyAheadCommands, oneTimeKeyCommands, publicKeyPem, readKeyFrames, sealSecrets, unsealCommands } from './secretSeal.ts';
import type { KeyAhead, KeysAheadRunner } from '../../hosts/keysAhead.ts';

/** SSM keeps this much stdout inline in GetCommandInvocation; the rest only in S3 (when configured). */
export const SSM_STDOUT_LIMIT = 24_000;
/** SSM keeps this much stderr inline in GetCommandInvocation. */
export const SSM_STDERR_LIMIT = 8_000;
/** AWS-RunShellScript's executionTimeout allows at most 172800 s (48 h). */
export const SSM_MAX_EXECUTION_TIMEOUT = 172_800;
/** Marker the agent appends to cut output. */
const TRUNCATED_MARKER = /-{2,}\s*output truncated\s*-{2,}\s*$/i;

// ---------------------------------------------------------------------------------------------
// How an invocation's Status / StatusDetails / ResponseCode are read. Rules are tried in order; the
// first match wins. StatusDetails are compared without spaces and case ("Delivery Timed Out" and
// "DeliveryTimedOut" both appear in the wild).

export type InvocationOutcome =
  /** Not finished: poll again. */
  | 'wait'
  /** The script ran to an exit code: resolve with it (the step decides what a non-zero code means). */
  | 'output'
  /** The script started and ran out of time: ScriptTimedOutError. */
  | 'timedOut'
  /** The command never reached a running agent: HostUnreachableError (retryable). */
  | 'unreachable'
  /** The agent failed before or around running the script (ResponseCode -1): HostUnreachableError (retryable). */
  | 'agentFailed'
  /** Cancelled by someone: CommandCancelledError (terminal). */
  | 'cancelled';

export interface InvocationRule {
  /** Matches the invocation's Status exactly, when given. */
  status?: string;
  /** Matches StatusDetails with spaces removed, case-insensitively, when given. */
  details?: string;
  /** `script` matches a ResponseCode from 1 to 255 (an exit code the script itself produced). */
  responseCode?: 'script';
  outcome: InvocationOutcome;
  /** The error thrown, for outcomes that throw. */
  error?: 'ScriptTimedOutError' | 'HostUnreachableError' | 'CommandCancelledError';
  /** Whether a later attempt may succeed (HostUnreachableError is retried by the workflow). */
  retryable: boolean;
  meaning: string;
}

export const INVOCATION_RULES: readonly InvocationRule[] = [
  {
    details: 'ExecutionTimedOut',
    outcome: 'timedOut',
    error: 'ScriptTimedOutError',
    retryable: false,
    meaning: 'the script started and ran longer than executionTimeout',
  },
  {
    details: 'DeliveryTimedOut',
    outcome: 'unreachable',
    error: 'HostUnreachableError',
    retryable: true,
    meaning: 'the agent did not pick the command up before TimeoutSeconds',
  },
  {
    details: 'Undeliverable',
    outcome: 'unreachable',
    error: 'HostUnreachableError',
    retryable: true,
    meaning: 'the instance does not exist or does not respond',
  },
  {
    details: 'Terminated',
    outcome: 'unreachable',
    error: 'HostUnreachableError',
    retryable: true,
    meaning: 'the system cancelled the invocation (parent command hit MaxErrors)',
  },
  { status: 'Pending', outcome: 'wait', retryable: true, meaning: 'not yet sent to the instance' },
  { status: 'InProgress', outcome: 'wait', retryable: true, meaning: 'running on the instance' },
  { status: 'Delayed', outcome: 'wait', retryable: true, meaning: 'instance not available yet; SSM retries delivery until TimeoutSeconds' },
  { status: 'Success', outcome: 'output', retryable: false, meaning: 'the script exited 0' },
  { status: 'Failed', responseCode: 'script', outcome: 'output', retryable: false, meaning: 'the script ran and exited non-zero: the step decides' },
  {
    status: 'Failed',
    outcome: 'agentFailed',
    error: 'HostUnreachableError',
    retryable: true,
    meaning: 'failed without a script exit code (ResponseCode -1 or 0): the agent could not run it',
  },
  {
    status: 'TimedOut',
    outcome: 'timedOut',
    error: 'ScriptTimedOutError',
    retryable: false,
    meaning: 'timed out without details: treated as an execution timeout',
  },
  { status: 'Cancelled', outcome: 'cancelled', error: 'CommandCancelledError', retryable: false, meaning: 'cancelled (CancelCommand)' },
  { status: 'Cancelling', outcome: 'cancelled', error: 'CommandCancelledError', retryable: false, meaning: 'being cancelled: it will not finish' },
];

const squash = (text: string | undefined): string => (text ?? '').replace(/\s+/g, '').toLowerCase();

/** The rule that applies to an invocation; an unknown status waits (the overall deadline still bounds it). */
export function classifyInvocation(invocation: { Status?: string; StatusDetails?: string; ResponseCode?: number }): InvocationRule {
  const details = squash(invocation.StatusDetails);
  const code = invocation.ResponseCode;
  for (const rule of INVOCATION_RULES) {
    if (rule.details !== undefined && squash(rule.details) !== details) continue;
    if (rule.status !== undefined && rule.status !== invocation.Status) continue;
    if (rule.responseCode === 'script' && !(typeof code === 'number' && code >= 1 && code <= 255)) continue;
    return rule;
  }
  return { outcome: 'wait', retryable: true, meaning: `unknown status ${invocation.Status ?? '(none)'}` };
}

// ---------------------------------------------------------------------------------------------

/** Secrets sealed to the host's one-time key `keyId` (secretSeal.ts). */
export interface SealedSecrets {
  keyId: string;
  chunks: string[];
  keyDir?: string;
}

/** One-time keys the command makes on its host before its script runs, for later commands (secretSeal.ts). */
export interface KeysMadeAhead {
  keyIds: string[];
  keyDir?: string;
}

/** Builds the AWS-RunShellScript `commands` lines for a script text and its arguments (see the top of this file). */
export function encodeCommands(scriptName: string, scriptText: string, args: readonly string[], sealed?: SealedSecrets, keysAhead?: KeysMadeAhead): string[] {
  if (!SCRIPT_NAME.test(scriptName)) throw new InvalidInputError('script', `${JSON.stringify(scriptName)} is not a script name`);
  if (scriptText.includes('\u0000')) throw new InvalidInputError('script', `${scriptName} contains a NUL character`);
  args.forEach((arg, index) => {
    if (typeof arg !== 'string') throw new InvalidInputError(`args[${index}]`, 'expected a string');
    assertNoControlChars(`args[${index}]`, arg);
  });
  const encoded = Buffer.from(scriptText, 'utf8').toString('base64');
  const head = [
    `# etcd-replace ${scriptName}: script text is base64 below; arguments are single-quoted words`,
    `etcd_replace_script=$(printf '%s' '${encoded}' | base64 -d) || { echo 'etcd-replace: cannot decode ${scriptName}' >&2; exit 125; }`,
    ...(keysAhead && keysAhead.keyIds.length > 0 ? keyAheadCommands(keysAhead.keyIds, keysAhead.keyDir) : []),
  ];
  const run = ['bash -c "$etcd_replace_script"', shellQuote(scriptName), ...args.map(shellQuote)].join(' ');
  if (!sealed) return [...head, `exec ${run} </dev/null`];
  return [...head, ...unsealCommands(scriptName, sealed.keyId, sealed.chunks, sealed.keyDir), `printf '%s' "$etcd_replace_secrets" | ${run}`];
}

export interface SsmCommandEvent {
  commandId: string;
  instanceId: string;
  script: string;
  /** How many SendCommand calls this runner has made, this one included. */
  count: number;
}

export interface SsmHostRunnerConfig {
  ssm: SSMClient;
  /** Script text by name (`StopFailedMember` → the file's text). */
  scripts: (name: string) => string;
  /** Needed only with outputBucket: reads full output cut short inline. */
  s3?: S3Client;
  /** SSM writes full stdout/stderr here when set (OutputS3BucketName). */
  outputBucket?: string;
  outputKeyPrefix?: string;
  /** CloudWatch Logs group for command output (CloudWatchOutputConfig), optional. */
  cloudWatchLogGroup?: string;
  /** SendCommand TimeoutSeconds: how long SSM tries to deliver (30 s minimum). Default 60. */
  deliveryTimeoutSeconds?: number;
  /**
   * Check DescribeInstanceInformation before sending (fails fast on an unmanaged or offline instance).
   * Default true. An instance found Online is not asked again for managedTtlMs (default 30 000 ms): a
   * step's commands to one host cost one check, and a host that goes away meanwhile is still told by the
   * command itself (DeliveryTimedOut, Undeliverable: HostUnreachableError).
   */
  checkManaged?: boolean;
  managedTtlMs?: number;
  /** How long InvocationDoesNotExist is taken as "not registered yet". Default 20 000 ms. */
  invocationGraceMs?: number;
  /**
   * Waiting on the command's completion, as the SDK's CommandExecuted waiter does (GetCommandInvocation:
   * Pending, InProgress and Delayed retry, InvocationDoesNotExist retries; see INVOCATION_RULES for the
   * rest) but without its jitter and with the first look when a short command is done: the first
   * GetCommandInvocation firstPollMs after SendCommand (a host command through SSM takes about a second:
   * delivery, run, completion), then after pollInitialMs, growing by pollFactor up to pollMaxMs: a
   * command that needed a little more than the second is seen done a quarter second later, and a host
   * script that waits (StartNewMember's catch-up) is one command, seen done within pollMaxMs of its end.
   * Until pollSteadyMs after SendCommand the looks stay pollInitialMs apart (most host commands end
   * within 1 to 3 s of their SendCommand: a doubling wait there cost up to a second each on the path to
   * full strength); only then do they grow, by half each time, to at most 2 s apart: a host script that
   * waits (a new member catching up for a few seconds) is seen done within 2 s of its end, not 4 as
   * with ×2 up to 5 s. Defaults 1 000 ms, then 250 ms until 3 000 ms, then ×1.5 up to 2 000 ms.
   */
  firstPollMs?: number;
  pollInitialMs?: number;
  pollSteadyMs?: number;
  pollFactor?: number;
  pollMaxMs?: number;
  /** Added to delivery + execution timeouts before the runner gives up waiting on its own. Default 60 s. */
  deadlineSlackSeconds?: number;
  /** Called after each SendCommand (the benchmark counts SSM commands per run). */
  onCommand?: (event: SsmCommandEvent) => void;
  /** Injected for tests. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** Comment on the command (visible in the console), e.g. the run id. */
  comment?: string;
  /** Where hosts keep one-time keys (secretSeal.ts); tests point it elsewhere. */
  keyDir?: string;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function awsErrorName(error: unknown): string {
  if (error && typeof error === 'object') {
    const e = error as { name?: unknown; Code?: unknown; code?: unknown };
    for (const value of [e.name, e.Code, e.code]) if (typeof value === 'string' && value !== 'Error') return value;
  }
  return '';
}

/** How long a key made ahead (prepareSecrets, keyAhead) may wait for its command: well within the 30 minutes after which the host removes it. */
export const KEY_AHEAD_MAX_MS = 10 * 60_000;
/** Keys made ahead carried to later steps at most (the newest); each is about 450 characters of context. */
const KEYS_CARRIED_MAX = 8;
/** Key ids a command took that this runner remembers, so that a retry in the same process never takes one again. */
const SPENT_REMEMBERED = 256;

/** A one-time key the host made: its id and public half (secretSeal.ts). */
interface OneTimeKey {
  keyId: string;
  publicKey: string;
  keyDir: string;
}

const KEY_AHEAD_ID = /^[0-9a-f]{32}$/;
const KEY_AHEAD_DER = /^[A-Za-z0-9+/]{200,2000}={0,2}$/;

/** A carried key as the context holds it, checked (fields of the right form only), or undefined. */
function carriedKey(value: unknown): KeyAhead | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { keyId, publicKey, instanceId, madeAt, for: script } = value as Record<string, unknown>;
  if (typeof keyId !== 'string' || !KEY_AHEAD_ID.test(keyId)) return undefined;
  if (typeof publicKey !== 'string' || !KEY_AHEAD_DER.test(publicKey)) return undefined;
  if (typeof instanceId !== 'string' || !/^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/.test(instanceId)) return undefined;
  if (typeof madeAt !== 'string' || !Number.isFinite(Date.parse(madeAt))) return undefined;
  if (typeof script !== 'string' || !SCRIPT_NAME.test(script)) return undefined;
  return { keyId, publicKey, instanceId, madeAt, for: script };
}

/** Whether secrets can be sealed to a framed public half (RSA of at least 2048 bits). */
function sealable(der: string): boolean {
  try {
    sealSecrets(publicKeyPem(der), '');
    return true;
  } catch {
    return false;
  }
}

export class SsmHostRunner implements HostRunner, KeysAheadRunner {
  #sent = 0;
  /** Keys made ahead by prepareSecrets, by instance: the next command with secrets there takes its own. */
  readonly #keys = new Map<string, { at: number; key: Promise<OneTimeKey | undefined> }>();
  /** Keys asked for ahead (keyAhead), by instance: the scripts they are for. The next command there makes them. */
  readonly #wishes = new Map<string, Set<string>>();
  /** Keys made ahead, carried in or made in this step, not taken yet. */
  #held: KeyAhead[] = [];
  /** Key ids a command took (once taken, never again). */
  readonly #spent = new Set<string>();
  /** When each instance was last found Online (DescribeInstanceInformation). */
  readonly #online = new Map<string, number>();
  /** DescribeInstanceInformation in flight, by instance. */
  readonly #asking = new Map<string, Promise<void>>();
  readonly #config: SsmHostRunnerConfig;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #now: () => number;

  constructor(config: SsmHostRunnerConfig) {
    if (config.outputBucket && !config.s3) throw new InvalidInputError('s3', 'an S3 client is needed to read output from outputBucket');
    const delivery = config.deliveryTimeoutSeconds ?? 60;
    if (!Number.isInteger(delivery) || delivery < 30 || delivery > 2_592_000) {
      throw new InvalidInputError('deliveryTimeoutSeconds', `${delivery} is outside 30-2592000`);
    }
    this.#config = config;
    this.#sleep = config.sleep ?? defaultSleep;
    this.#now = config.now ?? Date.now;
  }

  /** SendCommand calls made so far by this runner. */
  get commandsSent(): number {
    return this.#sent;
  }

  async run(request: ScriptRequest): Promise<ScriptOutput> {
    const { host, script, args, timeoutSeconds } = request;
    if (host.instanceId === undefined || host.instanceId === '') {
      throw new InvalidInputError('host.instanceId', `host ${host.name} has no EC2 instance id; SSM needs one`);
    }
    const instanceId = validInstanceId('host.instanceId', host.instanceId);
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > SSM_MAX_EXECUTION_TIMEOUT) {
      throw new InvalidInputError('timeoutSeconds', `${timeoutSeconds} is outside 1-${SSM_MAX_EXECUTION_TIMEOUT}`);
    }
    const signal = stepSignal(request);
    if (signal?.aborted) throw abortReason(signal, `${script} on ${host.name}`);
    const lines = secretLines(request.secrets);
    const scriptText = this.#config.scripts(script);
    encodeCommands(script, scriptText, args); // checks the request before anything is sent
    if (this.#config.checkManaged ?? true) await this.#assertManaged(instanceId);

    if (lines === '') return this.#executeMakingKeys(instanceId, host.name, script, scriptText, args, undefined, timeoutSeconds, signal);
    const { key, madeAhead } = await this.#keyFor(instanceId, host.name, script, signal);
    const sealed = { keyId: key.keyId, chunks: sealSecrets(key.publicKey, lines), keyDir: key.keyDir };
    const out = await this.#executeMakingKeys(instanceId, host.name, script, scriptText, args, sealed, timeoutSeconds, signal);
    if (!madeAhead || out.exitCode !== 125 || !out.stderr.includes(`${KEY_GONE} ${key.keyId} `)) return out;
    // The key made ahead is no longer on the host (a try that took it failed later, or it was removed as
    // stale), and nothing ran: a fresh key, made now, and the command again, once.
    const fresh = await this.#makeKey(instanceId, host.name, script, signal);
    if (fresh instanceof Error) throw fresh;
    const again = { keyId: fresh.keyId, chunks: sealSecrets(fresh.publicKey, lines), keyDir: fresh.keyDir };
    return this.#execute(instanceId, host.name, script, encodeCommands(script, scriptText, args, again), timeoutSeconds, signal);
  }

  /**
   * The key a command with secrets to the instance takes, once: one made ahead (keyAhead: carried in or
   * made in this step; for this script first, else the oldest), else the one prepareSecrets is making,
   * else one made now. A key made ahead that cannot be read is dropped: the next is taken.
   */
  async #keyFor(instanceId: string, hostName: string, script: string, signal?: AbortSignal): Promise<{ key: OneTimeKey; madeAhead: boolean }> {
    const keyDir = this.#config.keyDir ?? DEFAULT_KEY_DIR;
    for (let held = this.#takeHeld(instanceId, script); held; held = this.#takeHeld(instanceId, script)) {
      try {
        return { key: { keyId: held.keyId, publicKey: publicKeyPem(held.publicKey), keyDir }, madeAhead: true };
      } catch {
        // Not a key this runner can seal to: taken (never again) and passed over.
      }
    }
    // A key made ahead for this host (prepareSecrets) is taken, once; a key it could not make is made again here.
    // One older than KEY_AHEAD_MAX_MS is not taken: the host removes keys left unused (secretSeal.ts).
    const ahead = this.#keys.get(instanceId);
    this.#keys.delete(instanceId);
    const fresh = ahead && this.#now() - ahead.at < KEY_AHEAD_MAX_MS ? await ahead.key : undefined;
    const key = fresh ?? (await this.#makeKey(instanceId, hostName, script, signal));
    if (key instanceof Error) throw key;
    return { key, madeAhead: false };
  }

  /** Whether a key made ahead may still be taken: not taken before, and younger than KEY_AHEAD_MAX_MS. */
  #usable(key: KeyAhead): boolean {
    const age = this.#now() - Date.parse(key.madeAt);
    return !this.#spent.has(key.keyId) && age > -60_000 && age < KEY_AHEAD_MAX_MS;
  }

  /** Takes a usable key made ahead for the instance (for `script` first, else the oldest), marking it spent. */
  #takeHeld(instanceId: string, script: string): KeyAhead | undefined {
    const usable = this.#held.filter((k) => k.instanceId === instanceId && this.#usable(k));
    const key = usable.find((k) => k.for === script) ?? usable[0];
    if (!key) return undefined;
    this.#spent.add(key.keyId);
    if (this.#spent.size > SPENT_REMEMBERED) this.#spent.delete(this.#spent.values().next().value as string);
    this.#held = this.#held.filter((k) => k !== key);
    return key;
  }

  /**
   * Sends the command, making on its host the keys asked for ahead there that no usable key answers yet;
   * the keys it made are held (for this step's commands and the later steps') and their frames stripped.
   */
  async #executeMakingKeys(
    instanceId: string,
    hostName: string,
    script: string,
    scriptText: string,
    args: readonly string[],
    sealed: SealedSecrets | undefined,
    timeoutSeconds: number,
    signal?: AbortSignal,
  ): Promise<ScriptOutput> {
    const wished = [...(this.#wishes.get(instanceId) ?? [])].filter(
      (wanted) => !this.#held.some((k) => k.instanceId === instanceId && k.for === wanted && this.#usable(k)),
    );
    this.#wishes.delete(instanceId);
    const ahead = wished.map((wanted) => ({ keyId: randomBytes(16).toString('hex'), for: wanted }));
    const keyDir = this.#config.keyDir ?? DEFAULT_KEY_DIR;
    const madeAt = new Date(this.#now()).toISOString();
    const commands = encodeCommands(script, scriptText, args, sealed, { keyIds: ahead.map((a) => a.keyId), keyDir });
    const out = await this.#execute(instanceId, hostName, script, commands, timeoutSeconds, signal);
    if (ahead.length === 0) return out;
    const { keys, rest } = readKeyFrames(
      out.stderr,
      ahead.map((a) => a.keyId),
    );
    for (const a of ahead) {
      const held = carriedKey({ keyId: a.keyId, publicKey: keys.get(a.keyId), instanceId, madeAt, for: a.for });
      // Held only when its public half reads as a key to seal to; else the command that needs one makes its own.
      if (held && sealable(held.publicKey)) this.#held.push(held);
    }
    return { ...out, stderr: rest };
  }

  keyAhead(host: ScriptRequest['host'], script: string): void {
    if (host.instanceId === undefined || host.instanceId === '') return;
    const instanceId = validInstanceId('host.instanceId', host.instanceId);
    if (!SCRIPT_NAME.test(script)) throw new InvalidInputError('script', `${JSON.stringify(script)} is not a script name`);
    const wishes = this.#wishes.get(instanceId) ?? new Set<string>();
    wishes.add(script);
    this.#wishes.set(instanceId, wishes);
  }

  holdsKeyAhead(host: ScriptRequest['host']): boolean {
    if (host.instanceId === undefined || host.instanceId === '') return false;
    return this.#held.some((k) => k.instanceId === host.instanceId && this.#usable(k));
  }

  carryKeysAhead(keys: readonly KeyAhead[]): void {
    this.#wishes.clear();
    this.#held = keys.map(carriedKey).filter((k): k is KeyAhead => k !== undefined && this.#usable(k));
  }

  keysAheadLeft(): KeyAhead[] {
    return this.#held
      .filter((k) => this.#usable(k))
      .sort((a, b) => Date.parse(a.madeAt) - Date.parse(b.madeAt))
      .slice(-KEYS_CARRIED_MAX)
      .map((k) => ({ ...k }));
  }

  /**
   * Makes the one-time key for the next command with secrets to `host` now, beside the step's other
   * commands (the key is one SSM round trip of its own): run() takes it. The key is still made for one
   * command only and removed on the host once that command unsealed its secrets; a key never taken is
   * removed by a later key command after 30 minutes (secretSeal.ts), as one whose command failed is.
   */
  prepareSecrets(host: ScriptRequest['host'], script: string): void {
    if (host.instanceId === undefined || host.instanceId === '') return;
    const instanceId = validInstanceId('host.instanceId', host.instanceId);
    // A key made ahead by an earlier command there (keyAhead) is at hand: the command takes that one.
    if (this.#keys.has(instanceId) || this.holdsKeyAhead(host)) return;
    const signal = stepSignal();
    const made = (async () => {
      if (this.#config.checkManaged ?? true) await this.#assertManaged(instanceId);
      const key = await this.#makeKey(instanceId, host.name, script, signal);
      return key instanceof Error ? undefined : key;
    })();
    // A key made ahead that failed is made again by the command that needs it, which reports its own error.
    this.#keys.set(instanceId, { at: this.#now(), key: made.catch(() => undefined) });
  }

  async #makeKey(instanceId: string, hostName: string, script: string, signal?: AbortSignal): Promise<OneTimeKey | HostUnreachableError> {
    const keyDir = this.#config.keyDir ?? DEFAULT_KEY_DIR;
    const keyId = randomBytes(16).toString('hex');
    const key = await this.#execute(instanceId, hostName, `OneTimeKey for ${script}`, oneTimeKeyCommands(keyId, keyDir), 60, signal);
    if (key.exitCode !== 0) {
      return new HostUnreachableError(
        `${hostName} (${instanceId}) could not make a one-time key for ${script}'s secrets (exit ${key.exitCode}): ${key.stderr.slice(-300)}`,
      );
    }
    return { keyId, publicKey: key.stdout, keyDir };
  }

  /**
   * Sends one command and waits for its output. When `signal` aborts (the step's time is up), the
   * command is cancelled on its host (CancelCommand) and the call rejects with the signal's reason.
   */
  async #execute(instanceId: string, hostName: string, label: string, commands: string[], timeoutSeconds: number, signal?: AbortSignal): Promise<ScriptOutput> {
    if (signal?.aborted) throw abortReason(signal, `${label} on ${hostName}`);
    try {
      const commandId = await this.#send(instanceId, label, commands, timeoutSeconds);
      const invocation = await this.#wait(commandId, instanceId, hostName, label, timeoutSeconds, signal);
      return await this.#output(invocation, commandId, instanceId);
    } catch (error) {
      if (error instanceof HostUnreachableError) this.#online.delete(instanceId); // asked again before the next command
      throw error;
    }
  }

  #notManaged(instanceId: string, detail: string, cause?: unknown): HostUnreachableError {
    return new HostUnreachableError(`instance ${instanceId} is not managed by SSM (agent not running, no instance profile, or offline): ${detail}`, { cause });
  }

  async #assertManaged(instanceId: string): Promise<void> {
    const seen = this.#online.get(instanceId);
    if (seen !== undefined && this.#now() - seen < (this.#config.managedTtlMs ?? 30_000)) return;
    // Two commands to one host sent side by side (a key made ahead beside a read) share one look.
    const asking = this.#asking.get(instanceId);
    if (asking) return asking;
    const look = this.#describeManaged(instanceId).finally(() => this.#asking.delete(instanceId));
    this.#asking.set(instanceId, look);
    return look;
  }

  async #describeManaged(instanceId: string): Promise<void> {
    const answer = await this.#config.ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [instanceId] }] }));
    const info = answer.InstanceInformationList?.find((item) => item.InstanceId === instanceId);
    if (!info) throw this.#notManaged(instanceId, 'DescribeInstanceInformation does not list it');
    if (info.PingStatus !== 'Online') throw this.#notManaged(instanceId, `agent ping status is ${info.PingStatus ?? 'unknown'}`);
    this.#online.set(instanceId, this.#now());
  }

  async #send(instanceId: string, script: string, commands: string[], timeoutSeconds: number): Promise<string> {
    const { outputBucket, outputKeyPrefix, cloudWatchLogGroup, comment } = this.#config;
    const input: SendCommandCommandInput = {
      DocumentName: 'AWS-RunShellScript',
      InstanceIds: [instanceId],
      TimeoutSeconds: this.#config.deliveryTimeoutSeconds ?? 60,
      Comment: (comment ? `${script} ${comment}` : `etcd-replace ${script}`).slice(0, 100),
      Parameters: { commands, executionTimeout: [String(timeoutSeconds)] },
    };
    if (outputBucket) {
      input.OutputS3BucketName = outputBucket;
      if (outputKeyPrefix) input.OutputS3KeyPrefix = outputKeyPrefix;
    }
    if (cloudWatchLogGroup) {
      input.CloudWatchOutputConfig = { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: cloudWatchLogGroup };
    }
    let commandId: string | undefined;
    try {
      this.#sent += 1;
      const answer = await this.#config.ssm.send(new SendCommandCommand(input));
      commandId = answer.Command?.CommandId;
    } catch (error) {
      if (awsErrorName(error) === 'InvalidInstanceId') throw this.#notManaged(instanceId, 'SendCommand answered InvalidInstanceId', error);
      throw error;
    }
    if (!commandId) throw new HostUnreachableError(`SendCommand for ${script} on ${instanceId} returned no command id`);
    this.#config.onCommand?.({ commandId, instanceId, script, count: this.#sent });
    return commandId;
  }

  async #wait(
    commandId: string,
    instanceId: string,
    hostName: string,
    script: string,
    timeoutSeconds: number,
    signal?: AbortSignal,
  ): Promise<GetCommandInvocationCommandOutput> {
    const started = this.#now();
    const grace = this.#config.invocationGraceMs ?? 20_000;
    const deadline = started + ((this.#config.deliveryTimeoutSeconds ?? 60) + timeoutSeconds + (this.#config.deadlineSlackSeconds ?? 60)) * 1000;
    let delay = this.#config.firstPollMs ?? 1_000;
    let next = this.#config.pollInitialMs ?? 250;
    const where = `${script} on ${hostName} (${instanceId}, command ${commandId})`;
    let onAbort: (() => void) | undefined;
    const aborted = signal ? new Promise<void>((resolve) => signal.addEventListener('abort', (onAbort = () => resolve()), { once: true })) : undefined;
    try {
      for (;;) {
        await (aborted ? Promise.race([this.#sleep(delay), aborted]) : this.#sleep(delay));
        if (signal?.aborted) {
          await this.#cancel(commandId, instanceId);
          throw abortReason(signal, where);
        }
        if (this.#now() - started + (this.#config.pollInitialMs ?? 250) < (this.#config.pollSteadyMs ?? 3_000)) {
          delay = this.#config.pollInitialMs ?? 250;
        } else {
          delay = Math.min(next, this.#config.pollMaxMs ?? 2_000);
          next = delay * (this.#config.pollFactor ?? 1.5);
        }
        const invocation = await this.#poll(commandId, instanceId, where, started, grace);
        if (invocation === null) continue;
        const rule = classifyInvocation(invocation);
        if (rule.outcome === 'output') return invocation;
        if (rule.outcome !== 'wait') throw this.#error(rule, invocation, where, timeoutSeconds);
        if (this.#now() >= deadline) {
          await this.#cancel(commandId, instanceId);
          throw new ScriptTimedOutError(`${where}: still ${invocation.Status ?? 'unknown'} after ${Math.round((this.#now() - started) / 1000)} s; cancelled`);
        }
      }
    } finally {
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  /** One GetCommandInvocation; null while SSM has no invocation yet (within the grace). */
  async #poll(commandId: string, instanceId: string, where: string, started: number, grace: number): Promise<GetCommandInvocationCommandOutput | null> {
    try {
      return await this.#config.ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }));
    } catch (error) {
      if (awsErrorName(error) === 'InvocationDoesNotExist') {
        if (this.#now() - started < grace) return null;
        throw new HostUnreachableError(`${where}: SSM still has no invocation after ${Math.round(grace / 1000)} s`, { cause: error });
      }
      throw error;
    }
  }

  #error(rule: InvocationRule, invocation: GetCommandInvocationCommandOutput, where: string, timeoutSeconds: number): WorkflowError {
    const status = `${invocation.Status ?? '?'} / ${invocation.StatusDetails ?? '?'}, ResponseCode ${invocation.ResponseCode ?? '?'}`;
    const tail = (invocation.StandardErrorContent ?? '').slice(-500);
    switch (rule.outcome) {
      case 'timedOut':
        return new ScriptTimedOutError(`${where} did not finish within ${timeoutSeconds} s (${status})`);
      case 'cancelled':
        return new CommandCancelledError(`${where} was cancelled (${status})`);
      case 'agentFailed':
        return new HostUnreachableError(`${where}: the SSM agent could not run the script (${status})${tail ? `: ${tail}` : ''}`);
      default:
        return new HostUnreachableError(`${where} was not delivered: ${rule.meaning} (${status})`);
    }
  }

  async #cancel(commandId: string, instanceId: string): Promise<void> {
    try {
      await this.#config.ssm.send(new CancelCommandCommand({ CommandId: commandId, InstanceIds: [instanceId] }));
    } catch {
      // Best effort: the command may have just finished.
    }
  }

  async #output(invocation: GetCommandInvocationCommandOutput, commandId: string, instanceId: string): Promise<ScriptOutput> {
    let stdout = invocation.StandardOutputContent ?? '';
    let stderr = invocation.StandardErrorContent ?? '';
    if (this.#config.outputBucket) {
      if (isTruncated(stdout, SSM_STDOUT_LIMIT)) {
        stdout = await this.#readS3(invocation.StandardOutputUrl, commandId, instanceId, 'stdout');
      }
      if (isTruncated(stderr, SSM_STDERR_LIMIT)) {
        stderr = await this.#readS3(invocation.StandardErrorUrl, commandId, instanceId, 'stderr');
      }
    }
    return { exitCode: invocation.ResponseCode ?? 0, stdout, stderr };
  }

  async #readS3(url: string | undefined, commandId: string, instanceId: string, stream: 'stdout' | 'stderr'): Promise<string> {
    const bucket = this.#config.outputBucket as string;
    const key = outputKeyFromUrl(url, bucket) ?? outputKey(this.#config.outputKeyPrefix, commandId, instanceId, stream);
    try {
      const answer = await (this.#config.s3 as S3Client).send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (!answer.Body) return '';
      return await answer.Body.transformToString('utf8');
    } catch (error) {
      throw new HostUnreachableError(`cannot read full ${stream} of command ${commandId} from s3://${bucket}/${key}: ${errorMessage(error)}`, {
        cause: error,
      });
    }
  }
}

/** True when inline output was cut: it reached the inline limit or ends with the agent's truncation marker. */
export function isTruncated(text: string, limit: number): boolean {
  return text.length >= limit || TRUNCATED_MARKER.test(text);
}

/** Where AWS-RunShellScript writes a stream in S3: `<prefix>/<commandId>/<instanceId>/awsrunShellScript/0.awsrunShellScript/<stream>`. */
export function outputKey(prefix: string | undefined, commandId: string, instanceId: string, stream: 'stdout' | 'stderr'): string {
  const head = prefix ? `${prefix.replace(/\/+$/, '')}/` : '';
  return `${head}${commandId}/${instanceId}/awsrunShellScript/0.awsrunShellScript/${stream}`;
}

/** The object key in StandardOutputUrl/StandardErrorUrl (path-style or virtual-hosted), when it names the bucket. */
export function outputKeyFromUrl(url: string | undefined, bucket: string): string | undefined {
  if (!url) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const path = decodeURIComponent(parsed.pathname.replace(/^\/+/, ''));
  if (parsed.hostname.startsWith(`${bucket}.`)) return path || undefined;
  if (path.startsWith(`${bucket}/`)) return path.slice(bucket.length + 1) || undefined;
  return undefined;
}
