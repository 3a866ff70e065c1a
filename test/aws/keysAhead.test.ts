// Keys made ahead (functions/hosts/keysAhead.ts, functions/adapters/aws/ssmHostRunner.ts, secretSeal.ts):
// a one-time key made on a host by another command already going there, its public half framed on that
// command's stderr and carried to later steps in the context, taken once by a command with secrets to
// the host. Run against a fake SSM whose SendCommand runs the exact commands with bash here, as the agent
// would on the host, with real openssl and the host's key directory in a temporary directory.

import { spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mockClient } from 'aws-sdk-client-mock';
import { SSMClient } from '@aws-sdk/client-ssm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeCommands, KEY_AHEAD_MAX_MS, SsmHostRunner } from '../../functions/adapters/aws/ssmHostRunner.ts';
import { readKeyFrames } from '../../functions/adapters/aws/secretSeal.ts';
import { ScriptFailedError } from '../../functions/errors.ts';
import { createStepHandler } from '../../functions/handlers/step.ts';
import { runScriptText } from '../../functions/hosts/hostScript.ts';
import { askKeyAhead, type KeyAhead } from '../../functions/hosts/keysAhead.ts';
import type { Host, HostRunner } from '../../functions/ports.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { executingSsm } from '../support/aws/executingSsm.ts';

const INSTANCE = 'i-0123456789abcdef0';
const host: Host = { name: 'etcd-spare-0', hostname: 'etcd-spare-0.example.internal', ip: '10.0.1.20', roles: ['spare'], instanceId: INSTANCE };
/** A signed URL as S3 presigns one: what must never appear in a command, the context or a log line. */
const SIGNED = `https://artifacts.s3.eu-west-1.amazonaws.com/runs/r1/bundle.tgz?X-Amz-Credential=ASIAXXX&X-Amz-Signature=${'a'.repeat(64)}`;
const A = '0123456789abcdef0123456789abcdef';
const B = 'fedcba9876543210fedcba9876543210';

const ssmMock = mockClient(SSMClient);
let keyDir: string;
let work: string;
let sent: Array<{ comment: string; commands: string[] }>;

/** The script of every command: counts its runs, prints its arguments and what it got on stdin. */
const script = () => `set -o errexit -o nounset -o pipefail\necho ran >>'${join(work, 'runs')}'\nprintf '[%s]' "$@"; echo; cat\n`;
const runs = () => (existsSync(join(work, 'runs')) ? readFileSync(join(work, 'runs'), 'utf8').split('\n').filter(Boolean).length : 0);

/** A runner as one step function's container has it: its own memory, the host's key directory. */
function ssmRunner(now: () => number = Date.now): SsmHostRunner {
  return new SsmHostRunner({ ssm: new SSMClient({ region: 'eu-west-1' }), scripts: script, keyDir, sleep: async () => undefined, now });
}

const plain = { host, script: 'DescribeEtcdHost', args: ['x'], timeoutSeconds: 60 };
const withSecrets = { host, script: 'StartNewMember', args: ['y'], secrets: { BUNDLE_URL: SIGNED }, timeoutSeconds: 60 };
const scripts = () => sent.map((s) => s.comment.replace(/^etcd-replace /, '').split(' ')[0]);
const everythingSent = () => JSON.stringify(ssmMock.calls().map((c) => c.args[0].input));

/** A key made ahead on the "host" by a plain command, as a step leaves it for the next. */
async function keyMadeAhead(): Promise<KeyAhead> {
  const first = ssmRunner();
  first.keyAhead(host, 'StartNewMember');
  await first.run(plain);
  const [key] = first.keysAheadLeft();
  return key!;
}

beforeEach(() => {
  ssmMock.reset();
  keyDir = mkdtempSync(join(tmpdir(), 'keys-ahead-'));
  work = mkdtempSync(join(tmpdir(), 'keys-ahead-work-'));
  sent = executingSsm(ssmMock, INSTANCE);
});

