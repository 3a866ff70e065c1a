// The restore-quorum workflow's steps, by task name (statemachine/restoreSpec.ts), as functions/steps/index.ts
// holds the replacement's: every task of the model has its step (test/unit/restoreSteps.test.ts). The steps
// both workflows run are the replacement's own, unwrapped: the restore's re-add loop is entered by its own
// step, PrepareFormerMember, which loads each former member into the per-member fields they read
// (statemachine/members.ts), so none of them is the loop's entry here as IssueCertificates and
// ConfigureNewMember are in the replacement's loops.

import type { RestoreStep } from '../cluster/restoreFacts.ts';
import type { Step } from '../workflow/step.ts';
import type { RestoreTaskName } from '../../statemachine/restoreSpec.ts';
import { AcquireLock } from './AcquireLock.ts';
import { AddMember } from './AddMember.ts';
import { AwaitApproval } from './AwaitApproval.ts';
import { ChooseRestorePoint } from './ChooseRestorePoint.ts';
import { CompensateNewMember } from './CompensateNewMember.ts';
import { ConfigureNewMember } from './ConfigureNewMember.ts';
import { ConfirmQuorumLost } from './ConfirmQuorumLost.ts';
import { DiscardKeyBundle } from './DiscardKeyBundle.ts';
import { FenceFormerMembers } from './FenceFormerMembers.ts';
import { ForceNewCluster } from './ForceNewCluster.ts';
import { InstallEtcd } from './InstallEtcd.ts';
import { IssueCertificates } from './IssueCertificates.ts';
import { ObserveQuorumLoss } from './ObserveQuorumLoss.ts';
import { OpenEtcdPorts } from './OpenEtcdPorts.ts';
import { PrepareFormerMember } from './PrepareFormerMember.ts';
import { PromoteNewMember } from './PromoteNewMember.ts';
import { RecordRestore } from './RecordRestore.ts';
import { ReleaseLock } from './ReleaseLock.ts';
import { RestoreFromSnapshot } from './RestoreFromSnapshot.ts';
import { RollMasters } from './RollMasters.ts';
import { StartNewMember } from './StartNewMember.ts';
import { UpdateFlannel } from './UpdateFlannel.ts';
import { ValidateRestoreRequest } from './ValidateRestoreRequest.ts';
import { VerifyCertificates } from './VerifyCertificates.ts';
import { VerifyClusterHealth } from './VerifyClusterHealth.ts';
import { VerifyRestoredMember } from './VerifyRestoredMember.ts';

/**
 * A replacement step on the restore's context, the function itself (its name is its task's). A RestoreContext
 * is a WorkflowContext, so the step reads it as it is; it writes only replacement fields, never the options,
 * whose restore type (RestoreRunOptions) is the one thing its output's type does not know.
 */
const shared = (step: Step): RestoreStep => step as unknown as RestoreStep;

/**
 * VerifyClusterHealth on the restore: the replacement's, and when it passed (clusterVerifiedAt). After the last
 * re-added member it is the moment the cluster is back at its former strength (RecordRestore).
 */
const verifyClusterHealth: RestoreStep = async (context, deps) => {
  const result = await shared(VerifyClusterHealth)(context, deps);
  return { ...result, output: { ...result.output, clusterVerifiedAt: deps.now().toISOString() } };
};
Object.defineProperty(verifyClusterHealth, 'name', { value: 'VerifyClusterHealth' });

/** Every restore task's step, in runbook order: a missing or misspelt step is a type error. */
export const RESTORE_STEPS: Readonly<Record<RestoreTaskName, RestoreStep>> = {
  ValidateRestoreRequest,
  AcquireLock: shared(AcquireLock),
  ObserveQuorumLoss,
  ConfirmQuorumLost,
  ChooseRestorePoint,
  AwaitApproval,
  FenceFormerMembers,
  RestoreFromSnapshot,
  ForceNewCluster,
  VerifyRestoredMember,
  PrepareFormerMember,
  IssueCertificates: shared(IssueCertificates),
  VerifyCertificates: shared(VerifyCertificates),
  OpenEtcdPorts: shared(OpenEtcdPorts),
  InstallEtcd: shared(InstallEtcd),
  ConfigureNewMember: shared(ConfigureNewMember),
  AddMember: shared(AddMember),
  StartNewMember: shared(StartNewMember),
  PromoteNewMember: shared(PromoteNewMember),
  VerifyClusterHealth: verifyClusterHealth,
  RollMasters: shared(RollMasters),
  UpdateFlannel: shared(UpdateFlannel),
  RecordRestore,
  CompensateNewMember: shared(CompensateNewMember),
  DiscardKeyBundle: shared(DiscardKeyBundle),
  ReleaseLock: shared(ReleaseLock),
};
