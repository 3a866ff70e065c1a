// What the restore-quorum steps share beyond their context (statemachine/restoreContext.ts, the one
// RestoreContext): the step contract they are written against (the replacement's own,
// functions/workflow/step.ts, over the restore's context), where the restore keeps its artifacts, and the
// helpers that read the context's hosts and check a host's backup before it reaches a shell.

import type { Host, Inventory } from '../ports.ts';
import type { FencedHost, ForcedCluster, FormerMember, RestoreContext } from '../../statemachine/restoreContext.ts';
import type { Survivor } from '../../statemachine/restorePolicy.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import { InvalidInputError, RefusedError, ScriptFailedError } from '../errors.ts';

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
 * The cluster of one a host script left, as ForceNewCluster.sh and RestoreFromSnapshot.sh both print it:
 * the fields of the model's ForcedCluster that the host knows (the step adds the host and the backup).
 */
export type ClusterOfOneReport = Pick<ForcedCluster, 'memberId' | 'clusterId' | 'name' | 'peerUrl' | 'revision' | 'raftIndex' | 'did' | 'peerUrlUpdated'>;

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

/**
 * Lifts the network fence of a former member that no longer needs it (issue 24 §4: it stays until the host
 * has been fenced on the host, or re-added): refused unless its record says it was fenced on the host (etcd
 * stopped, its static pod moved, its data stored off the host and checked), or when what the fence replaced
 * is not known (EC2: the groups to put back). Looks first, so a rerun changes nothing; checks it is lifted
 * after. Returns the fence records with this host's marked lifted (FencedHost.networkLifted).
 */
export async function liftNetworkFence(
  deps: StepDeps,
  host: Host,
  fenced: readonly FencedHost[],
  by: NonNullable<FencedHost['networkLifted']>['by'],
): Promise<{ fenced: FencedHost[]; changed: boolean }> {
  const record = fenced.find((f) => f.host === host.name);
  if (!record?.how.includes('on-host')) {
    throw new RefusedError(
      `${host.name}: not lifting its network fence: it was not fenced on the host (${record ? record.how.join(', ') : 'no fence record'})`,
    );
  }
  if (record.previousUnknown === true) {
    throw new RefusedError(
      `${host.name}: not lifting its network fence: what it replaced is not recorded (see FenceFormerMembers' log for the security groups to put back); put them back by hand, then run again`,
    );
  }
  let changed = false;
  if ((await deps.securityGroups.describeFence(host)).fenced) {
    changed = (await deps.securityGroups.unfence(host, record.previous)).changed;
    const now = await deps.securityGroups.describeFence(host);
    if (now.fenced) throw new RefusedError(`${host.name}: its network fence still holds after it was lifted${now.reason ? ` (${now.reason})` : ''}`);
  }
  const networkLifted = record.networkLifted ?? { at: deps.now().toISOString(), by };
  return { fenced: fenced.map((f) => (f.host === host.name ? { ...f, networkLifted } : f)), changed };
}
