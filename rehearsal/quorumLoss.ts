// The quorum-loss scenario of the rehearsal (`npm run rehearse:aws -- --scenario quorum-loss`): two of the
// three members lost (master-2 powered off, master-1 partitioned: running, but unreachable), the
// quorum-lost alarm in ALARM, and the template's restore state machine (etcd-restore-<cluster>) with its
// bundled step functions run against the sandbox. Its AwaitApproval waits for its task token
// (stepFunctions.ts runs the wait as Step Functions does), and is answered by `etcd-replace approve`'s own
// code (cli/aws/approve.ts) with an operator's credentials, checked against the stack's approver policy
// (RestoreApproverPolicy). The stack's quarantine group is EC2's (hosts.ts: the sandbox's fence holds while
// a host has it alone), and `fenceUnreachable: stop-instance` powers the partitioned member off.

import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { answerApproval } from '../cli/aws/approve.ts';
import { runIdFromExecutionName } from '../functions/handlers/event.ts';
import { RUN_TABLE_TAG } from '../lib/etcd-replacement.ts';
import type { AlarmHistoryItem } from './awsFront.ts';
import { alarmStateChangeEvent } from './eventBridge.ts';
import type { SandboxCloud } from './hosts.ts';
import type { IamCheck } from './iam.ts';
import { delay } from './latency.ts';
import type { LambdaService } from './lambdaService.ts';
import { StepFunctionsService, type Execution } from './stepFunctions.ts';
import type { Rehearsal } from './rehearse.ts';
import type { Role, SynthesizedStack } from './template.ts';

/** The member partitioned besides the powered-off one: running, unreachable, so stop-instance stops it. */
export const PARTITIONED = 'master-1';

/** The operator who answers the approval, with the stack's approver policy as its only policy. */
export interface Operator {
  accessKeyId: string;
  secretAccessKey: string;
  name: string;
  role: Role;
}

export function operatorOf(stack: SynthesizedStack): Operator {
  return {
    accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(20).toString('hex'),
    name: 'operator',
    role: stack.managedPolicyRole('RestoreApproverPolicy', 'etcd-restore-operator'),
  };
}

/** The restore's state machine as Step Functions runs it, tagged with its run table; the quarantine group made EC2's. */
export function restoreStateMachine(
  stack: SynthesizedStack,
  roles: Role[],
  lambdas: LambdaService,
  iam: IamCheck,
  cloud: SandboxCloud,
  tableName: string,
  onStatusChange: (execution: Execution) => void,
): StepFunctionsService {
  const machine = stack.stateMachine('RestoreStateMachine');
  const role = roles.find((r) => r.arn === machine.roleArn);
  if (!role) throw new Error('the restore state machine has no role in the template');
  const sfn = new StepFunctionsService(
    { ...machine, definition: machine.definition as Record<string, unknown> },
    role,
    lambdas,
    iam,
    stack.region,
    onStatusChange,
  );
  sfn.tags = { [RUN_TABLE_TAG]: tableName };
  const [group] = stack.ofType('AWS::EC2::SecurityGroup').filter(([id]) => id.startsWith('QuarantineGroup'));
  if (!group) throw new Error('the template has no quarantine group: the rehearsal needs restore.vpcId in the configuration');
  const tags = Object.fromEntries(((group[1].Properties?.['Tags'] ?? []) as Array<{ Key: string; Value: string }>).map((t) => [t.Key, t.Value]));
  cloud.addGroup(stack.getAtt(group[0], 'GroupId'), tags, true);
  return sfn;
}

/** CloudWatch's "Alarm State Change" of the quorum-lost alarm, as EventBridge gets it, and the alarm history's item of that change. */
export function quorumLostEvent(stack: SynthesizedStack, at: Date): { event: Record<string, unknown>; history: AlarmHistoryItem } {
  const [alarm] = stack.alarms().filter((a) => a.logicalId.startsWith('QuorumLostAlarm'));
  if (!alarm) throw new Error('the template has no quorum-lost alarm');
  const alarmName = String(alarm.properties['AlarmName']);
  const reason = 'Threshold Crossed: fewer members healthy than a majority';
  const event = alarmStateChangeEvent(stack, alarm.arn, at, {
    alarmName,
    state: { value: 'ALARM', reason, timestamp: at.toISOString() },
    previousState: { value: 'OK', timestamp: at.toISOString() },
    configuration: { metrics: [] },
  });
  const history: AlarmHistoryItem = {
    AlarmName: alarmName,
    AlarmType: 'MetricAlarm',
    Timestamp: at,
    HistoryItemType: 'StateUpdate',
    HistorySummary: 'Alarm updated from OK to ALARM',
    HistoryData: JSON.stringify({ version: '1.0', oldState: { stateValue: 'OK' }, newState: { stateValue: 'ALARM', stateReason: reason } }),
  };
  return { event, history };
}

/**
 * Waits until the execution waits for its approval, then answers it the way `etcd-replace approve RUN_ID
 * --target aws --state-machine-arn ARN` does, through the rehearsal's endpoint with the operator's
 * credentials (the run table found from the state machine's tag). Resolves with the exit code, or null
 * when the execution ended without asking.
 */
