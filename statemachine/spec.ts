// The workflow as data: every state, its transitions, retry policy, timeout and failure routing.
// machine.ts turns a workflow (WorkflowSpec) into the XState machine (the model); asl.ts compiles that
// machine to Amazon States Language. This file holds the kinds of state every workflow is made of, and
// the replacement workflow (REPLACE_WORKFLOW); restoreSpec.ts holds the quorum restore. Nothing here
// performs side effects or imports AWS.

import type { AddMethod, WorkflowContext } from './context.ts';
import type { RecordedError } from './recordedError.ts';

/**
 * What the compilers read of a workflow's context, whatever else it holds: the guards' fields (GuardSpec),
 * the wait's timestamp field and the grace window that stands in for it, and the recorded errors.
 */
export interface MachineContext {
  options: { graceSeconds: number };
  error?: RecordedError;
  cleanupError?: RecordedError;
}

/** A Step Functions Retrier, field for field. `maxAttempts` counts retries after the first try. */
export interface RetryRule {
  errors: string[];
  intervalSeconds: number;
  maxAttempts: number;
  backoffRate: number;
  maxDelaySeconds?: number;
}

export interface CatchRule {
  errors: string[];
  next: string;
  /**
   * Context field the caught error is written to (Step Functions ResultPath); `error` by default.
   * `none` keeps the context as it was (ResultPath null): for closing steps whose own failure must not
   * hide the run's errors (it stays in the step's record and the execution history).
   */
  resultField?: 'error' | 'cleanupError' | 'none';
}

export interface TaskSpec<N extends string = string> {
  kind: 'task';
  name: N;
  /** One line for the plan, the graph and the docs. */
  summary: string;
  /** The runbook section it carries out. */
  runbook: string;
  next: string;
  retry: RetryRule[];
  catch: CatchRule[];
  timeoutSeconds: number;
  /**
   * Whether the step runs under the run's cluster lock: it is proven held (LockLostError otherwise)
   * and renewed while the step runs (functions/workflow/lockRenewal.ts). False for the steps before
   * the lock is taken and the closing steps, which change no membership.
   */
  holdsLock: boolean;
  /**
   * A task that waits for an answer from outside the run (a person's approval): on AWS the state's Lambda
   * gets a task token (Step Functions' `.waitForTaskToken`) and hands it out, and the state ends when
   * SendTaskSuccess or SendTaskFailure is called with it, or with States.HeartbeatTimeout when nothing
   * came within the seconds the run's option `heartbeatOption` gives. The answer (SendTaskSuccess's
   * output) is written to the context field `resultField`, and nothing else: in XState the step's output
   * `{[resultField]: answer}`, every other field of it ignored.
   */
  answer?: { resultField: string; heartbeatOption: string };
}

/** Guards read one boolean field that an earlier step wrote, so both engines evaluate them alike. */
export interface GuardSpec<C = WorkflowContext> {
  name: string;
  field: Extract<keyof C, string>;
}

export interface ChoiceSpec<C = WorkflowContext> {
  kind: 'choice';
  name: string;
  summary: string;
  when: Array<{ guard: GuardSpec<C>; next: string }>;
  otherwise: string;
}

/** Routes on the error a Catch recorded in `error`: refusals, failures, or none. */
export interface OutcomeSpec {
  kind: 'outcome';
  name: string;
  summary: string;
  refusedErrors: string[];
  refused: string;
  failed: string;
  succeeded: string;
}

export interface WaitSpec<C = WorkflowContext> {
  kind: 'wait';
  name: string;
  summary: string;
  /**
   * Named delay: until the ISO timestamp an earlier step wrote into a context field (no wait once past;
   * the grace window, `options.graceSeconds`, while the field is absent).
   */
  delay: { name: string; untilField: Extract<keyof C, string> };
  next: string;
}

export interface FinalSpec {
  kind: 'succeed' | 'fail';
  name: string;
  summary: string;
}

export type StateSpec<C = WorkflowContext> = TaskSpec | ChoiceSpec<C> | WaitSpec<C> | OutcomeSpec | FinalSpec;

/**
 * A workflow as data, what machine.ts builds a machine from (and asl.ts and graph.ts compile through it):
 * its states in runbook order, its tasks among them (typed by name), the state it starts in, and the
 * guards its choices read. `C` is its context (MachineContext and whatever its steps write).
 */