afterEach(() => {
  ssmMock.reset();
  rmSync(keyDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe('The wrapper: keys made before the script, framed on stderr', () => {
  it.each(['bash', 'dash'])('under %s: one key per id, its public half framed before the script; the script runs as without keys', (shell) => {
    const own = `etcd-replace-key-ahead ${A} ${'Q'.repeat(300)}`;
    // A script whose own stderr starts with what looks like a frame, for an id asked for and one not.
    const text = `printf 'out\\n'; printf '%s\\n' 'etcd-replace-key-ahead ${'1'.repeat(32)} ${'Q'.repeat(300)}' '${own}' >&2; echo err >&2; exit 3`;
    if (shell === 'dash' && !existsSync('/bin/dash')) return;
    const ran = spawnSync(shell, ['-c', encodeCommands('Echo', text, [], undefined, { keyIds: [A, B], keyDir }).join('\n')], { encoding: 'utf8' });
    expect(ran.status).toBe(3);
    expect(ran.stdout).toBe('out\n');
    const { keys, rest } = readKeyFrames(ran.stderr, [A, B]);
    expect([...keys.keys()]).toEqual([A, B]);
    // Each framed public half is the public half of the key left on the host, root only.
    for (const id of [A, B]) {
      const onHost = createPublicKey(readFileSync(join(keyDir, `${id}.pem`), 'utf8'))
        .export({ type: 'spki', format: 'der' })
        .toString('base64');
      expect(keys.get(id)).toBe(onHost);
    }
    expect(readdirSync(keyDir).sort()).toEqual([`${A}.pem`, `${B}.pem`]);
    // The script's own lines stay, the one with an id asked for included: only leading frames are read, each id once.
    expect(rest).toBe(`etcd-replace-key-ahead ${'1'.repeat(32)} ${'Q'.repeat(300)}\n${own}\nerr\n`);
  });

  it('reads only leading frames of ids asked for, each once: a look-alike after the script began is its own', () => {
    const frame = (id: string) => `etcd-replace-key-ahead ${id} ${'Q'.repeat(300)}\n`;
    expect(readKeyFrames(`${frame(A)}${frame(A)}x\n`, [A]).rest).toBe(`${frame(A)}x\n`);
    expect(readKeyFrames(`x\n${frame(A)}`, [A]).keys.size).toBe(0);
    expect(readKeyFrames(frame(B), [A])).toEqual({ keys: new Map(), rest: frame(B) });
  });

  it('a host that cannot make the key still runs the command, unchanged, and prints no frame', () => {
    const file = join(work, 'not-a-dir');
    writeFileSync(file, '');
    const ran = spawnSync('bash', ['-c', encodeCommands('Echo', 'echo out; echo err >&2', [], undefined, { keyIds: [A], keyDir: `${file}/keys` }).join('\n')], {
      encoding: 'utf8',
    });
    expect(ran).toMatchObject({ status: 0, stdout: 'out\n', stderr: 'err\n' });
  });
});

describe('SsmHostRunner: keys made ahead', () => {
  it('a key asked for rides on the next command to the host; the command with secrets takes it: no OneTimeKey, the secrets on stdin, the key gone after', async () => {
    const r = ssmRunner();
    r.keyAhead(host, 'StartNewMember');
    const out = await r.run(plain);
    expect(out).toEqual({ exitCode: 0, stdout: '[x]\n', stderr: '' });
    expect(r.holdsKeyAhead(host)).toBe(true);
    r.prepareSecrets(host, 'StartNewMember'); // a key is at hand: nothing sent for it
    const secret = await r.run(withSecrets);
    expect(secret.stdout).toBe(`[y]\nBUNDLE_URL=${SIGNED}`);
    expect(scripts()).toEqual(['DescribeEtcdHost', 'StartNewMember']);
    expect(readdirSync(keyDir)).toEqual([]);
    expect(r.keysAheadLeft()).toEqual([]);
    expect(everythingSent()).not.toContain('X-Amz-Signature');
  });

  it('carried to another runner (the next step function) in the context: public material only, taken once', async () => {
    const key = await keyMadeAhead();
    expect(key).toEqual({
      keyId: expect.stringMatching(/^[0-9a-f]{32}$/),
      publicKey: expect.any(String),
      instanceId: INSTANCE,
      madeAt: expect.any(String),
      for: 'StartNewMember',
    });
    expect(JSON.stringify(key)).not.toMatch(/PRIVATE/);
    const next = ssmRunner();
    next.carryKeysAhead([key]);
    await next.run(withSecrets);
    expect(scripts()).toEqual(['DescribeEtcdHost', 'StartNewMember']);
    expect(next.keysAheadLeft()).toEqual([]);
    // The same input again in the same container (a retry): the key is never taken twice; a fresh one is made.
    next.carryKeysAhead([key]);
    expect(next.holdsKeyAhead(host)).toBe(false);
    await next.run(withSecrets);
    expect(scripts()).toEqual(['DescribeEtcdHost', 'StartNewMember', 'OneTimeKey', 'StartNewMember']);
    expect(runs()).toBe(3);
  });

  it('a retry elsewhere finds the used key gone on the host: the script does not run with it; a fresh key, the command again, once', async () => {
    const key = await keyMadeAhead();
    const first = ssmRunner();
    first.carryKeysAhead([key]);
    await first.run(withSecrets);
    const elsewhere = ssmRunner();
    elsewhere.carryKeysAhead([key]);
    const out = await elsewhere.run(withSecrets);
    expect(out).toMatchObject({ exitCode: 0, stdout: `[y]\nBUNDLE_URL=${SIGNED}` });
    expect(scripts()).toEqual(['DescribeEtcdHost', 'StartNewMember', 'StartNewMember', 'OneTimeKey', 'StartNewMember']);
    expect(runs()).toBe(3); // the plain command, the first try, and the retry once (not its gone try)
    expect(readdirSync(keyDir)).toEqual([]);
  });

  it('a key that does not open the ciphertext fails the command clearly and is removed; another try makes a fresh key', async () => {
    const key = await keyMadeAhead();
    // The host's key is not the one whose public half was carried.
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    writeFileSync(join(keyDir, `${key.keyId}.pem`), other, { mode: 0o600 });
    const r = ssmRunner();
    r.carryKeysAhead([key]);
    const error = await runScriptText(r, withSecrets).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ScriptFailedError);
    expect((error as Error).message).toContain(`cannot unseal the secrets of StartNewMember with one-time key ${key.keyId}`);
    expect(runs()).toBe(1);
    expect(existsSync(join(keyDir, `${key.keyId}.pem`))).toBe(false);
    const retry = ssmRunner();
    retry.carryKeysAhead([key]);
    await expect(runScriptText(retry, withSecrets)).resolves.toBe(`[y]\nBUNDLE_URL=${SIGNED}`);
    expect(runs()).toBe(2);
  });

  it(`a key older than KEY_AHEAD_MAX_MS (${KEY_AHEAD_MAX_MS / 60_000} min) is dropped, never taken: the command makes its own`, async () => {
    const key = await keyMadeAhead();
    const later = ssmRunner(() => Date.parse(key.madeAt) + KEY_AHEAD_MAX_MS + 1);
    later.carryKeysAhead([key]);
    expect(later.holdsKeyAhead(host)).toBe(false);
    expect(later.keysAheadLeft()).toEqual([]);
    await later.run(withSecrets);
    expect(scripts()).toEqual(['DescribeEtcdHost', 'OneTimeKey', 'StartNewMember']);
  });

  it('carries in only entries of the right form: a private key, a bad id or another field is never kept nor written back', async () => {
    const key = await keyMadeAhead();
    const pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const r = ssmRunner();
    r.carryKeysAhead([
      { ...key, publicKey: pem },
      { ...key, keyId: `${key.keyId}'; rm -rf /` },
      { ...key, instanceId: 'i-nothex!' },
      { ...key, secret: SIGNED } as KeyAhead,
    ]);
    expect(r.keysAheadLeft()).toEqual([{ ...key }]);
  });

  it('a key asked for twice before a command is made once; one a usable key already answers is not made again', async () => {
    const r = ssmRunner();
    r.keyAhead(host, 'StartNewMember');
    r.keyAhead(host, 'StartNewMember');
    await r.run(plain);
    r.keyAhead(host, 'StartNewMember');
    await r.run(plain);
    expect(r.keysAheadLeft()).toHaveLength(1);
    expect(readdirSync(keyDir)).toHaveLength(1);
  });
});

describe('Keys made ahead through the step handler (one step function to the next)', () => {
  it('the first step leaves the key in the context, the next takes it: one command for the step with secrets, no secret or private key in context, logs or SSM', async () => {
    const lines: string[] = [];
    const handler = (step: string, body: (runner: HostRunner) => Promise<unknown>) =>
      createStepHandler({
        steps: { [step]: async (_context: WorkflowContext, deps: { runner: HostRunner }) => body(deps.runner) },
        deps: () => ({ runner: ssmRunner() }),
        log: (line) => lines.push(line),
      });
    const context: WorkflowContext = {
      runId: 'run-keys-1',
      request: { cluster: 'ocp', failed: 'master-2', replacement: 'etcd-spare-0', startedBy: 'cli:ops' },
      options: { graceSeconds: 0, learner: 'auto' },
    };
    const install = handler('InstallEtcd', async (runner) => {
      askKeyAhead(runner, host, 'StartNewMember');
      await runScriptText(runner, plain);
      return { output: { newMemberVersion: '3.2.22' }, detail: 'installed' };
    });
    const afterInstall = await install({ step: 'InstallEtcd', context, executionName: 'run-keys-1' });
    expect(afterInstall.keysAhead).toHaveLength(1);
    expect(afterInstall.keysAhead![0]).toMatchObject({ instanceId: INSTANCE, for: 'StartNewMember' });

    const start = handler('StartNewMember', async (runner) => {
      runner.prepareSecrets?.(host, 'StartNewMember');
      expect(await runScriptText(runner, withSecrets)).toBe(`[y]\nBUNDLE_URL=${SIGNED}`);
      return { output: { newMemberStartedAt: 'now' }, detail: 'started' };
    });
    const afterStart = await start({ step: 'StartNewMember', context: afterInstall, executionName: 'run-keys-1' });
    expect(scripts()).toEqual(['DescribeEtcdHost', 'StartNewMember']);
    expect(runs()).toBe(2);
    expect(afterStart.keysAhead).toBeUndefined();
    expect(afterStart.newMemberStartedAt).toBe('now');

    const everything = [JSON.stringify(afterInstall), JSON.stringify(afterStart), ...lines, everythingSent()].join('\n');
    expect(everything).not.toContain('X-Amz-Signature');
    expect(everything).not.toMatch(/PRIVATE KEY/);
  });

  it('a runner that needs no keys (the sandbox) leaves the context as it is', async () => {
    const handler = createStepHandler({
      steps: { StopFailedMember: async () => ({ failedHostReachable: true }) },
      deps: () => ({ runner: { run: async () => ({ exitCode: 0, stdout: '', stderr: '' }) } }),
      log: () => undefined,
    });
    const carried = { keysAhead: [{ keyId: A, publicKey: 'Q'.repeat(300), instanceId: INSTANCE, madeAt: new Date().toISOString(), for: 'StartNewMember' }] };
    const context = {
      runId: 'run-keys-2',
      request: { cluster: 'ocp', failed: 'm', startedBy: 'x' },
      options: { graceSeconds: 0, learner: 'auto' as const },
      ...carried,
    };
    expect(await handler({ step: 'StopFailedMember', context })).toEqual({ ...context, failedHostReachable: true });
  });
});
