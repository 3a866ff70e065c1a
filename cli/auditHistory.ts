// `etcd-replace history --target aws`: the audit records the deployed system writes for every execution
// (functions/adapters/aws/auditStore.ts), read from the run table, newest first, in the sandbox
// history's view (cli/runReport.ts) plus what AWS adds: the execution, the principal that started it
// and the alarm state change behind an alarm-started run. With a RUN_ID, one record whole.
//
// The table is `--table` (the stack's RunTableName output), or found from `--state-machine-arn` through
// the state machine's tag etcd-replace:run-table. Without either the state machine's executions are
// listed from Step Functions instead (cli/aws.ts; their history is kept 90 days).

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ListTagsForResourceCommand, SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AuditRecord } from '../functions/adapters/aws/auditRecord.ts';
import { AuditStore } from '../functions/adapters/aws/auditStore.ts';
import { isExecutionArn, isStateMachineArn, regionOfArn } from '../functions/adapters/aws/executions.ts';
import { errorName, InvalidInputError } from '../functions/errors.ts';
import { runIdFromExecutionName } from '../functions/handlers/event.ts';
import { consoleLink } from '../functions/handlers/notifyOutcome.ts';
import * as validate from '../functions/validate.ts';
import type { AwsCliDeps } from './aws.ts';
import { integerOption, parse, printJson, progress, runCommand, UsageError } from './common.ts';
import { formatTimeline } from './runReport.ts';
import { runViewOfRecord } from '../functions/workflow/runView.ts';

/** The state machine's tag naming its run table (lib/etcd-replacement.ts sets it, as RUN_TABLE_TAG). */
export const RUN_TABLE_TAG = 'etcd-replace:run-table';

export const AUDIT_HISTORY_USAGE =
  'usage: etcd-replace history --target aws (--state-machine-arn ARN | --table TABLE [--region REGION]) [--cluster NAME] [--limit N] [--json] [RUN_ID]';

const MAX_LIMIT = 1000;

export interface AuditHistoryDeps extends AwsCliDeps {
  dynamo?: (region: string | undefined) => DynamoDBDocumentClient;
}

