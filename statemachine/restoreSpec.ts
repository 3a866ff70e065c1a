// The restore-quorum workflow as data (RestoreEtcdQuorum): a cluster that has lost quorum restored from its
// best survivor or a verified snapshot, behind a person's approval, every former member fenced before the
// force, then brought back to its former size one member at a time (OpenShift 3.11 "Restoring etcd quorum"
// and "Restoring etcd"). Built, compiled and drawn by the same machine builder, ASL compiler and graph as
// the replacement (spec.ts): the same kinds of state, the same lock, closing states and outcome routing.
// The steps both workflows run are the replacement's own specs (their retry rules, time limits, catches and
// lock), only their next state differs. Nothing here performs side effects or imports AWS.

import { APPROVAL_TIMEOUT_MAX_SECONDS, type RestoreContext } from './restoreContext.ts';
import {
  hostWork,
  REFUSED_ERRORS,
  task,
  taskSpec,
  transient,
  unreachable,
  type CatchRule,
  type ChoiceSpec,
  type FinalSpec,
  type GuardSpec,
  type OutcomeSpec,
  type StateSpec,
  type TaskName,
  type TaskSpec,
  type WaitSpec,
  type WorkflowSpec,
} from './spec.ts';

/**
 * Refusals end the run on Refused: the replacement's, and an approval nobody gave in time. AwaitApproval
 * is the only task with a heartbeat: Step Functions ends its wait with States.HeartbeatTimeout once
 * options.approvalTimeoutSeconds pass without an answer, and the local run's step throws the same name.
 * A person who declines answers with RefusedError (SendTaskFailure).
 */
export const RESTORE_REFUSED_ERRORS = [...REFUSED_ERRORS, 'States.HeartbeatTimeout'];

/** Every ending after the lock is taken goes through the closing steps, as in the replacement. */
const CLOSING = 'DiscardKeyBundle';
const beforeForce: CatchRule[] = [{ errors: ['States.ALL'], next: CLOSING }];
/** Once the survivor is forced the cluster is a new one: a failure ends the run, which records what remains. */
const afterForce: CatchRule[] = [{ errors: ['States.ALL'], next: CLOSING }];

/** The run's bound: the longest approval wait, and as long again as a replacement may take for the rest. */
const RESTORE_RUN_TIMEOUT_SECONDS = APPROVAL_TIMEOUT_MAX_SECONDS + 2 * 60 * 60;

/** A step the replacement runs too: its spec as it is there (summary, retry rules, time limit, catches, lock), going on to `next`. */
function shared<N extends TaskName>(name: N, next: string, changes: Partial<Pick<TaskSpec, 'summary' | 'catch'>> = {}): TaskSpec<N> {
  return { ...(taskSpec(name) as TaskSpec<N>), next, ...changes };
}

const approvalWaived: GuardSpec<RestoreContext> = { name: 'approvalWaived', field: 'approvalWaived' };
const fromSnapshot: GuardSpec<RestoreContext> = { name: 'fromSnapshot', field: 'fromSnapshot' };
const addedAsLearner: GuardSpec<RestoreContext> = { name: 'addedAsLearner', field: 'addedAsLearner' };
/** Another former member follows in the re-add loop (written by the loop's first step, statemachine/members.ts). */
const anotherMember: GuardSpec<RestoreContext> = { name: 'anotherMember', field: 'anotherMember' };

