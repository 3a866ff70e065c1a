// Every step implementation, by state name: the XState run and the Lambda handler both look them up here.

import type { Step } from '../workflow/step.ts';
import { perMember } from '../workflow/perMember.ts';
import type { TaskName } from '../../statemachine/spec.ts';
import { AcquireLock } from './AcquireLock.ts';
import { AddMember } from './AddMember.ts';
import { AwaitSnapshot } from './AwaitSnapshot.ts';
import { BackUpFailedMemberData } from './BackUpFailedMemberData.ts';
import { CheckClusterHealth } from './CheckClusterHealth.ts';
import { CheckScaleupPlaybook } from './CheckScaleupPlaybook.ts';
import { CompensateNewMember } from './CompensateNewMember.ts';
import { DiscardKeyBundle } from './DiscardKeyBundle.ts';
import { RecordClusterState } from './RecordClusterState.ts';
import { ConfigureNewMember } from './ConfigureNewMember.ts';
import { ConfirmMemberFailed } from './ConfirmMemberFailed.ts';
import { FixLocalhostPeerUrls } from './FixLocalhostPeerUrls.ts';
import { InstallEtcd } from './InstallEtcd.ts';
import { IssueCertificates } from './IssueCertificates.ts';
import { OpenEtcdPorts } from './OpenEtcdPorts.ts';
import { PromoteNewMember } from './PromoteNewMember.ts';
import { PrepareInventory } from './PrepareInventory.ts';
import { ProvisionReplacement } from './ProvisionReplacement.ts';
import { ReleaseLock } from './ReleaseLock.ts';
import { RemoveFailedMember } from './RemoveFailedMember.ts';
import { RestoreInventory } from './RestoreInventory.ts';
import { RestoreMasterUrls } from './RestoreMasterUrls.ts';
import { RollMasters } from './RollMasters.ts';
import { RunScaleupPlaybook } from './RunScaleupPlaybook.ts';
import { SnapshotCluster } from './SnapshotCluster.ts';
import { StartNewMember } from './StartNewMember.ts';
import { StopFailedMember } from './StopFailedMember.ts';
import { TerminateLaunchedHost } from './TerminateLaunchedHost.ts';
import { UpdateFlannel } from './UpdateFlannel.ts';
import { UpdateInventory } from './UpdateInventory.ts';
import { ValidateInput } from './ValidateInput.ts';
import { VerifyCertificates } from './VerifyCertificates.ts';
import { VerifyClusterHealth } from './VerifyClusterHealth.ts';

/**
 * Every task's step, in runbook order (TASKS): a missing or misspelt step is a type error. The first step of
 * each per-member loop (statemachine/members.ts LOOP_ENTRY) loads the member it works on when a run replaces several.
 */
export const STEPS: Readonly<Record<TaskName, Step>> = {
  ValidateInput,
  AcquireLock,
  CheckClusterHealth,
  ProvisionReplacement,
  SnapshotCluster,
  CheckScaleupPlaybook,
  IssueCertificates: perMember('prepare', IssueCertificates),
  VerifyCertificates,
  OpenEtcdPorts,
  InstallEtcd,
  ConfirmMemberFailed,
  RemoveFailedMember: perMember('remove', RemoveFailedMember),
  StopFailedMember,
  BackUpFailedMemberData,
  FixLocalhostPeerUrls,
  PrepareInventory,
  RunScaleupPlaybook,
  ConfigureNewMember: perMember('add', ConfigureNewMember),
  AddMember,
  StartNewMember,
  AwaitSnapshot,
  PromoteNewMember,
  VerifyClusterHealth,
  UpdateInventory,
  RollMasters,
  UpdateFlannel,
  RestoreInventory,
  RestoreMasterUrls,
  CompensateNewMember,
  DiscardKeyBundle,
  TerminateLaunchedHost,
  RecordClusterState,
  ReleaseLock,
};

export type { Step } from '../workflow/step.ts';
