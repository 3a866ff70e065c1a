// Runs one host script through the runner and reads its result: the last stdout line is JSON.
// A non-zero exit becomes a named error here, once, by the convention every script states in its
// header (functions/scripts/lib/exitCodes.sh):
//
//   exit  meaning                                   error
//   2     bad arguments: refused before it ran      InvalidInputError (never retried)
//   3     refused: nothing was changed              RefusedError (the run ends Refused)
//   4     not ready yet, within the script's wait   ScriptTimedOutError (retried as transient)
//   other failed                                    ScriptFailedError
//
// A call's `exits` map is only for a code its step gives a meaning of its own (StartNewMember's 4 is
// NewMemberFailedError, AwaitSnapshot's 6 SnapshotJobMissingError); it wins over the convention.

import { InvalidInputError, RefusedError, ScriptFailedError, ScriptTimedOutError, type WorkflowError } from '../errors.ts';
import type { Host, HostRunner } from '../ports.ts';

export type ExitMeaning = Record<number, (message: string) => WorkflowError>;

/** The exit codes every host script shares (functions/scripts/lib/exitCodes.sh). */
export const SCRIPT_EXIT = { ok: 0, failed: 1, badArguments: 2, refused: 3, notReady: 4, uploadCannotLeaveHost: 5, noSnapshotJob: 6 } as const;

export interface ScriptCall {
  host: Host;
  script: string;
  args?: string[];
  /** Read by the script on stdin, never seen in its arguments (ScriptRequest.secrets). */
  secrets?: Record<string, string>;
  timeoutSeconds?: number;
  /** Exit codes the step gives a meaning of its own, over the convention above. */
  exits?: ExitMeaning;
}

function tail(text: string, lines = 6): string {
  return text.trim().split('\n').slice(-lines).join(' | ').slice(0, 1000);
}

/**
 * The named error a script's non-zero exit means by the convention (2, 3, 4; any other code is
 * ScriptFailedError). `detail` is what the script said on stderr, shortened.
 */
export function scriptExitError(host: Host, script: string, exitCode: number, detail: string): WorkflowError {
  const message = `${script} on ${host.name}: ${detail || `exit ${exitCode}`}`;
  switch (exitCode) {
    case SCRIPT_EXIT.badArguments:
      return new InvalidInputError(`${script} arguments`, message);
    case SCRIPT_EXIT.refused:
      return new RefusedError(message);
    case SCRIPT_EXIT.notReady:
      return new ScriptTimedOutError(`${message} (not ready yet)`);
    default:
      return new ScriptFailedError(host.name, script, exitCode, detail);
  }
}

/** Runs the script; resolves with its full stdout when it exits 0. */
export async function runScriptText(runner: HostRunner, call: ScriptCall): Promise<string> {
  const out = await runner.run({
    host: call.host,
    script: call.script,
    args: call.args ?? [],
    ...(call.secrets ? { secrets: call.secrets } : {}),
    timeoutSeconds: call.timeoutSeconds ?? 120,
  });
  if (out.exitCode === SCRIPT_EXIT.ok) return out.stdout;
  const detail = tail(out.stderr);
  const own = call.exits?.[out.exitCode];
  if (own) throw own(`${call.script} on ${call.host.name}: ${detail || `exit ${out.exitCode}`}`);
  throw scriptExitError(call.host, call.script, out.exitCode, detail);
}

/** Runs the script; resolves with the JSON object on the last line of its stdout. */
export async function runScript<T = Record<string, unknown>>(runner: HostRunner, call: ScriptCall): Promise<T> {
  const stdout = await runScriptText(runner, call);
  const last = stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(last) as T;
  } catch {
    throw new ScriptFailedError(call.host.name, call.script, 0, `did not print a JSON result: ${last.slice(0, 200)}`);
  }
}
