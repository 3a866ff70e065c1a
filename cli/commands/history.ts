// `etcd-replace history`: past runs from the durable run record, newest first: outcome, who or what
// started them, and the step timeline. A record that cannot be read is listed first, as unreadable: its
// file, why, and what to do; `--json` gives it as {runId, cluster?, unreadable: {path, error, action}}.
//
// With --target aws, the audit records the deployed stack writes (cli/aws/auditHistory.ts), from the
// run table `--table` names (the stack's RunTableName output) or the one the state machine's tag
// etcd-replace:run-table names; where there is none, the state machine's executions from Step
// Functions (cli/aws/executions.ts; their history is kept 90 days). With a RUN_ID, one record whole.

import { exitCodesText } from '../../functions/exitCodes.ts';
import * as validate from '../../functions/validate.ts';
import { FileRunStore } from '../../sandbox/adapters/fileRunStore.ts';
import type { AuditHistoryDeps } from '../aws/auditHistory.ts';
import type { AwsCliDeps } from '../aws/client.ts';
import { integerOption, parse, runCommand, targetsAws, UsageError } from '../common.ts';
import { HELP_FLAG, JSON_FLAG, usageText, type Help } from '../help.ts';
import { historyEntry, printJson, unreadableEntry } from '../printers/json.ts';
import { formatTimeline, formatUnreadable, progress } from '../printers/text.ts';

export const help: Help = {
  usage: [
    'etcd-replace history [--sandbox NAME] [--limit N] [--json]',
    'etcd-replace history --target aws (--state-machine-arn ARN | --table TABLE [--region REGION]) [--cluster NAME] [--limit N] [--json] [RUN_ID]',
  ],
  about: `Past runs, newest first: outcome, who started them, step timeline. On a sandbox from the durable run
record; on AWS from the audit records the deployed stack writes (its run table), or, where the state
machine names no run table, from its executions in Step Functions (kept 90 days).`,
  sections: [
    {
      title: 'sandbox options',
      flags: [
        ['--target sandbox', 'the runs of the sandboxes on this machine (the default)'],
        ['--sandbox NAME', 'only the runs on this sandbox (default: every sandbox)'],
      ],
    },
    {
      title: 'AWS options',
      flags: [
        ['--target aws', 'the runs of the deployed stack'],
        ['--state-machine-arn ARN', "the state machine (the stack's StateMachineArn output); its tag names the run table"],
        ['--table TABLE', "the run table itself (the stack's RunTableName output)"],
        ['--region REGION', "the run table's region, with --table alone"],
        ['--cluster NAME', 'only the runs on this cluster'],
        ['RUN_ID', 'one run whole: a run ID, an execution name or an execution ARN'],
      ],
    },
    { title: 'both', flags: [['--limit N', 'at most N runs (default 20; 1 to 1000 on AWS)'], JSON_FLAG, HELP_FLAG] },
  ],
  examples: [
    'etcd-replace history --sandbox lab --limit 1',
    'etcd-replace history --target aws --state-machine-arn arn:aws:states:eu-west-1:123456789012:stateMachine:etcd-replace-ocp311 --json',
  ],
  exits: exitCodesText([
    ['succeeded', 'listed'],
    ['failed', 'failed to read the record'],
    ['invalidInput', 'bad arguments'],
  ]),
};

export const topics = { history: help };

const USAGE = usageText(help);
const AUDIT_USAGE = `usage: ${help.usage[1]}`;
const EXECUTIONS_USAGE = 'usage: etcd-replace history --target aws --state-machine-arn ARN [--limit N] [--json]';
const MAX_AWS_LIMIT = 1000;