export interface WorkflowSpec<N extends string = string, C = WorkflowContext> {
  /** The machine's id; the compiled state machine's Comment names it. */
  id: string;
  start: string;
  states: readonly StateSpec<C>[];
  tasks: readonly TaskSpec<N>[];
  guards: readonly GuardSpec<C>[];
  /** The whole run's bound in Step Functions (TimeoutSeconds); asl.ts's DEFAULT_RUN_TIMEOUT_SECONDS when absent. */
  timeoutSeconds?: number;
}

/**
 * Any workflow's state, as the compilers read it: its field names read as plain strings (`never` as the
 * context: a field name is a key of every context, so a spec of any context is one of these).
 */
export type AnyStateSpec = StateSpec<never>;

/** Any workflow, as the compilers take it. */
export type AnyWorkflowSpec = WorkflowSpec<string, never>;

// Retry policies -------------------------------------------------------------------------------

/** Errors worth another try anywhere: etcd between leaders, a slow host, a store hiccup. */
export const TRANSIENT_ERRORS = ['EtcdUnavailableError', 'EtcdUnhealthyClusterError', 'ScriptTimedOutError', 'ArtifactStoreError'];

/** Seconds between a waiting run's tries for the lock (AcquireLock). */
const LOCK_WAIT_INTERVAL_SECONDS = 5;
export const transient: RetryRule = { errors: TRANSIENT_ERRORS, intervalSeconds: 1, maxAttempts: 4, backoffRate: 2, maxDelaySeconds: 8 };
export const unreachable: RetryRule = { errors: ['HostUnreachableError'], intervalSeconds: 2, maxAttempts: 2, backoffRate: 2 };
export const hostWork: RetryRule[] = [transient, unreachable, { errors: ['ScriptFailedError'], intervalSeconds: 1, maxAttempts: 1, backoffRate: 1 }];

/**
 * Refusals end the run on the Refused final; a held lock is refused without touching the lock. Step
 * Functions matches error names exactly (no inheritance), so every refusal class is listed.
 */
export const REFUSED_ERRORS = ['RefusedError', 'LockHeldError', 'LockLostError'];

// Failure routing ------------------------------------------------------------------------------

/** Every ending after the lock is taken goes through the closing steps: the key bundle is discarded, the cluster described, the lock released. */
const CLOSING = 'DiscardKeyBundle';
// After AcquireLock no step meets a held lock: one taken from the run is LockLostError (lockRenewal.ts),
// which ends Refused through the closing steps like every other ending.
const beforeMembershipChange: CatchRule[] = [{ errors: ['States.ALL'], next: CLOSING }];
const whileNewMemberJoins: CatchRule[] = [{ errors: ['States.ALL'], next: 'CompensateNewMember' }];
/** The scaleup playbook's steps: the inventory goes back as it was, then the member it may have added is removed. */
const whilePlaybookAdds: CatchRule[] = [{ errors: ['States.ALL'], next: 'RestoreInventory' }];
const afterNewMemberJoined: CatchRule[] = [{ errors: ['States.ALL'], next: CLOSING }];

export function task<N extends string>(
  name: N,
  summary: string,
  runbook: string,
  next: string,
  options: { retry?: RetryRule[]; catch?: CatchRule[]; timeoutSeconds?: number; holdsLock?: boolean; answer?: TaskSpec['answer'] } = {},
): TaskSpec<N> {
  return {
    kind: 'task',
    name,
    summary,
    runbook,
    next,
    retry: options.retry ?? [transient],
    catch: options.catch ?? beforeMembershipChange,
    timeoutSeconds: options.timeoutSeconds ?? 120,
    holdsLock: options.holdsLock ?? true,
    ...(options.answer ? { answer: options.answer } : {}),
  };
}

