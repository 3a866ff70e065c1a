// The restore-quorum workflow's paths as the tests expect them (statemachine/restoreSpec.ts): its states in
// runbook order, the re-add loop's tasks for one former member, and the tasks of a restore from a survivor
// that re-adds two former members.

/** Every state of the restore, in runbook order. */
export const RESTORE_STATES = [
  'ValidateRestoreRequest',
  'AcquireLock',
  'ObserveQuorumLoss',
  'WaitGraceWindow',
  'ConfirmQuorumLost',
  'ChooseRestorePoint',
  'IsApprovalWaived',
  'AwaitApproval',
  'FenceFormerMembers',
  'IsFromSnapshot',
  'RestoreFromSnapshot',
  'ForceNewCluster',
  'VerifyRestoredMember',
  'PrepareFormerMember',
  'IssueCertificates',
  'VerifyCertificates',
  'OpenEtcdPorts',
  'InstallEtcd',
  'ConfigureNewMember',
  'AddMember',
  'StartNewMember',
  'IsNewMemberLearner',
  'PromoteNewMember',
  'VerifyClusterHealth',
  'IsAnotherMemberToReAdd',
  'RollMasters',
  'UpdateFlannel',
  'RecordRestore',
  'CompensateNewMember',
  'DiscardKeyBundle',
  'ReleaseLock',
  'RouteOutcome',
  'Succeeded',
  'Failed',
  'Refused',
] as const;

/** The re-add loop's tasks for one former member, on the plain path (no learner). */
export const RESTORE_READD = [
  'PrepareFormerMember',
  'IssueCertificates',
  'VerifyCertificates',
  'OpenEtcdPorts',
  'InstallEtcd',
  'ConfigureNewMember',
  'AddMember',
  'StartNewMember',
  'VerifyClusterHealth',
] as const;

/** The tasks of a restore from a survivor, approved, that re-adds two former members and succeeds. */
export const RESTORE_TASKS_FROM_SURVIVOR = [
  'ValidateRestoreRequest',
  'AcquireLock',
  'ObserveQuorumLoss',
  'ConfirmQuorumLost',
  'ChooseRestorePoint',
  'AwaitApproval',
  'FenceFormerMembers',
  'ForceNewCluster',
  'VerifyRestoredMember',
  ...RESTORE_READD,
  ...RESTORE_READD,
  'RollMasters',
  'UpdateFlannel',
  'RecordRestore',
  'DiscardKeyBundle',
  'ReleaseLock',
] as const;
