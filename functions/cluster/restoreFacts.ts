// What the restore-quorum steps (ChooseRestorePoint, FenceFormerMembers, ForceNewCluster) add to the
// workflow context, and the step contract they are written against: the replacement workflow's own
// (functions/workflow/step.ts) over a context that also holds these facts. Plain JSON, secret-free: the
// run record keeps it, and what a network fence replaced is in it until the host is unfenced.

import type { FencePrevious, Host, Inventory } from '../ports.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import type { ExpectedLoss, QuorumLossVerdict, RestorePoint, Survivor, UnreadHost } from '../../statemachine/restorePolicy.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import { InvalidInputError, ScriptFailedError } from '../errors.ts';

/** What the restore was asked for with, beyond the cluster (`etcd-replace restore-quorum …`, the cluster config). */
export interface RestoreOptions {
  /** `--from MEMBER`: force the cluster from this member's data (host name, hostname, IP or member ID). */
  from?: string;
  /** `--snapshot KEY`: restore this verified snapshot instead of any member's data. */
  snapshot?: string;
  /** The cluster config's `fenceUnreachable: stop-instance`: a former member that cannot be fenced on the host is powered off too. */
  fenceUnreachable?: 'stop-instance';
}

/** A member of the cluster before the restore, with the inventory host it runs on. */
export interface FormerMember {
  host: string;
  /** Null when no member list could be read and its data names no member. */
  memberId: string | null;
  name: string;
  isLearner: boolean;
}

/** How a former member was fenced (FenceFormerMembers): on the network always, on the host where it answered. */
export interface FencedHost {
  host: string;
  /** The network fence: `fenced` by this step now, `already` in place when the step looked (an earlier attempt, or an instance that is gone). */
  network: 'fenced' | 'already';
  /** What the fence state said, where it said more than "fenced" (an instance that is terminated). */
  networkReason?: string;
  /** The security groups to put back when the host is unfenced (EC2), where the fence replaced any. */
  previous?: FencePrevious;
  /** The fence was in place before this attempt and no earlier attempt recorded what it replaced (see the step's log). */
  previousUnknown?: boolean;
  /**
   * On the host: `fenced`, etcd stopped, its static pod in pods-stopped and /var/lib/etcd uploaded and
   * confirmed (FenceFormerMember.sh); `not-backed-up`, etcd stopped but the data could not leave the host;
   * `unreachable`, the host runs nothing (the network fence alone holds it).
   */
  onHost: 'fenced' | 'not-backed-up' | 'unreachable';
  onHostReason?: string;
  /** Where its data was uploaded, and what the host reported of it (absent: an empty data directory, or none). */
  backupKey?: string;
  backupBytes?: number;
  backupSha256?: string;
  /** `fenceUnreachable: stop-instance` powered the unreachable host off now, or found it off. */
  powerOff?: 'stopped' | 'already';
}

/** The survivor as ForceNewCluster left it: a cluster of one, its data backed up off the host first. */
export interface ForcedCluster {
  host: string;
  memberId: string;
  clusterId: string;
  name: string;
  peerUrl: string;
  revision: number;
  raftIndex: number;
  /** What the last call did, in order (setFlag, startForced, stop, removeFlag, start); empty: it only verified. */
  did: string[];
  peerUrlUpdated: boolean;
  /** The survivor's data before the force, in the artifact store. */
  backupKey: string;
  backupBytes: number;
  backupSha256: string;
}

/** The restore workflow's own context fields. */
export interface RestoreFacts {
  restore?: RestoreOptions;
  /** Written by ChooseRestorePoint. */
  quorumLoss?: QuorumLossVerdict;
  formerMembers?: FormerMember[];
  restorePoints?: RestorePoint[];
  /** Member hosts whose restore point could not be read, and why. */
  unread?: UnreadHost[];
  survivor?: Survivor;
  /** The survivor is a verified snapshot, not a member's data (the choice the restore's model routes on). */
  fromSnapshot?: boolean;
  expectedLoss?: ExpectedLoss;
  /** Written by FenceFormerMembers: every former member but the survivor, and how it was fenced. */
  fenced?: FencedHost[];
  /** Written by ForceNewCluster. */
  forced?: ForcedCluster;
}

export type RestoreContext = WorkflowContext & RestoreFacts;

export interface RestoreStepResult {
  output: Partial<RestoreContext>;
  detail: string;
  skipped?: boolean;
}

/** A restore step: the Step contract (functions/workflow/step.ts) over the restore context. */
export type RestoreStep = (context: RestoreContext, deps: StepDeps) => Promise<RestoreStepResult>;

/** Where the restore keeps its artifacts: each former member's data, and the survivor's before it is forced. */
export const restoreKey = {
  fence: (runId: string, hostname: string) => `runs/${runId}/fence-${hostname}.tgz`,
  force: (runId: string, hostname: string) => `runs/${runId}/force-${hostname}.tgz`,
};

/** The inventory host of that short name: InvalidInputError when the inventory has none (the run state names a host it no longer knows). */
export function hostNamed(inventory: Inventory, name: string): Host {
  const host = inventory.hosts.find((h) => h.name === name);
  if (!host) throw new InvalidInputError('host', `${name} is not a host of cluster ${inventory.cluster}`);
  return host;
}

/** The former members other than the survivor's (all of them when a snapshot is restored). */
export function othersThanSurvivor(members: readonly FormerMember[], survivor: Survivor): FormerMember[] {
  return members.filter((m) => survivor.kind !== 'member' || m.host !== survivor.host);
}

/**
 * A data backup as FenceFormerMember.sh and ForceNewCluster.sh print it (lib/quorumRestore.sh qr_backup):
 * `marked`, this run confirmed it before (the marker's values); `empty`, the data directory was empty.
 */
export interface HostBackup {
  marked: boolean;
  empty?: boolean;
  bytes?: number;
  sha256?: string;
  manifest?: string;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** BYTES SHA256 MANIFEST for a script's `confirm`/`force` (`0 empty empty` for an empty directory), checked before they reach a shell. */
export function backupArgs(host: Host, script: string, backup: HostBackup): [string, string, string] {
  if (backup.empty === true) return ['0', 'empty', 'empty'];
  const { bytes, sha256, manifest } = backup;
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0 || !HEX64.test(sha256 ?? '') || !HEX64.test(manifest ?? '')) {
    throw new ScriptFailedError(host.name, script, 0, `printed a backup that is not {bytes, sha256, manifest}: ${JSON.stringify(backup).slice(0, 200)}`);
  }
  return [String(bytes), sha256 ?? '', manifest ?? ''];
}