/** The run table named by the state machine's tag, or undefined (no tag, or its tags cannot be read). */
async function tableOfStateMachine(arn: string, deps: AuditHistoryDeps): Promise<string | undefined> {
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
function runIdOf(value: string): string {
  const name = isExecutionArn(value) ? value.split(':').at(-1)! : value;
  try {
    return validate.runId('RUN_ID', name);
  } catch {
    return runIdFromExecutionName(name);
  }
}

/** The sandbox history's timeline of a record, with where it ran and who started it on AWS. */
export function formatAuditRecord(record: AuditRecord, whole = false): string {
  const lines = [formatTimeline(record)];
  const principal = record.principal;
  lines.push(
    `  started by (CloudTrail): ${principal ? `${principal.arn ?? principal.type ?? 'unknown'}${principal.invokedBy ? ` via ${principal.invokedBy}` : ''}${principal.sourceIPAddress && !principal.invokedBy ? ` from ${principal.sourceIPAddress}` : ''}` : 'not found yet'}`,
  );
  if (record.alarm) {
    lines.push(
      record.alarm.confirmed
        ? `  alarm: ${record.alarm.alarmName} went from ${record.alarm.from ?? '?'} to ALARM at ${record.alarm.at}: ${record.alarm.reason ?? ''}`.trimEnd()
        : `  alarm: ${record.alarm.alarmName} (no change into ALARM found in its history before the run)`,
    );
  }
  lines.push(`  execution: ${record.executionArn} (${record.executionStatus}${record.redriveCount ? `, redriven ${record.redriveCount}×` : ''})`);
  if (whole) {
    lines.push(`  console: ${consoleLink(record.executionArn)}`);
    lines.push(`  request: ${JSON.stringify(record.request)}`);
    if (principal) lines.push(`  principal: ${JSON.stringify(principal)}`);
    lines.push('  steps:');
    for (const step of record.steps) {
      lines.push(`    ${step.name}: ${step.status}, ${step.attempts} attempt${step.attempts === 1 ? '' : 's'}, ${step.startedAt} → ${step.endedAt ?? 'running'}`);
      if (step.detail) lines.push(`      ${step.detail}`);
      if (step.error && step.error.message !== step.detail) lines.push(`      ${step.error.name}: ${step.error.message}`);
    }
    lines.push(`  recorded at ${record.recordedAt} from ${record.historyEvents} history events`);
  }
  return lines.join('\n');
}

/** The JSON of a listed record: the sandbox history's document plus the AWS facts. */
function listed(record: AuditRecord): Record<string, unknown> {
  return {
    ...runViewOfRecord(record),
    cluster: record.cluster,
    target: record.target,
    startedBy: record.startedBy,
    request: record.request,
    state: record.state,
    executionArn: record.executionArn,
    executionStatus: record.executionStatus,
    principal: record.principal,
    ...(record.alarm ? { alarm: record.alarm } : {}),
  };
}

/** `etcd-replace history --target aws …` */
export function auditHistoryCommand(argv: string[], deps: AuditHistoryDeps = {}): Promise<number> {
  return runCommand(async () => {
    const { values, positionals } = parse(
      argv,
      {
        target: { type: 'string' },
        'state-machine-arn': { type: 'string' },
        table: { type: 'string' },
        region: { type: 'string' },
        cluster: { type: 'string' },
        limit: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      AUDIT_HISTORY_USAGE,
      true,
    );
    if (values.target !== 'aws') throw new UsageError(AUDIT_HISTORY_USAGE);
    if (positionals.length > 1) throw new UsageError(`at most one RUN_ID\n${AUDIT_HISTORY_USAGE}`);
    const arn = values['state-machine-arn'];
    if (arn !== undefined && !isStateMachineArn(arn)) throw new UsageError(`--state-machine-arn: "${arn}" is not a state machine ARN (arn:aws:states:REGION:ACCOUNT:stateMachine:NAME)`);
    if (!arn && !values.table) {
      throw new UsageError(`--state-machine-arn is required with --target aws (the stack's StateMachineArn output), or --table TABLE (its RunTableName output)\n${AUDIT_HISTORY_USAGE}`);
    }
    if (values.table !== undefined && !/^[A-Za-z0-9_.-]{3,255}$/.test(values.table)) throw new UsageError(`--table: "${values.table}" is not a DynamoDB table name`);
    if (values.region !== undefined && !/^[a-z]{2}(-[a-z]+)+-\d$/.test(values.region)) throw new UsageError(`--region: "${values.region}" is not an AWS region`);
    const limit = integerOption('limit', values.limit, 20);
    if (limit < 1 || limit > MAX_LIMIT) throw new UsageError(`--limit must be from 1 to ${MAX_LIMIT}`);
    const cluster = values.cluster === undefined ? undefined : validate.clusterName('--cluster', values.cluster);
    const runId = positionals[0] === undefined ? undefined : runIdOf(positionals[0]);

    const table = values.table ?? (arn ? await tableOfStateMachine(arn, deps) : undefined);
    if (!table) {
      if (runId) throw new UsageError(`reading one run needs its audit record: pass --table TABLE (the stack's RunTableName output)\n${AUDIT_HISTORY_USAGE}`);
      progress(`the state machine names no run table (tag ${RUN_TABLE_TAG}): listing its executions from Step Functions (kept 90 days); pass --table TABLE for the audit records`);
      const rest = ['--target', 'aws', '--state-machine-arn', arn!, '--limit', String(limit), ...(values.json ? ['--json'] : [])];
      return (await import('./aws.ts')).awsHistoryCommand(rest, deps);
    }

    const region = values.region ?? (arn ? regionOfArn(arn) : undefined);
    const doc = deps.dynamo ? deps.dynamo(region) : DynamoDBDocumentClient.from(new DynamoDBClient(region ? { region } : {}));
    const store = new AuditStore({ doc, table, retentionDays: 400 });

    if (runId) {
      const record = await store.get(runId);
      if (!record) throw new InvalidInputError('RUN_ID', `no audit record of run ${runId} in ${table}`);
      if (values.json) printJson(record);
      else process.stdout.write(`${formatAuditRecord(record, true)}\n`);
      return 0;
    }
    const records = await store.list({ ...(cluster ? { cluster } : {}), limit });
    if (values.json) printJson(records.map(listed));
    else if (records.length === 0) process.stdout.write(`no runs recorded in ${table}\n`);
    else process.stdout.write(`${records.map((r) => formatAuditRecord(r)).join('\n\n')}\n`);
    return 0;
  });
}
