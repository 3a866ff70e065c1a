// `run --target aws` and `restore-quorum --target aws`, once their flags are checked (cli/commands/run.ts,
// cli/commands/restoreQuorum.ts): starts an execution of the deployed state machine (the replacement's,
// or the restore's) and, with --wait, follows it to its end with the sandbox run's step lines,
// then prints the run result and returns its exit code (functions/exitCodes.ts).
//
// Output: with --json, stdout is exactly one JSON document; progress goes to stderr.

import { userInfo } from 'node:os';
import { defaultExecutionName, StepFunctionsExecutions } from '../../functions/adapters/aws/executions.ts';
import { errorMessage } from '../../functions/errors.ts';
import { EXIT } from '../../functions/exitCodes.ts';
import { exitCodeOfRun } from '../../functions/workflow/runView.ts';
import { RESTORE_WORKFLOW } from '../../statemachine/restoreSpec.ts';
import { printJson } from '../printers/json.ts';
import { printProgress, progress } from '../printers/text.ts';
import { clientFor, type AwsCliDeps } from './client.ts';
import { printRun } from './executions.ts';
import { eventsAfter, HistoryProgress } from './historyProgress.ts';
import { readRequest, restoreRequest } from './request.ts';

export { EXECUTION_NAME } from '../../functions/adapters/aws/executions.ts';
export { stateMachineArnOption } from './client.ts';

const DEFAULT_POLL_MS = 5000;

export interface StartOptions {
  stateMachineArn: string;
  input: string;
  name: string | undefined;
  wait: boolean;
  json: boolean;
}

/**
 * Starts the execution the request in `input` asks for. An execution of that name that already ran or
 * runs starts nothing: it is printed, exit 3 while it runs, else its own exit code.
 */
export async function startExecution(options: StartOptions, deps: AwsCliDeps): Promise<number> {
  const request = await readRequest(options.input, deps.user ?? (() => userInfo().username));
  const now = deps.now ?? (() => new Date());
  const name = options.name ?? defaultExecutionName({ cluster: String(request['cluster']), failed: String(request['failed']) }, now());
  return start(request, name, options, deps);
}

export interface RestoreStartOptions extends Omit<StartOptions, 'input'> {
  /** The restore request (schemas/restore-request.schema.json) without `startedBy`: `cli:<user>` is added. */
  request: { cluster: string; from?: string; snapshot?: string; options?: Record<string, number> };
}

/** The word the restore's default execution name carries in place of a failed member. */
export const RESTORE_EXECUTION_WORD = 'restore-quorum';

/**
 * Starts an execution of the restore's state machine (statemachine/restoreSpec.ts) with the request the
 * flags make, checked against schemas/restore-request.schema.json first. The same name rules as `run`'s: a
 * repeat within the hour starts nothing.
 */
export async function startRestoreExecution(options: RestoreStartOptions, deps: AwsCliDeps): Promise<number> {
  const request = await restoreRequest({ ...options.request, startedBy: `cli:${(deps.user ?? (() => userInfo().username))()}` });
  const now = deps.now ?? (() => new Date());
  const name = options.name ?? defaultExecutionName({ cluster: options.request.cluster, failed: RESTORE_EXECUTION_WORD }, now());
  return start(
    request,
    name,
    options,
    deps,
    RESTORE_WORKFLOW.tasks.map((t) => t.name),
  );
}

/** Starts the execution `name` with `request`, then prints it, or follows it with --wait. */
async function start(
  request: Record<string, unknown>,
  name: string,
  options: Omit<StartOptions, 'input' | 'name'>,
  deps: AwsCliDeps,
  taskNames?: readonly string[],
): Promise<number> {
  const client = clientFor(options.stateMachineArn, deps);
  // The run's timeline lists the tasks of its own workflow (the replacement's unless told).
  const sfn = new StepFunctionsExecutions(client, taskNames ? { taskNames } : {});
  const result = await sfn.start(options.stateMachineArn, name, request);
  if (!result.started) {
    const run = result.existing;
    const running = run.outcome === 'running';
    progress(
      running
        ? `an execution named ${name} is already running (started ${run.startedAt} by ${run.startedBy ?? 'unknown'}): nothing started`
        : `an execution named ${name} already ran (started ${run.startedAt}, ${run.outcome}): nothing started; to start another run give it a new --name`,
    );
    printRun(run, options.json);
    return running ? EXIT.refused : exitCodeOfRun(run);
  }
  if (!options.wait) {
    if (options.json) {
      printJson({ executionArn: result.executionArn, startDate: result.startDate });
      progress(`started ${name}; follow it with: etcd-replace status ${result.executionArn}`);
    } else {
      process.stdout.write(
        `started execution ${name} at ${result.startDate}\n  ${result.executionArn}\nfollow it with: etcd-replace status ${result.executionArn}\n`,
      );
    }
    return EXIT.succeeded;
  }
  progress(`started ${name}; waiting for it to end`);
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const steps = new HistoryProgress(printProgress);
  let historyUnreadable = false;
  let status = 'RUNNING';
  let last = status;
  while (status === 'RUNNING') {
    await sleep(deps.pollMs ?? DEFAULT_POLL_MS);
    status = await sfn.status(result.executionArn);
    // The step lines are progress only: a history that cannot be read now leaves them out, not the wait.
    try {
      steps.update(await eventsAfter(client, result.executionArn, steps.lastEventId));
    } catch (error) {
      if (!historyUnreadable) progress(`(step progress unavailable: ${errorMessage(error)})`);
      historyUnreadable = true;
    }
    if (status !== last) progress(`execution ${name}: ${status}`);
    last = status;
  }
  const run = await sfn.describeRun(result.executionArn);
  printRun(run, options.json, true);
  return exitCodeOfRun(run);
}
