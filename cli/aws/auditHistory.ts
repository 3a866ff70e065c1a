// `history --target aws`, once its flags are checked (cli/commands/history.ts): the audit records the
// deployed system writes for every execution (functions/adapters/aws/auditStore.ts), read from the run
// table, newest first, in the sandbox history's view plus what AWS adds: the execution, the principal
// that started it and the alarm state change behind an alarm-started run. With a RUN_ID, one record whole.

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ListTagsForResourceCommand, SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AuditStore } from '../../functions/adapters/aws/auditStore.ts';
import { isExecutionArn, regionOfArn } from '../../functions/adapters/aws/executions.ts';
import { errorName, InvalidInputError } from '../../functions/errors.ts';
import { runIdFromExecutionName } from '../../functions/handlers/event.ts';
import * as validate from '../../functions/validate.ts';
import { formatAuditRecord } from '../printers/awsText.ts';
import { auditEntry, printJson } from '../printers/json.ts';
import { progress } from '../printers/text.ts';
import type { AwsCliDeps } from './client.ts';

export { isStateMachineArn, regionOfArn } from '../../functions/adapters/aws/executions.ts';

/** The state machine's tag naming its run table (lib/etcd-replacement.ts sets it, as RUN_TABLE_TAG). */
export const RUN_TABLE_TAG = 'etcd-replace:run-table';

export interface AuditHistoryDeps extends AwsCliDeps {
  dynamo?: (region: string | undefined) => DynamoDBDocumentClient;
}

/** The run table named by the state machine's tag, or undefined (no tag, or its tags cannot be read). */
export async function tableOfStateMachine(arn: string, deps: AuditHistoryDeps): Promise<string | undefined> {
  const region = regionOfArn(arn);
  const client = deps.client ? deps.client(region) : new SFNClient(region ? { region } : {});
  try {
    const out = await client.send(new ListTagsForResourceCommand({ resourceArn: arn }));
    return out?.tags?.find((t) => t.key === RUN_TABLE_TAG)?.value;
  } catch (error) {
    progress(`cannot read the state machine's tags (${errorName(error)}); pass --table TABLE (the stack's RunTableName output) to read the audit records`);
    return undefined;
  }
}

/** RUN_ID as given: a run ID, an execution name, or an execution ARN. */
export function runIdOf(value: string): string {
  const name = isExecutionArn(value) ? value.split(':').at(-1)! : value;
  try {
    return validate.runId('RUN_ID', name);
  } catch {
    return runIdFromExecutionName(name);
  }
}

export interface AuditQuery {
  table: string;
  region: string | undefined;
  /** One run whole, or the newest `limit` (of `cluster`). */
  runId: string | undefined;
  cluster: string | undefined;
  limit: number;
  json: boolean;
}

/** Prints the run's audit record whole, or the newest records of the table. */
export async function printAuditHistory(query: AuditQuery, deps: AuditHistoryDeps): Promise<void> {
  const { table, region } = query;
  const doc = deps.dynamo ? deps.dynamo(region) : DynamoDBDocumentClient.from(new DynamoDBClient(region ? { region } : {}));
  const store = new AuditStore({ doc, table, retentionDays: 400 });

  if (query.runId) {
    const record = await store.get(query.runId);
    if (!record) throw new InvalidInputError('RUN_ID', `no audit record of run ${query.runId} in ${table}`);
    if (query.json) printJson(record);
    else process.stdout.write(`${formatAuditRecord(record, true)}\n`);
    return;
  }
  const records = await store.list({ ...(query.cluster ? { cluster: query.cluster } : {}), limit: query.limit });
  if (query.json) printJson(records.map(auditEntry));
  else if (records.length === 0) process.stdout.write(`no runs recorded in ${table}\n`);
  else process.stdout.write(`${records.map((r) => formatAuditRecord(r)).join('\n\n')}\n`);
}
