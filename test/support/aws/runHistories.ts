// Execution histories of the replacement machine that end each way a person must tell apart:
// succeeded, refused (a healthy member), failed (the new member did not start), with the workflow
// context the steps build (hosts with addresses, member IDs, artifact keys: what notifications must
// not carry).

import { HistoryBuilder, lambdaCause, T0 } from './sfnHistory.ts';

export const REGION = 'eu-west-1';
export const ACCOUNT = '123456789012';
export const STATE_MACHINE = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:etcd-replace-ocp311`;
export const executionArnOf = (name: string) => `arn:aws:states:${REGION}:${ACCOUNT}:execution:etcd-replace-ocp311:${name}`;

export const MEMBERS = [
  { name: 'master-0', hostname: 'master-0.ocp311.example.internal', ip: '10.0.1.10', instanceId: 'i-0a1b2c3d4e5f60710' },
  { name: 'master-1', hostname: 'master-1.ocp311.example.internal', ip: '10.0.1.11', instanceId: 'i-0a1b2c3d4e5f60711' },
  { name: 'master-2', hostname: 'master-2.ocp311.example.internal', ip: '10.0.1.12', instanceId: 'i-0a1b2c3d4e5f60712' },
];

export const ALARM_REQUEST = {
  cluster: 'ocp311',
  failed: 'i-0a1b2c3d4e5f60712',
  replacement: 'etcd-spare-0.ocp311.example.internal',
  startedBy: 'alarm:etcd-replace-ocp311-member-master-2',
  options: { graceSeconds: 60, learner: 'auto' },
};

const host = (name: string, ip: string, instanceId: string, roles: string[]) => ({ name, hostname: `${name}.ocp311.example.internal`, ip, instanceId, roles });

/** What ValidateInput adds: the hosts, with their addresses. */
export function validated(request: Record<string, unknown>, runId: string, failed = 'master-2') {
  const index = failed.slice(-1);
  return {
    runId,
    request,
    options: { graceSeconds: 60, learner: 'auto' },
    inventory: { cluster: 'ocp311', hosts: MEMBERS.map((m) => host(m.name, m.ip, m.instanceId, ['master', 'etcd'])) },
    failedHost: host(failed, `10.0.1.1${index}`, `i-0a1b2c3d4e5f6071${index}`, ['master', 'etcd']),
    replacement: host('etcd-spare-0', '10.0.1.20', 'i-0a1b2c3d4e5f60720', ['spare']),
  };
}

/** A replacement of master-2 by etcd-spare-0 that succeeds in 74 s; AcquireLock retried once. */
export function succeededRun(name: string, request: Record<string, unknown> = ALARM_REQUEST): HistoryBuilder {
  const b = new HistoryBuilder(request, T0)
    .task('ValidateInput', { output: validated(request, name) })
    .task('AcquireLock', { failures: ['ConditionalCheckFailedException'] })
    .task('CheckClusterHealth', {
      output: { failedMember: { id: '8e9e05c52164694d', name: 'master-2', peerURL: 'https://10.0.1.12:2380', clientURL: 'https://10.0.1.12:2379' } },
    })
    .task('SnapshotCluster', { output: { snapshotKey: `runs/${name}/snapshot-master-0.db` } })
    .task('ConfirmMemberFailed')
    .task('RemoveFailedMember', { output: { failedMemberRemoved: true } })
    .task('StopFailedMember', { output: { failedHostReachable: false } })
    .choice('IsFailedHostReachable')
    .task('ConfigureNewMember', { output: { bundleKey: `runs/${name}/bundle-etcd-spare-0.tgz` } })
    .task('AddMember', { output: { newMemberId: 'a1b2c3d4e5f60718', addedAsLearner: true, memberAdded: true } })
    .task('StartNewMember')
    .task('PromoteNewMember')
    .task('VerifyClusterHealth')
    .task('ReleaseLock')
    .choice('RouteOutcome');
  return b.succeed();
}

export const HEALTHY_CAUSE =
  'member master-1 (8e9e05c52164694e) answers health checks at the first observation: refusing to remove a healthy member. If it was rebooting it has recovered; nothing needs replacing.';

/** A request to replace master-1, which answers: refused at CheckClusterHealth. */
export function refusedRun(name: string): HistoryBuilder {
  const request = { cluster: 'ocp311', failed: 'master-1', replacement: 'etcd-spare-0', startedBy: 'console:jane' };
  return new HistoryBuilder(request, T0)
    .task('ValidateInput', { output: validated(request, name, 'master-1') })
    .task('AcquireLock')
    .caughtTask('CheckClusterHealth', 'RefusedError', HEALTHY_CAUSE)
    .task('ReleaseLock')
    .choice('RouteOutcome')
    .fail('Refused');
}

export const NOT_STARTED = 'etcd on etcd-spare-0 has not started within 60 s';

/** The new member does not start: compensated, and the run says what is left. */
export function failedRun(name: string): HistoryBuilder {
  const request = { ...ALARM_REQUEST, startedBy: 'cli:ops' };
  return new HistoryBuilder(request, T0)
    .task('ValidateInput', { output: validated(request, name) })
    .task('AcquireLock')
    .task('CheckClusterHealth')
    .task('ConfirmMemberFailed')
    .task('RemoveFailedMember', { output: { failedMemberRemoved: true } })
    .task('AddMember', { output: { newMemberId: 'a1b2c3d4e5f60718', addedAsLearner: true, memberAdded: true } })
    .caughtTask('StartNewMember', 'NewMemberFailedError', NOT_STARTED, { failures: ['HostUnreachableError'] })
    .task('CompensateNewMember', { output: { remaining: ['the cluster runs with 2 members: replace master-2 with another spare (etcd-replace run)'] } })
    .task('ReleaseLock')
    .choice('RouteOutcome')
    .fail('Failed');
}

export { lambdaCause, T0 };