export async function approveWhenAsked(options: {
  restore: StepFunctionsService;
  execution: () => Execution | undefined;
  endpoint: string;
  region: string;
  operator: Operator;
  /** The messages published so far: the operator answers once the approval request has reached them, as a person does. */
  published: () => Array<{ message: string }>;
  log: (line: string) => void;
}): Promise<number | null> {
  const { restore } = options;
  for (;;) {
    const waiting = restore.waiting().find((w) => w.stateName === 'AwaitApproval');
    const e = options.execution();
    if (waiting && e && options.published().some((p) => p.message.includes(`etcd-replace approve ${runIdFromExecutionName(e.name)}`))) break;
    if (e && e.status !== 'RUNNING') return null;
    await delay(200);
  }
  const execution = options.execution()!;
  const credentials = { accessKeyId: options.operator.accessKeyId, secretAccessKey: options.operator.secretAccessKey };
  const client = new SFNClient({ region: options.region, endpoint: options.endpoint, credentials });
  const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient({ region: options.region, endpoint: options.endpoint, credentials }));
  const runId = runIdFromExecutionName(execution.name);
  options.log(`etcd-replace approve ${runId} --target aws --state-machine-arn ${restore.stateMachineArn} (as ${options.operator.role.name})`);
  // The command's own exit code, a refusal's included (nothing pending): the verdict judges it, and the
  // rehearsal goes on to tear its sandbox down.
  try {
    return await answerApproval(
      { runId, stateMachineArn: restore.stateMachineArn, table: undefined, decline: false, reason: undefined, json: false, usage: '' },
      { client: () => client, dynamo: () => dynamo, user: () => options.operator.name },
    );
  } catch (error) {
    options.log(`etcd-replace approve: ${error instanceof Error ? error.message : String(error)}`);
    const code = (error as { exitCode?: unknown }).exitCode;
    return typeof code === 'number' ? code : 1;
  }
}

/**
 * What a quorum-loss rehearsal must leave, one line per thing wrong: the restore succeeded, approved by the
 * operator through its task token; no IAM denial; every former member but the survivor fenced on the
 * network (the quarantine group alone on its interface), the partitioned one stopped; the lock released;
 * the restore's audit record written, with the principal CloudTrail gave for its start.
 */
export function restoreVerdict(r: Rehearsal, powerOff: string): string[] {
  const wrong: string[] = [];
  const want = (ok: boolean, what: string) => {
    if (!ok) wrong.push(what);
  };
  want(r.execution.status === 'SUCCEEDED', `execution ${r.execution.status}: ${r.execution.error ?? ''} ${r.execution.cause ?? ''}`.trim());
  want(r.execution.stateMachineArn.includes(':stateMachine:etcd-restore-'), `the execution ran on ${r.execution.stateMachineArn}, not the restore`);
  want(r.approval === 0, `etcd-replace approve: ${r.approval === null ? 'the run never asked' : `exit ${String(r.approval)}`}`);
  want(
    r.execution.history.some((h) => h.type === 'TaskSubmitted') && r.execution.history.some((h) => h.type === 'TaskSucceeded'),
    'AwaitApproval did not wait for its task token',
  );
  const lost = r.deliveries.filter((d) => !d.ok);
  want(lost.length === 0, `EventBridge deliveries failed: ${lost.map((d) => `${d.rule} -> ${d.target}: ${d.error ?? ''}`).join('; ')}`);
  const denied = r.iam.denied();
  want(
    r.iam.calls.some((c) => c.action === 'states:SendTaskSuccess'),
    'no SendTaskSuccess was checked against IAM',
  );
  want(denied.length === 0, `IAM denied: ${denied.map((d) => `${d.role} ${d.action} ${d.resource}`).join('; ')}`);
  for (const host of [powerOff, PARTITIONED]) {
    const last = r.cloud.interfaceChanges.filter((c) => c.host === host).at(-1);
    want(last?.fenced === true, `${host} is not fenced on the network: ${JSON.stringify(last ?? null)}`);
  }
  want(r.cloud.stopped.includes(r.cloud.idOf(PARTITIONED)), `${PARTITIONED} (running, unreachable) was not stopped`);
  want(r.lockItem === undefined, 'the lock was not released');
  // The audit recorder follows the restore's state machine too: its record names the workflow, and who started it.
  const record = r.auditRecord ?? {};
  want(
    r.auditItem?.['outcome'] === 'succeeded' && record['workflow'] === 'RestoreEtcdQuorum' && record['state'] === 'Succeeded',
    `audit record of the restore: ${JSON.stringify({ outcome: r.auditItem?.['outcome'], workflow: record['workflow'], state: record['state'] })}`,
  );
  // The config's all-others-terminated waiver does not hold: EC2 reported the former members' instances (master-1 running,
  // the powered-off one stopped) when the restore point was chosen, and the approval was asked all the same.
  const context = (record['context'] ?? {}) as {
    instanceStates?: Array<{ host: string; instanceId?: string; instanceState?: string }>;
    approvalWaived?: boolean;
  };
  const stateOf = (host: string) => context.instanceStates?.find((s) => s.host === host)?.instanceState;
  want(
    stateOf(PARTITIONED) === 'running' && stateOf(powerOff) === 'stopped' && context.approvalWaived === false,
    `the former members' instance states as ChooseRestorePoint read them: ${JSON.stringify(context.instanceStates ?? null)}, approvalWaived ${String(context.approvalWaived)}`,
  );
  want(
    (record['alarm'] as { confirmed?: boolean } | undefined)?.confirmed === true,
    `the restore's record has not the quorum-lost alarm's change: ${JSON.stringify(record['alarm'] ?? null)}`,
  );
  want(
    (record['principal'] as { invokedBy?: string } | null | undefined)?.invokedBy === 'events.amazonaws.com',
    `the restore's record names no principal from CloudTrail: ${JSON.stringify(record['principal'] ?? null)}`,
  );
  want(r.notifications.length >= 2, `${r.notifications.length} notifications published: the approval request and the outcome expected`);
  return wrong;
}