const failedHostReachable: GuardSpec = { name: 'failedHostReachable', field: 'failedHostReachable' };
const peerUrlsOnLocalhost: GuardSpec = { name: 'peerUrlsOnLocalhost', field: 'peerUrlsOnLocalhost' };
const addedAsLearner: GuardSpec = { name: 'addedAsLearner', field: 'addedAsLearner' };
const alreadyReplaced: GuardSpec = { name: 'alreadyReplaced', field: 'alreadyReplaced' };
const addByPlaybook: GuardSpec = { name: 'addByPlaybook', field: 'addByPlaybook' };
const coveredByAnotherRun: GuardSpec = { name: 'coveredByAnotherRun', field: 'covered' };
const takenIn: GuardSpec = { name: 'takenIn', field: 'takenIn' };
/** A run that replaces several members: another member follows in the loop being run (statemachine/members.ts). */
const anotherMember: GuardSpec = { name: 'anotherMember', field: 'anotherMember' };
const certificatesChecked: GuardSpec = { name: 'certificatesChecked', field: 'certificatesChecked' };

export const START_STATE = 'ValidateInput';

/** Every state, in runbook order (typed per state, so the task names form TaskName below). */
const STATE_LIST = [
  task('ValidateInput', 'Validate the request and resolve the failed member, the replacement, the CA and installer hosts', 'preparation', 'AcquireLock', {
    catch: [{ errors: ['States.ALL'], next: 'Failed' }],
    timeoutSeconds: 60,
    holdsLock: false,
  }),
  // Many signals, one run: a holder that replaces this run's members covers it (IsCoveredByAnotherRun);
  // otherwise the run asks to be taken in and waits for the lock, up to options.lockWaitSeconds (the
  // step's own bound: LockHeldError), and the attempts allow the longest wait the options accept.
  task(
    'AcquireLock',
    'Take the cluster lock so no other run changes the membership at the same time; a run that holds it and replaces the same members covers this one; otherwise ask to be taken in and wait',
    'preparation',
    'IsCoveredByAnotherRun',
    {
      retry: [
        transient,
        { errors: ['LockWaitingError'], intervalSeconds: LOCK_WAIT_INTERVAL_SECONDS, maxAttempts: 3600 / LOCK_WAIT_INTERVAL_SECONDS, backoffRate: 1 },
      ],
      catch: [
        { errors: ['LockHeldError'], next: 'Refused' },
        { errors: ['States.ALL'], next: 'Failed' },
      ],
      timeoutSeconds: 30,
      holdsLock: false,
    },
  ),
  {
    kind: 'choice',
    name: 'IsCoveredByAnotherRun',
    summary: 'Another run that holds the lock replaces every failed member asked for: end Covered naming it, changing nothing',
    when: [{ guard: coveredByAnotherRun, next: 'Covered' }],
    otherwise: 'IsAlreadyReplaced',
  } satisfies ChoiceSpec,
  // A request an earlier run already carried out (an alarm delivered twice, a command repeated): no
  // membership change, only the idempotent steps that finish what that run could not (the failed host's
  // data and pods, the masters, flannel), under the lock, then Succeeded naming that run.
  {
    kind: 'choice',
    name: 'IsAlreadyReplaced',
    summary: 'An earlier run already replaced the failed member with this replacement: only finish what it left',
    when: [{ guard: alreadyReplaced, next: 'StopFailedMember' }],
    otherwise: 'CheckClusterHealth',
  } satisfies ChoiceSpec,
  task(
    'CheckClusterHealth',
    'First observation: cluster-health, quorum now and after the change, the failed member matched exactly',
    '37.1 step 1',
    'ProvisionReplacement',
  ),
  // Launched only once the first observation found a member to replace, and inside the grace window:
  // the host boots while the rest is prepared. A run that does not succeed terminates it again
  // (TerminateLaunchedHost) unless a member of the cluster is on it.
  task(
    'ProvisionReplacement',
    'When no replacement was named and the spare pool is empty (or `new` was asked for): launch a host for this run, or find the one it launched, and wait until it is ready',
    'new host (preparation)',
    'SnapshotCluster',
    {
      retry: [transient, { errors: ['ReplacementNotReadyError'], intervalSeconds: 5, maxAttempts: 40, backoffRate: 1.2, maxDelaySeconds: 15 }],
      timeoutSeconds: 120,
    },
  ),
  // Snapshot, certificates and the new host's preparation change no membership: they run inside the grace window, which then
  // waits only for what is left of it before the second observation. The snapshot job runs on in the
  // background on its host, at low priority, until AwaitSnapshot, once the new member has joined. No
  // membership change before then lowers the margin: since the member failed the cluster has run one
  // failure from losing quorum (2 of 3 answering), and so it runs after the removal of a member observed
  // dead twice (2 of 2), after a voter's add until it has caught up (2 of 3), and while a learner, which
  // does not vote, catches up. A second failure in that window is restored from a survivor's data
  // (ChooseRestorePoint prefers it to any snapshot); the snapshot is the restore point should no
  // survivor's data be usable, and the run reaches full strength only with it stored.
  task(
    'SnapshotCluster',
    'Start the snapshot job on a healthy member: save, snapshot status, store in the artifact store; AwaitSnapshot waits for it once the new member has joined',
    'safety',
    'IsCertificateIssuedByPlaybook',
    {
      retry: hostWork,
      timeoutSeconds: 600,
    },
  ),
  // The add method, decided once in ValidateInput: the scaleup playbook issues the certificates and adds
  // the member itself (37.2.1); everything before the add and after it is shared.
  {
    kind: 'choice',
    name: 'IsCertificateIssuedByPlaybook',
    summary: 'The scaleup playbook issues the certificates itself: check that it can run instead',
    when: [{ guard: addByPlaybook, next: 'CheckScaleupPlaybook' }],
    otherwise: 'IssueCertificates',
  } satisfies ChoiceSpec,
  task(
    'CheckScaleupPlaybook',
    'On the installer host: ansible-playbook, the scaleup playbook, an inventory it can carry and SSH to every host of [etcd] and [new_etcd]; on the CA host: /etc/etcd/ca (restored from the CA backup when the CA host failed). Changes no membership',
    '37.2.1 (preparation)',
    'OpenEtcdPorts',
    { retry: [transient, unreachable] },
  ),
  task(
    'IssueCertificates',
    "On the CA host: openssl req/ca for server and peer certificates with the new host's SAN; copy etcd.conf and ca.crt beside them; check them on the public material the same command prints",
    '37.2.2 steps 1-5',
    'AreCertificatesChecked',
    {
      retry: hostWork,
    },
  ),
  // IssueCertificates checks the certificates on the answer of the command that issued them: then
  // VerifyCertificates has nothing left to do, and the run does not spend a step on it.
  {
    kind: 'choice',
    name: 'AreCertificatesChecked',
    summary: 'IssueCertificates checked the certificates itself: nothing left for VerifyCertificates',
    when: [{ guard: certificatesChecked, next: 'OpenEtcdPorts' }],
    otherwise: 'VerifyCertificates',
  } satisfies ChoiceSpec,
  task(
    'VerifyCertificates',
    'Check the certificates before they leave the CA host: SAN, key usages, chain, validity, key match',
    '37.2.2 steps 3-4',
    'OpenEtcdPorts',
    {
      retry: [transient, unreachable],
    },
  ),
  // The new host's ports and package: nothing runs there yet, so they are prepared inside the grace
  // window too, before any membership change.
  task(
    'OpenEtcdPorts',
    "Open 2379/2380 into the new host: the security group here; OS_FIREWALL_ALLOW (saved to /etc/sysconfig/iptables) in InstallEtcd's first command",
    'new host steps 1-2',
    'InstallEtcd',
    { retry: hostWork },
  ),
  task(
    'InstallEtcd',
    "Open 2379/2380 in the new host's OS_FIREWALL_ALLOW; stop an etcd from an earlier life there (its data stored off the host first); yum install -y etcd-<the members' version>; refuse a member of this or another running cluster",
    'new host step 3',
    'IsAnotherReplacementToPrepare',
    {
      retry: hostWork,
      timeoutSeconds: 600,
    },
  ),
  // Several failed members: each replacement is prepared in turn (IssueCertificates loads the next), all before any membership change.
  {
    kind: 'choice',
    name: 'IsAnotherReplacementToPrepare',
    summary: 'Several failed members: prepare the next replacement (certificates, ports, package) before any membership change',
    when: [{ guard: anotherMember, next: 'IsCertificateIssuedByPlaybook' }],
    otherwise: 'WaitGraceWindow',
  } satisfies ChoiceSpec,
  {
    kind: 'wait',
    name: 'WaitGraceWindow',
    summary: 'Wait until the grace window after the first observation has passed',
    delay: { name: 'graceWindow', untilField: 'confirmFailureAfter' },
    next: 'ConfirmMemberFailed',
  } satisfies WaitSpec,
  task(
    'ConfirmMemberFailed',
    "Second observation: the member is still failed and quorum still holds; refuse a healthy member. Waiting runs' members that fail too are taken in here",
    '37.1 step 1',
    'IsMemberTakenIn',
  ),
  // A waiting run's failed member, silent now, joined the run: its replacement is prepared in the prepare
  // loop, then every member is observed again after the grace window, before any removal.
  {
    kind: 'choice',
    name: 'IsMemberTakenIn',
    summary: "A waiting run's failed member was taken in: prepare its replacement, then observe every member again",
    when: [{ guard: takenIn, next: 'IsCertificateIssuedByPlaybook' }],
    otherwise: 'RemoveFailedMember',
  } satisfies ChoiceSpec,
  task('RemoveFailedMember', 'member remove <failed member ID> from a surviving member', '37.1 step 1', 'StopFailedMember'),
  task(
    'StopFailedMember',
    'On the failed host, if reachable: move /etc/origin/node/pods/* to pods-stopped and wait for etcd to stop',
    '37.1 step 2',
    'IsFailedHostReachable',
    {
      retry: [transient],
    },
  ),
  {
    kind: 'choice',
    name: 'IsFailedHostReachable',
    summary: "Back up the failed host's data only when the host answers",
    when: [{ guard: failedHostReachable, next: 'BackUpFailedMemberData' }],
    otherwise: 'IsAnotherMemberToRemove',
  } satisfies ChoiceSpec,
  task('BackUpFailedMemberData', 'Back up /var/lib/etcd off the failed host, verify the copy, then empty it', '37.1 step 3', 'IsAnotherMemberToRemove', {
    retry: hostWork,
    timeoutSeconds: 600,
  }),
  // Several failed members: every one leaves before the first add (etcd adds a member only while the
  // leader reaches every voting member), one removal at a time, each checked against quorum.
  {
    kind: 'choice',
    name: 'IsAnotherMemberToRemove',
    summary: 'Several failed members: remove the next one (every failed member leaves before the first add)',
    when: [{ guard: anotherMember, next: 'RemoveFailedMember' }],
    otherwise: 'IsNewMemberInPlace',
  } satisfies ChoiceSpec,
  {
    kind: 'choice',
    name: 'IsNewMemberInPlace',
    summary: "The earlier run's new member is in place: verify the cluster, then the masters and flannel; otherwise add the new member",
    when: [{ guard: alreadyReplaced, next: 'VerifyClusterHealth' }],
    otherwise: 'ArePeerUrlsOnLocalhost',
  } satisfies ChoiceSpec,
  {
    kind: 'choice',
    name: 'ArePeerUrlsOnLocalhost',
    summary: "Fix the first member's peer URL when it still names localhost",
    when: [{ guard: peerUrlsOnLocalhost, next: 'FixLocalhostPeerUrls' }],
    otherwise: 'IsMemberAddedByPlaybook',
  } satisfies ChoiceSpec,
  task(
    'FixLocalhostPeerUrls',
    'member update <id> https://<listen ip>:2380 for members whose peer URL says localhost',
    '37.2.2 step 6',
    'IsMemberAddedByPlaybook',
  ),
  {
    kind: 'choice',
    name: 'IsMemberAddedByPlaybook',
    summary: 'Add the new member with the scaleup playbook (37.2.1) or by the manual steps (37.2.2)',
    when: [{ guard: addByPlaybook, next: 'PrepareInventory' }],
    otherwise: 'ConfigureNewMember',
  } satisfies ChoiceSpec,
  task(
    'PrepareInventory',
    'On the installer host: keep the inventory as it was in the artifact store, then new_etcd under [OSEv3:children], [new_etcd] with the new host, [etcd] without the failed host and with the CA host first',
    '37.2.1 step 1',
    'RunScaleupPlaybook',
    { retry: hostWork, catch: whilePlaybookAdds },
  ),
  // The playbook adds the member (a voter from the add) and starts it; a run that fails before the member
  // has started puts the inventory back and removes the member again.
  task(
    'RunScaleupPlaybook',
    'On the installer host: cd <openshift-ansible> && ansible-playbook -i /etc/ansible/hosts playbooks/openshift-etcd/scaleup.yml, as a job that outlives the step; its output in the artifact store, its PLAY RECAP in the record',
    '37.2.1 step 2',
    'AwaitSnapshot',
    {
      retry: [
        transient,
        unreachable,
        // A try waits up to 12 minutes on the host while the playbook runs; a real scaleup gets an hour.
        { errors: ['ScaleupRunningError'], intervalSeconds: 1, maxAttempts: 5, backoffRate: 1 },
      ],
      catch: whilePlaybookAdds,
      timeoutSeconds: 780,
    },
  ),
  // Everything that does not need the add comes before it, and StartNewMember follows it directly:
  // without a learner (etcd 3.2 and 3.3) the new member votes from the add, and until it has started
  // the cluster is one failure from losing quorum. ETCD_INITIAL_CLUSTER is what `member add` would
  // print (the started members and the new one); StartNewMember checks it against the list after the add.
  task('ConfigureNewMember', 'Rewrite the copied etcd.conf for the new member, check it, pack the bundle and store it', '37.2.2 steps 8, 10', 'AddMember', {
    retry: hostWork,
  }),
  task('AddMember', 'member add <hostname> https://<new ip>:2380 (as a learner where every member runs etcd 3.4+)', '37.2.2 step 7', 'StartNewMember', {
    retry: [transient],
    catch: whileNewMemberJoins,
  }),
  // Waits while the new member makes progress: up to 13 minutes an attempt (the Lambda limit is 15).
  task(
    'StartNewMember',
    'Check ETCD_INITIAL_CLUSTER against the member list, stop pods, empty /etc/etcd and /var/lib/etcd, unpack the bundle, systemctl enable etcd and restart it, wait while it catches up until it has started',
    'new host steps 4-7',
    'AwaitSnapshot',
    {
      // A member that made no progress gets one more try; one still catching up, two more attempts' worth of waiting.
      retry: [
        ...hostWork,
        { errors: ['NewMemberFailedError'], intervalSeconds: 2, maxAttempts: 1, backoffRate: 1 },
        { errors: ['NewMemberCatchingUpError'], intervalSeconds: 2, maxAttempts: 2, backoffRate: 1 },
      ],
      catch: whileNewMemberJoins,
      timeoutSeconds: 840,
    },
  ),
  // A learner waits here before it votes (PromoteNewMember); a voter, joined and started, before the run
  // goes on to full strength (VerifyClusterHealth). A snapshot that cannot be stored removes a learner
  // again; a voter stays (removing it would only lower the margin it has just restored) and the run ends
  // Failed, with the masters and flannel left for a run of the same request to finish.
  task(
    'AwaitSnapshot',
    'Wait for the snapshot job to have saved, checked and stored the snapshot: before a learner is promoted, before a new voter is counted at full strength',
    'safety',
    'IsNewMemberLearner',
    {
      retry: hostWork,
      catch: [{ errors: ['States.ALL'], next: 'IsLearnerToCompensate' }],
      timeoutSeconds: 600,
    },
  ),
  {
    kind: 'choice',
    name: 'IsLearnerToCompensate',
    summary: 'The snapshot could not be stored: remove a learner again (it never voted); a new member that votes already stays, and the run ends',
    when: [{ guard: addedAsLearner, next: 'CompensateNewMember' }],
    otherwise: CLOSING,
  } satisfies ChoiceSpec,
  {
    kind: 'choice',
    name: 'IsNewMemberLearner',
    summary: 'Promote the new member when it joined as a learner',
    when: [{ guard: addedAsLearner, next: 'PromoteNewMember' }],
    otherwise: 'VerifyClusterHealth',
  } satisfies ChoiceSpec,
  task('PromoteNewMember', 'member promote once the learner has caught up with the leader', '37.2.2 step 7 (learner)', 'VerifyClusterHealth', {
    retry: [transient, { errors: ['LearnerNotReadyError'], intervalSeconds: 1, maxAttempts: 60, backoffRate: 1.5, maxDelaySeconds: 5 }],
    catch: whileNewMemberJoins,
    timeoutSeconds: 60,
  }),
  task(
    'VerifyClusterHealth',
    'cluster-health (v2) and endpoint health (v3) across every member; every member started and voting',
    'new host step 8',
    'UpdateInventory',
    {
      retry: [transient, { errors: ['ClusterUnhealthyError'], intervalSeconds: 1, maxAttempts: 10, backoffRate: 1.5, maxDelaySeconds: 5 }],
      // The new member has joined and votes by now: a problem elsewhere must not remove it again.
      catch: afterNewMemberJoined,
    },
  ),
  // The inventory serves later scale-ups, not this replacement: it follows full strength (the new member
  // healthy) instead of sitting on the path to it, still once per member and before the next member's
  // PrepareInventory. A run whose new member is in place already (IsNewMemberInPlace) updates it too.
  task(
    'UpdateInventory',
    'On the installer host: [etcd] loses the failed host and gains the new one (which leaves [new_etcd] after the scaleup playbook)',
    '37.2.2 step 9, 37.2.1 step 3',
    'IsAnotherMemberToAdd',
    { retry: hostWork, catch: afterNewMemberJoined },
  ),
  // Several failed members: the next new member is added only once this one is healthy (and promoted).
  {
    kind: 'choice',
    name: 'IsAnotherMemberToAdd',
    summary: 'Several failed members: add the next new member, now that this one is healthy',
    when: [{ guard: anotherMember, next: 'IsMemberAddedByPlaybook' }],
    otherwise: 'RollMasters',
  } satisfies ChoiceSpec,
  task(
    'RollMasters',
    'One master at a time: etcdClientInfo.urls, master-restart api, master-restart controllers, wait until its API is healthy',
    'masters steps 1-2',
    'UpdateFlannel',
    {
      retry: [...hostWork, { errors: ['MasterUnhealthyError'], intervalSeconds: 2, maxAttempts: 3, backoffRate: 2 }],
      catch: afterNewMemberJoined,
      timeoutSeconds: 900,
    },
  ),
  task('UpdateFlannel', 'FLANNEL_ETCD_ENDPOINTS on every host running flanneld; restart flanneld', 'masters steps 3-4', CLOSING, {
    retry: hostWork,
    catch: afterNewMemberJoined,
    timeoutSeconds: 300,
  }),
  // Compensation that cannot reach quorum stops at once (QuorumLostError is retried by no rule): the
  // closing steps then describe the cluster as it is and name the snapshot to restore from.
  task(
    'RestoreInventory',
    'The scaleup did not add a member that started: put the inventory back as it was before the run, unless someone else has changed it since',
    'compensation',
    'RestoreMasterUrls',
    { retry: hostWork, catch: [{ errors: ['States.ALL'], next: 'RestoreMasterUrls', resultField: 'none' }], timeoutSeconds: 120 },
  ),
  // The playbook's masters play names the new host even when the host failed an earlier play.
  task(
    'RestoreMasterUrls',
    "The scaleup did not add a member that started: every master's etcdClientInfo.urls back to the members that run, as RollMasters sets them",
    'compensation',
    'CompensateNewMember',
    {
      retry: [...hostWork, { errors: ['MasterUnhealthyError'], intervalSeconds: 2, maxAttempts: 3, backoffRate: 2 }],
      catch: [{ errors: ['States.ALL'], next: 'CompensateNewMember', resultField: 'none' }],
      timeoutSeconds: 900,
    },
  ),
  task('CompensateNewMember', 'The new member could not join: stop it, remove it again, record what remains to do', 'compensation', CLOSING, {
    retry: [transient],
    catch: [{ errors: ['States.ALL'], next: CLOSING, resultField: 'cleanupError' }],
    timeoutSeconds: 300,
  }),
  task(
    'DiscardKeyBundle',
    "Delete the new member's key bundle from the artifact store, whatever the outcome (a deletion that fails is named in remaining)",
    'safety',
    'TerminateLaunchedHost',
    {
      catch: [{ errors: ['States.ALL'], next: 'TerminateLaunchedHost', resultField: 'none' }],
      timeoutSeconds: 60,
      holdsLock: false,
    },
  ),
  task(
    'TerminateLaunchedHost',
    'When the run did not succeed: terminate the host this run launched, unless a member of the cluster is on it (a termination that fails is named in remaining)',
    'compensation',
    'RecordClusterState',
    {
      catch: [{ errors: ['States.ALL'], next: 'RecordClusterState', resultField: 'none' }],
      timeoutSeconds: 60,
      holdsLock: false,
    },
  ),
  task(
    'RecordClusterState',
    'When the run did not succeed: the cluster as it is now (members, learners, unstarted, quorum) in remaining, with the verified snapshot and the restore procedure when quorum is lost',
    'safety',
    'ReleaseLock',
    {
      retry: [],
      catch: [{ errors: ['States.ALL'], next: 'ReleaseLock', resultField: 'none' }],
      timeoutSeconds: 120,
      holdsLock: false,
    },
  ),
  task('ReleaseLock', 'Release the cluster lock', 'preparation', 'RouteOutcome', {
    catch: [{ errors: ['States.ALL'], next: 'RouteOutcome', resultField: 'cleanupError' }],
    timeoutSeconds: 30,
    holdsLock: false,
  }),
  {
    kind: 'outcome',
    name: 'RouteOutcome',
    summary: 'Succeeded with no error; Refused on a refusal; Failed otherwise',
    refusedErrors: REFUSED_ERRORS,
    refused: 'Refused',
    failed: 'Failed',
    succeeded: 'Succeeded',
  } satisfies OutcomeSpec,
  { kind: 'succeed', name: 'Succeeded', summary: 'The failed member is replaced and every client names the live members' } satisfies FinalSpec,
  { kind: 'fail', name: 'Failed', summary: 'The run failed; the run record says what happened and what remains' } satisfies FinalSpec,
  {
    kind: 'succeed',
    name: 'Covered',
    summary: 'Another run that holds the lock replaces every failed member asked for: nothing to do here',
  } satisfies FinalSpec,
  { kind: 'fail', name: 'Refused', summary: 'The run refused to change anything that could cost quorum, data or the CA' } satisfies FinalSpec,
];

