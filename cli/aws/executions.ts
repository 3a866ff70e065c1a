// Executions read back from Step Functions as run documents (functions/adapters/aws/executions.ts):
// one (`status`), or the newest of a state machine (`history --target aws` where it names no run table).

import { isExecutionArn, type RunDocument } from '../../functions/adapters/aws/executions.ts';
import { exitCodeOfRun } from '../../functions/workflow/runView.ts';
import { UsageError } from '../common.ts';
import { formatRun } from '../printers/awsText.ts';
import { printJson } from '../printers/json.ts';
import { progress } from '../printers/text.ts';
import { executions, type AwsCliDeps } from './client.ts';

/** A run document as JSON or as its timeline, on stdout (or stderr, after the progress of --wait). */
export function printRun(run: RunDocument, json: boolean, toStderr = false): void {
  if (json) printJson(run);
  else if (toStderr) progress(formatRun(run));
  else process.stdout.write(`${formatRun(run)}\n`);
}

/** Prints the execution as a run result; returns its exit code (4 while it runs). */
export async function showExecution(executionArn: string, json: boolean, usage: string, deps: AwsCliDeps): Promise<number> {
  if (!isExecutionArn(executionArn))
    throw new UsageError(`"${executionArn}" is not an execution ARN (arn:aws:states:REGION:ACCOUNT:execution:STATE_MACHINE:NAME)\n${usage}`);
  const run = await executions(executionArn, deps).describeRun(executionArn);
  printRun(run, json);
  return exitCodeOfRun(run);
}

/** Prints the newest `limit` executions of the state machine, newest first. */
export async function listExecutions(stateMachineArn: string, limit: number, json: boolean, deps: AwsCliDeps): Promise<void> {
  const runs = await executions(stateMachineArn, deps).listRuns(stateMachineArn, limit);
  if (json) printJson(runs);
  else if (runs.length === 0) process.stdout.write('no executions\n');
  else process.stdout.write(`${runs.map(formatRun).join('\n\n')}\n`);
}
