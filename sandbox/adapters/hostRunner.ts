// HostRunner over the sandbox: runs functions/scripts/<script>.sh on a sandbox host as
//   bash -c "$scriptText" SCRIPTNAME arg1 arg2 …
// inside the host's namespaces (nsenter), the way SSM runs a document's script on an EC2 host. The
// arguments travel as separate argv entries and are never interpolated into a shell string; secrets
// go to the script's stdin (a pipe no other process can read), never into its arguments.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidInputError } from '../../functions/errors.ts';
import type { HostRunner, ScriptOutput, ScriptRequest } from '../../functions/ports.ts';
import { SCRIPT_NAME, readScriptText } from '../../functions/adapters/scriptText.ts';
import { secretLines } from '../../functions/adapters/secretLines.ts';
import { hostExec } from '../index.ts';
import { stepSignal } from '../../functions/workflow/stepSignal.ts';
import type { SandboxInfo } from '../index.ts';

const DEFAULT_SCRIPTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../functions/scripts');

export class SandboxHostRunner implements HostRunner {
  constructor(
    private readonly sandbox: SandboxInfo,
    private readonly scriptsDir: string = DEFAULT_SCRIPTS_DIR,
  ) {}

  /**
   * Resolves with the script's output whatever its exit code. Throws HostUnreachableError for a
   * powered-off host and ScriptTimedOutError (after killing its process group) after
   * request.timeoutSeconds. When the request's signal (default: the running step's, stepSignal.ts)
   * aborts, kills the script's process group and rejects with the signal's reason once it has exited.
   */
  async run(request: ScriptRequest): Promise<ScriptOutput> {
    if (!SCRIPT_NAME.test(request.script)) throw new InvalidInputError('script', `"${request.script}" is not a script name`);
    if (!(request.timeoutSeconds > 0)) throw new InvalidInputError('timeoutSeconds', `must be positive, got ${request.timeoutSeconds}`);
    const scriptText = readScriptText(this.scriptsDir, request.script);
    const signal = stepSignal(request);
    const result = await hostExec(this.sandbox, request.host.name, ['bash', '-c', scriptText, request.script, ...request.args], {
      timeoutMs: request.timeoutSeconds * 1000,
      stdin: secretLines(request.secrets),
      ...(signal ? { signal } : {}),
    });
    return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
  }
}
