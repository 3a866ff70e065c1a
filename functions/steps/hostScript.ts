// Runs one host script through the runner and reads its result: the last stdout line is JSON.
// A non-zero exit becomes a named error: the step says which exit codes mean what.

import { ScriptFailedError, type WorkflowError } from '../errors.ts';
import type { Host, HostRunner } from '../ports.ts';

export type ExitMeaning = Record<number, (message: string) => WorkflowError>;

export interface ScriptCall {
  host: Host;
  script: string;
  args?: string[];
  /** Read by the script on stdin, never seen in its arguments (ScriptRequest.secrets). */
  secrets?: Record<string, string>;
  timeoutSeconds?: number;
  /** Exit codes with a meaning of their own; any other non-zero exit is a ScriptFailedError. */
  exits?: ExitMeaning;
}

function tail(text: string, lines = 6): string {
  return text.trim().split('\n').slice(-lines).join(' | ').slice(0, 1000);
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
  if (out.exitCode === 0) return out.stdout;
  const meaning = call.exits?.[out.exitCode];
  const message = `${call.script} on ${call.host.name}: ${tail(out.stderr) || `exit ${out.exitCode}`}`;
  if (meaning) throw meaning(message);
  throw new ScriptFailedError(call.host.name, call.script, out.exitCode, tail(out.stderr));
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