/** Every state, in runbook order. */
const RESTORE_STATE_LIST = [
  task(
    'ValidateRestoreRequest',
    'Validate the request and resolve the cluster: --from or --snapshot (not both), the grace and approval windows, the waivers the cluster config names',
    'preparation',
    'AcquireLock',
    { catch: [{ errors: ['States.ALL'], next: 'Failed' }], timeoutSeconds: 60, holdsLock: false },
  ),
  shared('AcquireLock', 'ObserveQuorumLoss', {
    summary: 'Take the cluster lock so no other run changes the membership at the same time; wait for it while another run holds it',
  }),
  task(
    'ObserveQuorumLoss',
    'First observation: fewer than a majority of the voting members answer; the members as the cluster and each host know them',
    'Restoring etcd quorum (preparation)',
    'WaitGraceWindow',
    { catch: beforeForce },
  ),
  {
    kind: 'wait',
    name: 'WaitGraceWindow',
    summary: 'Wait until the grace window after the first observation has passed',
    delay: { name: 'graceWindow', untilField: 'confirmQuorumLossAfter' },
    next: 'ConfirmQuorumLost',
  } satisfies WaitSpec<RestoreContext>,
  task(
    'ConfirmQuorumLost',
    'Second observation, a grace window later: quorum is still lost; refuse when it is back, or when only one member is missing (`run` replaces it)',
    'Restoring etcd quorum (preparation)',
    'ChooseRestorePoint',
    { catch: beforeForce },
  ),
  // Read-only: DescribeRestorePoint.sh on every member host, stopped ones included.
  task(
    'ChooseRestorePoint',
    "The restore point: the member with the highest revision, then raft index, among those answering or whose data is readable; the member --from names; or the snapshot --snapshot names (the newest verified one when no member's data is usable); what it loses against the highest revision seen",
    'Restoring etcd quorum (preparation)',
    'IsApprovalWaived',
    { retry: [transient, unreachable], catch: beforeForce, timeoutSeconds: 600 },
  ),
  {
    kind: 'choice',
    name: 'IsApprovalWaived',
    summary: 'The cluster config waives the approval under a named condition that holds (every member but the survivor a terminated instance)',
    when: [{ guard: approvalWaived, next: 'FenceFormerMembers' }],
    otherwise: 'AwaitApproval',
  } satisfies ChoiceSpec<RestoreContext>,
  // Nothing has changed yet: an approval not given in time, or declined, ends Refused through the closing steps.
  task(
    'AwaitApproval',
    'Wait for a person to approve the restore (the task token in the notification; `etcd-replace approve RUN_ID`): what would be lost, and the command that approves it; refused when the window passes',
    'safety',
    'FenceFormerMembers',
    {
      catch: beforeForce,
      timeoutSeconds: APPROVAL_TIMEOUT_MAX_SECONDS + 300,
      answer: { resultField: 'approval', heartbeatOption: 'approvalTimeoutSeconds' },
    },
  ),
  task(
    'FenceFormerMembers',
    'Every former member but the survivor: fenced on the network first (2379/2380 closed to and from it by its security group), then on the host where it answers (etcd stopped, its static pod in pods-stopped, its data stored off the host and checked)',
    'Restoring etcd quorum step 1',
    'IsFromSnapshot',
    { retry: hostWork, catch: beforeForce, timeoutSeconds: 900 },
  ),
  {
    kind: 'choice',
    name: 'IsFromSnapshot',
    summary: 'Restore the chosen verified snapshot, or force a new cluster from the survivor',
    when: [{ guard: fromSnapshot, next: 'RestoreFromSnapshot' }],
    otherwise: 'ForceNewCluster',
  } satisfies ChoiceSpec<RestoreContext>,
  task(
    'RestoreFromSnapshot',
    'On the first former host (its data stored off the host first): etcdctl snapshot restore of the chosen snapshot with an --initial-cluster of that host alone, then start it',
    'Restoring etcd',
    'VerifyRestoredMember',
    { retry: hostWork, catch: afterForce, timeoutSeconds: 900 },
  ),
  task(
    'ForceNewCluster',
    'On the survivor (its data stored off the host first): ETCD_FORCE_NEW_CLUSTER=true in etcd.conf, start, a member list of one, the flag removed, restart; a peer URL on localhost updated',
    'Restoring etcd quorum steps 2-3',
    'VerifyRestoredMember',
    { retry: hostWork, catch: afterForce, timeoutSeconds: 900 },
  ),
  task(
    'VerifyRestoredMember',
    'One healthy member alone in its member list, at a revision no lower than the one chosen',
    'Restoring etcd quorum step 3',
    'PrepareFormerMember',
    {
      retry: [transient, { errors: ['ClusterUnhealthyError'], intervalSeconds: 1, maxAttempts: 10, backoffRate: 1.5, maxDelaySeconds: 5 }],
      catch: afterForce,
    },
  ),
  // The re-add loop: each former member in turn (its own host once fenced on the host, else a spare), with
  // the replacement's add path and its checks; the next is added only once this one is healthy.
  task(
    'PrepareFormerMember',
    "Load the next former member to add back (the first visit makes one of each but the restored one): on its own host when it was fenced on the host (then its network fence is lifted), else on the spare pool's next free host; the restored member and those re-added so far are the survivors",
    'Restoring etcd quorum step 4',
    'IssueCertificates',
    { retry: [transient], catch: afterForce },
  ),
  shared('IssueCertificates', 'VerifyCertificates'),
  shared('VerifyCertificates', 'OpenEtcdPorts'),
  shared('OpenEtcdPorts', 'InstallEtcd'),
  shared('InstallEtcd', 'ConfigureNewMember'),
  shared('ConfigureNewMember', 'AddMember'),
  shared('AddMember', 'StartNewMember'),
  shared('StartNewMember', 'IsNewMemberLearner'),
  {
    kind: 'choice',
    name: 'IsNewMemberLearner',
    summary: 'Promote the re-added member when it joined as a learner',
    when: [{ guard: addedAsLearner, next: 'PromoteNewMember' }],
    otherwise: 'VerifyClusterHealth',
  } satisfies ChoiceSpec<RestoreContext>,
  shared('PromoteNewMember', 'VerifyClusterHealth'),
  shared('VerifyClusterHealth', 'IsAnotherMemberToReAdd'),
  {
    kind: 'choice',
    name: 'IsAnotherMemberToReAdd',
    summary: 'Re-add the next former member, now that this one is healthy',
    when: [{ guard: anotherMember, next: 'PrepareFormerMember' }],
    otherwise: 'RollMasters',
  } satisfies ChoiceSpec<RestoreContext>,
  shared('RollMasters', 'UpdateFlannel'),
  shared('UpdateFlannel', 'RecordRestore'),
  // The cluster is back whatever happens to the record: a failure here is kept beside the outcome.
  task(
    'RecordRestore',
    'The measures in the run record and the notification: time from quorum loss confirmed to full strength, the revision chosen against the highest seen, every host fenced and how',
    'safety',
    CLOSING,
    { catch: [{ errors: ['States.ALL'], next: CLOSING, resultField: 'cleanupError' }], timeoutSeconds: 60 },
  ),
  shared('CompensateNewMember', CLOSING),
  shared('DiscardKeyBundle', 'ReleaseLock', { catch: [{ errors: ['States.ALL'], next: 'ReleaseLock', resultField: 'none' }] }),
  shared('ReleaseLock', 'RouteOutcome'),
  {
    kind: 'outcome',
    name: 'RouteOutcome',
    summary: 'Succeeded with no error; Refused on a refusal or an approval not given in time; Failed otherwise',
    refusedErrors: RESTORE_REFUSED_ERRORS,
    refused: 'Refused',
    failed: 'Failed',
    succeeded: 'Succeeded',
  } satisfies OutcomeSpec,
  { kind: 'succeed', name: 'Succeeded', summary: 'The cluster is restored to its former size and every client names its members' } satisfies FinalSpec,
  { kind: 'fail', name: 'Failed', summary: 'The run failed; the run record says what happened and what remains' } satisfies FinalSpec,
  {
    kind: 'fail',
    name: 'Refused',
    summary: 'The run refused to restore: quorum is back or one member is missing, approval was not given, or the lock is held; nothing was changed',
  } satisfies FinalSpec,
];

/** The name of every task of the restore. */
export type RestoreTaskName = Extract<(typeof RESTORE_STATE_LIST)[number], { kind: 'task' }>['name'];

const RESTORE_STATES: readonly StateSpec<RestoreContext>[] = RESTORE_STATE_LIST;

/** The restore of a cluster that lost quorum (RestoreEtcdQuorum). */
export const RESTORE_WORKFLOW: WorkflowSpec<RestoreTaskName, RestoreContext> = {
  id: 'RestoreEtcdQuorum',
  start: 'ValidateRestoreRequest',
  states: RESTORE_STATES,
  tasks: RESTORE_STATES.filter((s): s is TaskSpec<RestoreTaskName> => s.kind === 'task'),
  guards: [approvalWaived, fromSnapshot, addedAsLearner, anotherMember],
  timeoutSeconds: RESTORE_RUN_TIMEOUT_SECONDS,
};
