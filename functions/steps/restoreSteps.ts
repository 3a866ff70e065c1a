// The restore-quorum workflow's steps, by task name (statemachine/restoreSpec.ts), as functions/steps/index.ts
// holds the replacement's. Partial while the restore is being built: a task whose step is not written yet is
// listed in RESTORE_TASKS_WITHOUT_STEP instead, and test/unit/restoreSteps.test.ts checks that every task of
// the model is in exactly one of the two.

import type { RestoreStep } from '../cluster/restoreFacts.ts';
import type { RestoreTaskName } from '../../statemachine/restoreSpec.ts';
import { AwaitApproval } from './AwaitApproval.ts';
import { ChooseRestorePoint } from './ChooseRestorePoint.ts';
import { ConfirmQuorumLost } from './ConfirmQuorumLost.ts';
import { FenceFormerMembers } from './FenceFormerMembers.ts';
import { ForceNewCluster } from './ForceNewCluster.ts';
import { ObserveQuorumLoss } from './ObserveQuorumLoss.ts';
import { RecordRestore } from './RecordRestore.ts';
import { RestoreFromSnapshot } from './RestoreFromSnapshot.ts';
import { ValidateRestoreRequest } from './ValidateRestoreRequest.ts';
import { VerifyRestoredMember } from './VerifyRestoredMember.ts';

/** Every restore task whose step exists, in runbook order. */
export const RESTORE_STEPS: Readonly<Partial<Record<RestoreTaskName, RestoreStep>>> = {
  ValidateRestoreRequest,
  ObserveQuorumLoss,
  ConfirmQuorumLost,
  ChooseRestorePoint,
  AwaitApproval,
  FenceFormerMembers,
  RestoreFromSnapshot,
  ForceNewCluster,
  VerifyRestoredMember,
  RecordRestore,
};

/**
 * The restore's tasks with no step registered yet: the replacement's steps the model shares (the lock, the re-add loop,
 * masters, flannel, the closing steps): they run on a RestoreContext once the re-add loop's entry loads each
 * former member into the per-member fields (statemachine/members.ts), which is not built yet; until then
 * none of them is registered here, not even the ones outside the loop, so that the table never runs half a
 * workflow.
 */
export const RESTORE_TASKS_WITHOUT_STEP = [
  'AcquireLock',
  'IssueCertificates',
  'VerifyCertificates',
  'OpenEtcdPorts',
  'InstallEtcd',
  'ConfigureNewMember',
  'AddMember',
  'StartNewMember',
  'PromoteNewMember',
  'VerifyClusterHealth',
  'RollMasters',
  'UpdateFlannel',
  'CompensateNewMember',
  'DiscardKeyBundle',
  'ReleaseLock',
] as const satisfies readonly RestoreTaskName[];
