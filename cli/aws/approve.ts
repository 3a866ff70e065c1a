// `approve --target aws`, once its flags are checked (cli/commands/approve.ts): reads the run's pending
// approval from the run table (functions/adapters/aws/approvals.ts: the task token AwaitApproval kept under
// `approval#<runId>`), answers it with SendTaskSuccess (the Approval the model puts in context.approval) or
// SendTaskFailure RefusedError (declined), then forgets it. The token is never printed. No pending
// approval, or one Step Functions no longer waits on (answered, timed out, the execution ended): exit 3.

import { userInfo } from 'node:os';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendTaskFailureCommand, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { forgetApproval, readPendingApproval } from '../../functions/adapters/aws/approvals.ts';
import { errorName, RefusedError } from '../../functions/errors.ts';
import * as validate from '../../functions/validate.ts';
import type { Approval } from '../../statemachine/restoreContext.ts';
import { UsageError } from '../common.ts';
import { printJson } from '../printers/json.ts';
import { progress } from '../printers/text.ts';
import { regionOfArn, tableOfStateMachine } from './auditHistory.ts';
import { clientFor, stateMachineArnOption, type AwsCliDeps } from './client.ts';

export interface ApproveDeps extends AwsCliDeps {
  dynamo?: (region: string | undefined) => DynamoDBDocumentClient;
}

export interface ApproveOptions {
  runId: string;
  stateMachineArn: string | undefined;
  table: string | undefined;
  decline: boolean;
  reason: string | undefined;
  json: boolean;
  usage: string;
}

/** The errors SendTask* answers when Step Functions no longer waits on the token. */
const NOT_WAITING = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

const MAX_REASON = 500;

function reasonOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const reason = value.trim();
  if (reason === '' || reason.length > MAX_REASON || /[\u0000-\u001f\u007f]/.test(reason)) {
    throw new UsageError(`--reason must be one line of 1 to ${MAX_REASON} printable characters`);
  }
  return reason;
}

export async function answerApproval(options: ApproveOptions, deps: ApproveDeps = {}): Promise<number> {
  let runId: string;
  try {
    runId = validate.runId('RUN_ID', options.runId);
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${options.usage}`);
  }
  const arn = stateMachineArnOption(options.stateMachineArn, options.usage);
  const reason = reasonOf(options.reason);
  const user = validate.startedBy('user', (deps.user ?? (() => userInfo().username))());
  const by = `cli:${user}`;
  const table = options.table ?? (await tableOfStateMachine(arn, deps));
  if (!table) throw new UsageError(`the state machine names no run table: pass --table TABLE (the stack's RunTableName output)\n${options.usage}`);

  const region = regionOfArn(arn);
  const doc = deps.dynamo ? deps.dynamo(region) : DynamoDBDocumentClient.from(new DynamoDBClient(region ? { region } : {}));
  const pending = await readPendingApproval(doc, table, runId);
  if (!pending) throw new RefusedError(`run ${runId} has no pending approval: it was answered already, it timed out, or no such run waits`);
  if (pending.stateMachineArn !== '' && pending.stateMachineArn !== arn) {
    throw new RefusedError(`run ${runId} waits for approval in state machine ${pending.stateMachineArn}, not ${arn}: nothing was answered`);
  }

  const at = (deps.now ?? (() => new Date()))().toISOString();
  const sfn = clientFor(arn, deps);
  try {
    if (options.decline) {
      await sfn.send(
        new SendTaskFailureCommand({
          taskToken: pending.token,
          error: 'RefusedError',
          cause: `declined by ${by} at ${at}${reason ? `: ${reason}` : ''}`,
        }),
      );
    } else {
      const approval: Approval = { by, at };
      await sfn.send(new SendTaskSuccessCommand({ taskToken: pending.token, output: JSON.stringify(approval) }));
    }
  } catch (error) {
    if (!NOT_WAITING.has(errorName(error))) throw error;
    await forgetApproval(doc, table, runId, pending.token);
    throw new RefusedError(`run ${runId} no longer waits for approval (${errorName(error)}: it timed out, or its execution ended); nothing was answered`);
  }
  await forgetApproval(doc, table, runId, pending.token);

  const answer = options.decline ? 'declined' : 'approved';
  if (options.json) printJson({ runId, answer, by, at, ...(reason ? { reason } : {}) });
  else
    progress(
      `run ${runId} ${answer} by ${by} at ${at}${options.decline ? ': it ends Refused, having changed nothing' : ': it goes on to fence the former members'}`,
    );
  return 0;
}