export async function run(argv: string[]): Promise<number> {
  if (targetsAws(argv)) return auditHistoryCommand(argv);
  return runCommand(async () => {
    const { values } = parse(
      argv,
      { sandbox: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean', default: false }, target: { type: 'string', default: 'sandbox' } },
      USAGE,
    );
    if (values.target !== 'sandbox') throw new UsageError(`--target must be sandbox or aws, got "${values.target}"\n${USAGE}`);
    const cluster = values.sandbox === undefined ? undefined : validate.sandboxName('--sandbox', values.sandbox);
    const limit = integerOption('limit', values.limit, 20);
    const { records, unreadable } = await new FileRunStore().scan({ ...(cluster ? { cluster } : {}), limit });
    if (values.json) {
      printJson([...unreadable.map(unreadableEntry), ...records.map(historyEntry)]);
      if (unreadable.length > 0)
        progress(`warning: ${unreadable.length} run record${unreadable.length === 1 ? '' : 's'} cannot be read (the entries with "unreadable")`);
    } else if (records.length === 0 && unreadable.length === 0) {
      process.stdout.write('no runs recorded\n');
    } else {
      process.stdout.write(`${[...unreadable.map(formatUnreadable), ...records.map(formatTimeline)].join('\n\n')}\n`);
    }
    return 0;
  });
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
      AUDIT_USAGE,
      true,
    );
    if (values.target !== 'aws') throw new UsageError(AUDIT_USAGE);
    if (positionals.length > 1) throw new UsageError(`at most one RUN_ID\n${AUDIT_USAGE}`);
    const aws = await import('../aws/auditHistory.ts');
    const arn = values['state-machine-arn'];
    if (arn !== undefined && !aws.isStateMachineArn(arn))
      throw new UsageError(`--state-machine-arn: "${arn}" is not a state machine ARN (arn:aws:states:REGION:ACCOUNT:stateMachine:NAME)`);
    if (!arn && !values.table) {
      throw new UsageError(
        `--state-machine-arn is required with --target aws (the stack's StateMachineArn output), or --table TABLE (its RunTableName output)\n${AUDIT_USAGE}`,
      );
    }
    if (values.table !== undefined && !/^[A-Za-z0-9_.-]{3,255}$/.test(values.table))
      throw new UsageError(`--table: "${values.table}" is not a DynamoDB table name`);
    if (values.region !== undefined && !/^[a-z]{2}(-[a-z]+)+-\d$/.test(values.region))
      throw new UsageError(`--region: "${values.region}" is not an AWS region`);
    const limit = integerOption('limit', values.limit, 20);
    if (limit < 1 || limit > MAX_AWS_LIMIT) throw new UsageError(`--limit must be from 1 to ${MAX_AWS_LIMIT}`);
    const cluster = values.cluster === undefined ? undefined : validate.clusterName('--cluster', values.cluster);
    const runId = positionals[0] === undefined ? undefined : aws.runIdOf(positionals[0]);

    const table = values.table ?? (arn ? await aws.tableOfStateMachine(arn, deps) : undefined);
    if (!table) {
      if (runId) throw new UsageError(`reading one run needs its audit record: pass --table TABLE (the stack's RunTableName output)\n${AUDIT_USAGE}`);
      progress(
        `the state machine names no run table (tag ${aws.RUN_TABLE_TAG}): listing its executions from Step Functions (kept 90 days); pass --table TABLE for the audit records`,
      );
      return awsHistoryCommand(['--target', 'aws', '--state-machine-arn', arn!, '--limit', String(limit), ...(values.json ? ['--json'] : [])], deps);
    }
    await aws.printAuditHistory({ table, region: values.region ?? (arn ? aws.regionOfArn(arn) : undefined), runId, cluster, limit, json: values.json }, deps);
    return 0;
  });
}

/** `etcd-replace history --target aws --state-machine-arn ARN`: the state machine's executions from Step Functions. */
export function awsHistoryCommand(argv: string[], deps: AwsCliDeps = {}): Promise<number> {
  return runCommand(async () => {
    const { values } = parse(
      argv,
      { target: { type: 'string' }, 'state-machine-arn': { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean', default: false } },
      EXECUTIONS_USAGE,
    );
    if (values.target !== 'aws') throw new UsageError(EXECUTIONS_USAGE);
    const { stateMachineArnOption } = await import('../aws/client.ts');
    const stateMachineArn = stateMachineArnOption(values['state-machine-arn'], EXECUTIONS_USAGE);
    const limit = integerOption('limit', values.limit, 20);
    if (limit < 1 || limit > MAX_AWS_LIMIT) throw new UsageError(`--limit must be from 1 to ${MAX_AWS_LIMIT}`);
    const { listExecutions } = await import('../aws/executions.ts');
    await listExecutions(stateMachineArn, limit, values.json, deps);
    return 0;
  });
}