/** The name of every task state: a step missing from, or misspelt in, a `Record<TaskName, …>` is a type error. */
export type TaskName = Extract<(typeof STATE_LIST)[number], { kind: 'task' }>['name'];

/** Every state, in runbook order. The first is the start state. */
export const STATES: readonly StateSpec[] = STATE_LIST;

/** The task states in the order the runbook runs them. */
export const TASKS: readonly TaskSpec<TaskName>[] = STATES.filter((s): s is TaskSpec<TaskName> => s.kind === 'task');

/**
 * The tasks only one add method runs: the choices IsCertificateIssuedByPlaybook and IsMemberAddedByPlaybook
 * route around the other method's (the plan and the tests read this; test/unit/machine.test.ts walks both).
 */
export const ADD_METHOD_TASKS: Readonly<Record<AddMethod, readonly TaskName[]>> = {
  manual: ['IssueCertificates', 'VerifyCertificates', 'ConfigureNewMember', 'AddMember', 'StartNewMember'],
  ansible: ['CheckScaleupPlaybook', 'PrepareInventory', 'RunScaleupPlaybook'],
};

/** The tasks a run takes only when the new member could not join. */
export const COMPENSATION_TASKS: readonly TaskName[] = ['RestoreInventory', 'RestoreMasterUrls', 'CompensateNewMember'];

/** The guards every choice uses. */
export const GUARDS: GuardSpec[] = [
  coveredByAnotherRun,
  alreadyReplaced,
  addByPlaybook,
  failedHostReachable,
  peerUrlsOnLocalhost,
  addedAsLearner,
  anotherMember,
  takenIn,
  certificatesChecked,
];

/** The replacement of failed members (ReplaceFailedEtcdMember): the workflow every compiler takes unless told otherwise. */
export const REPLACE_WORKFLOW: WorkflowSpec<TaskName> = {
  id: 'ReplaceFailedEtcdMember',
  start: START_STATE,
  states: STATES,
  tasks: TASKS,
  guards: GUARDS,
};

export function stateSpec(name: string): StateSpec {
  const spec = STATES.find((s) => s.name === name);
  if (!spec) throw new Error(`no state named ${name}`);
  return spec;
}

export function taskSpec(name: string): TaskSpec {
  const spec = stateSpec(name);
  if (spec.kind !== 'task') throw new Error(`${name} is not a task`);
  return spec;
}
