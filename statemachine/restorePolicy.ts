// Restoring a cluster that lost quorum (OpenShift 3.11 "Restoring etcd quorum"), as policy: whether quorum
// is lost at all, which member's data (or which verified snapshot) the cluster is forced from, what that
// choice loses against the newest data seen anywhere, and when a person's approval may be waived. Pure:
// the steps feed it what they observed (the observation's MemberHealth, DescribeRestorePoint.sh on each
// member host, the run records) and turn its refusals into named errors.

import { quorumOf, type MemberHealth } from './quorum.ts';

// ---------------------------------------------------------------------------------------------
// Quorum lost, or not.

/**
 * Why a restore is refused although it was asked for: `quorum-back`, a majority of voting members
 * answers; `one-member-missing`, exactly one does not and quorum holds (`run` replaces it); `no-members`,
 * the observation names no voting member.
 */
export type NotLost = 'quorum-back' | 'one-member-missing' | 'no-members';

export interface QuorumLossVerdict {
  lost: boolean;
  /** Set when `lost` is false: which refusal it is. */
  refusal?: NotLost;
  voters: number;
  /** Voting members that answered as themselves. */
  answering: number;
  needed: number;
  /** Names of the voting members that did not answer. */
  silent: string[];
  reason: string;
}

/** Whether the observation shows a cluster that lost quorum: fewer than a majority of its voting members answer. A learner counts for nothing. */
export function quorumLoss(health: readonly MemberHealth[]): QuorumLossVerdict {
  const voters = health.filter((m) => !m.isLearner);
  const answering = voters.filter((m) => m.healthy).length;
  const needed = quorumOf(voters.length);
  const silent = voters.filter((m) => !m.healthy).map((m) => m.name || m.id);
  const base = { voters: voters.length, answering, needed, silent };
  const counts = `${answering} of ${voters.length} voting members answer and ${needed} are needed`;
  if (voters.length === 0)
    return { ...base, lost: false, refusal: 'no-members', reason: 'the observation names no voting member: there is nothing to restore' };
  if (answering < needed) return { ...base, lost: true, reason: `quorum is lost: ${counts}` };
  if (silent.length === 1) {
    return {
      ...base,
      lost: false,
      refusal: 'one-member-missing',
      reason: `quorum holds with one member missing (${silent[0]}): ${counts}; \`run --failed ${silent[0]}\` replaces it, nothing was changed`,
    };
  }
  const missing = silent.length > 0 ? `; \`run\` with a --failed for each replaces the ${silent.length} that do not answer (${silent.join(', ')})` : '';
  return { ...base, lost: false, refusal: 'quorum-back', reason: `quorum is back: ${counts}${missing}; nothing was changed` };
}

// ---------------------------------------------------------------------------------------------
// Restore points and the survivor.

/** What DescribeRestorePoint.sh prints for one host (its JSON line), with the host it ran on. */
export interface RestorePoint {
  /** The inventory host's short name, hostname and IP. */
  host: string;
  hostname: string;
  ip: string;
  /** `running`: etcd answered (its endpoint status); `stopped`: read from /var/lib/etcd. */
  etcd: 'running' | 'stopped';
  source: 'endpoint' | 'backend' | 'none';
  memberId: string | null;
  clusterId: string | null;
  name: string | null;
  leaderId: string | null;
  members: number | null;
  version: string | null;
  revision: number | null;
  raftIndex: number | null;
  raftTerm: number | null;
  dbBytes: number | null;
  keys: number | null;
}

/** What DescribeRestorePoint.sh prints for one host, before the host it ran on is added. */
export type DescribedRestorePoint = Omit<RestorePoint, 'host' | 'hostname' | 'ip'>;

/** A member host whose restore point could not be read (unreachable, or etcdctl rejects its backend). */
export interface UnreadHost {
  host: string;
  reason: string;
}

/** A snapshot a run stored and checked (its record's snapshotKey and snapshotVerified). */
export interface VerifiedSnapshot {
  key: string;
  runId: string;
  /** When that run started (ISO): the newest run's snapshot is the newest. */
  at: string;
  revision: number;
  bytes: number;
  sha256: string;
  location: string;
}

/** What the cluster is forced from: a member's data on its host, or a verified snapshot. */
export type Survivor =
  | {
      kind: 'member';
      host: string;
      memberId: string | null;
      revision: number;
      raftIndex: number | null;
      etcd: 'running' | 'stopped';
      /** How it was chosen: ranked best, or named by `--from`. */
      chosenBy: 'rank' | 'from';
    }
  | {
      kind: 'snapshot';
      key: string;
      runId: string;
      at: string;
      revision: number;
      bytes: number;
      sha256: string;
      location: string;
      /** How it was chosen: named by `--snapshot`, or the newest verified one because no member has usable data. */
      chosenBy: 'snapshot' | 'newest';
    };

/** Why a point cannot be forced from, or null when it can: no data, no revision, another cluster's data, no member, a learner. */
export function unusable(
  point: RestorePoint,
  cluster: { clusterId?: string; memberIds?: readonly string[]; learnerIds?: readonly string[] } = {},
): string | null {
  if (point.source === 'none') return 'its data directory holds no member';
  if (point.revision === null) return 'its data shows no revision';
  if (cluster.clusterId && point.clusterId && point.clusterId !== cluster.clusterId)
    return `its data is of cluster ${point.clusterId}, not ${cluster.clusterId}`;
  if (cluster.memberIds && point.memberId && !cluster.memberIds.includes(point.memberId)) return `its member ${point.memberId} is not in the member list`;
  if (cluster.learnerIds && point.memberId && cluster.learnerIds.includes(point.memberId))
    return `its member ${point.memberId} is a learner, which may not have caught up`;
  return null;
}

/**
 * Best first: the highest revision, then the highest raft index (a stopped member's backend may lag what
 * it applied, so revision decides first), then a member whose etcd answers over a stopped one, then the
 * host name (a stable tie-break).
 */
export function compareRestorePoints(a: RestorePoint, b: RestorePoint): number {
  const desc = (x: number | null, y: number | null) => (y ?? -1) - (x ?? -1);
  return (
    desc(a.revision, b.revision) ||
    desc(a.raftIndex, b.raftIndex) ||
    (a.etcd === b.etcd ? 0 : a.etcd === 'running' ? -1 : 1) ||
    (a.host < b.host ? -1 : a.host > b.host ? 1 : 0)
  );
}

export interface ChooseInput {
  points: readonly RestorePoint[];
  unread?: readonly UnreadHost[];
  /** The cluster as the observation shows it, when it does: points of another cluster or no member are not usable. */
  clusterId?: string;
  memberIds?: readonly string[];
  /** Members of the list that are learners: never the survivor. */
  learnerIds?: readonly string[];
  /** Verified snapshots of earlier runs that the store still holds. */
  snapshots?: readonly VerifiedSnapshot[];
  /** `--from MEMBER`: host name, hostname, IP, member ID or member name, matched exactly. */
  from?: string;
  /** `--snapshot KEY`: the artifact key of a verified snapshot. */
  snapshot?: string;
}

export type Choice =
  | { ok: true; survivor: Survivor; candidates: RestorePoint[]; rejected: Array<{ host: string; reason: string }> }
  /** Bad input (`--from`, `--snapshot`): exit 2, nothing changed. */
  | { ok: false; invalid: 'from' | 'snapshot'; reason: string }
  /** Nothing to restore from: refused, nothing changed. */
  | { ok: false; refused: true; reason: string };

const fromMember = (p: RestorePoint, chosenBy: 'rank' | 'from'): Survivor => ({
  kind: 'member',
  host: p.host,
  memberId: p.memberId,
  revision: p.revision ?? 0,
  raftIndex: p.raftIndex,
  etcd: p.etcd,
  chosenBy,
});

const fromSnapshot = (s: VerifiedSnapshot, chosenBy: 'snapshot' | 'newest'): Survivor => ({ kind: 'snapshot', ...s, chosenBy });

/** The newest first: by the run's start, then the higher revision, then the key. */
export function newestSnapshots(snapshots: readonly VerifiedSnapshot[]): VerifiedSnapshot[] {
  return [...snapshots].sort((a, b) => b.at.localeCompare(a.at) || b.revision - a.revision || a.key.localeCompare(b.key));
}

/**
 * The survivor: `--snapshot` names a verified snapshot; `--from` names a member with a usable restore point;
 * otherwise the best usable restore point (compareRestorePoints), or, when no member has usable data, the
 * newest verified snapshot.
 */
export function chooseSurvivor(input: ChooseInput): Choice {
  const cluster = {
    ...(input.clusterId ? { clusterId: input.clusterId } : {}),
    ...(input.memberIds ? { memberIds: input.memberIds } : {}),
    ...(input.learnerIds ? { learnerIds: input.learnerIds } : {}),
  };
  const rejected = input.points.flatMap((p) => {
    const why = unusable(p, cluster);
    return why ? [{ host: p.host, reason: why }] : [];
  });
  const candidates = input.points.filter((p) => unusable(p, cluster) === null).sort(compareRestorePoints);
  const snapshots = newestSnapshots(input.snapshots ?? []);
  if (input.from !== undefined && input.snapshot !== undefined) {
    return { ok: false, invalid: 'from', reason: '--from and --snapshot exclude each other: name a member or a snapshot' };
  }
  if (input.snapshot !== undefined) {
    const named = snapshots.find((s) => s.key === input.snapshot);
    if (!named) {
      const known =
        snapshots.length > 0 ? `; verified snapshots: ${snapshots.map((s) => s.key).join(', ')}` : '; no run has a verified snapshot of this cluster';
      return { ok: false, invalid: 'snapshot', reason: `${input.snapshot} is not a snapshot a run verified and the store holds${known}` };
    }
    return { ok: true, survivor: fromSnapshot(named, 'snapshot'), candidates, rejected };
  }
  if (input.from !== undefined) {
    const asked = input.from;
    const point = input.points.find((p) => [p.host, p.hostname, p.ip, p.memberId, p.name].includes(asked));
    if (!point) {
      const unread = (input.unread ?? []).find((u) => u.host === asked);
      const why = unread ? `${unread.host} could not be read (${unread.reason})` : 'it names no member host whose data was read';
      return { ok: false, invalid: 'from', reason: `${asked} has no restore point: ${why}` };
    }
    const why = unusable(point, cluster);
    if (why) return { ok: false, invalid: 'from', reason: `${asked} has no usable restore point: ${why}` };
    return { ok: true, survivor: fromMember(point, 'from'), candidates, rejected };
  }
  const best = candidates[0];
  if (best) return { ok: true, survivor: fromMember(best, 'rank'), candidates, rejected };
  const newest = snapshots[0];
  if (newest) return { ok: true, survivor: fromSnapshot(newest, 'newest'), candidates, rejected };
  return {
    ok: false,
    refused: true,
    reason: 'no member has usable data and no run has a verified snapshot of this cluster in the store: there is nothing to restore from; nothing was changed',
  };
}

/**
 * Verified snapshots in run records of the cluster (any outcome: a run that failed later may have
 * verified its snapshot first). Records whose context does not hold a well-formed one are passed over.
 */
export function verifiedSnapshots(
  records: ReadonlyArray<{ runId: string; cluster: string; startedAt: string; context: Record<string, unknown> }>,
  cluster: string,
): VerifiedSnapshot[] {
  return records.flatMap((r) => {
    if (r.cluster !== cluster) return [];
    const key = r.context['snapshotKey'];
    const v = r.context['snapshotVerified'] as Record<string, unknown> | undefined;
    if (typeof key !== 'string' || typeof v !== 'object' || v === null) return [];
    const { location, bytes, sha256, revision } = v;
    if (typeof location !== 'string' || typeof sha256 !== 'string' || typeof bytes !== 'number' || typeof revision !== 'number') return [];
    return [{ key, runId: r.runId, at: r.startedAt, revision, bytes, sha256, location }];
  });
}

// ---------------------------------------------------------------------------------------------
// The expected loss.

export interface ExpectedLoss {
  /** The highest revision any usable restore point (or the chosen snapshot) shows; null when none was read. */
  highestRevision: number | null;
  /** The hosts that hold it. */
  highestOn: string[];
  chosenRevision: number;
  /** Revisions (write transactions) after the chosen one, up to the highest seen: what the restore loses at least; null when no member's data could be read (not known). */
  revisionsLost: number | null;
  /** Member hosts whose data was not read: they may hold more than `highestRevision`. */
  unread: string[];
  /** One sentence for the plan and the approval line. */
  text: string;
}

const nameOf = (survivor: Survivor) => (survivor.kind === 'member' ? survivor.host : `snapshot ${survivor.key} (run ${survivor.runId})`);

/** What the choice loses: the highest revision seen anywhere against the chosen one. */
export function expectedLoss(survivor: Survivor, points: readonly RestorePoint[], unread: readonly UnreadHost[] = []): ExpectedLoss {
  const seen = points.filter((p) => p.source !== 'none' && p.revision !== null);
  const highestRevision = seen.length > 0 ? Math.max(...seen.map((p) => p.revision ?? 0)) : null;
  const highestOn = seen
    .filter((p) => p.revision === highestRevision)
    .map((p) => p.host)
    .sort();
  const chosenRevision = survivor.revision;
  const revisionsLost = highestRevision === null ? null : Math.max(0, highestRevision - chosenRevision);
  const notRead = unread.map((u) => u.host).sort();
  const caveat = notRead.length > 0 ? `; not read: ${unread.map((u) => `${u.host} (${u.reason})`).join(', ')}, which may hold more` : '';
  let text: string;
  if (highestRevision === null) {
    text = `restoring ${nameOf(survivor)} at revision ${chosenRevision}: no member's data could be read, so what was written after it is lost and its amount is not known${caveat}`;
  } else if (revisionsLost === 0) {
    text = `nothing is expected to be lost: ${nameOf(survivor)} at revision ${chosenRevision} holds the highest revision seen (${highestRevision}, on ${highestOn.join(', ')})${caveat}`;
  } else {
    text = `restoring ${nameOf(survivor)} at revision ${chosenRevision} loses the ${revisionsLost} revision(s) after it up to ${highestRevision}, the highest seen (on ${highestOn.join(', ')})${caveat}`;
  }
  return { highestRevision, highestOn, chosenRevision, revisionsLost, unread: notRead, text };
}

// ---------------------------------------------------------------------------------------------
// Approval and its waivers.

/**
 * The conditions under which a cluster's config may waive the approval, by name. Only these: any other
 * name in a config is refused when the config is read (unknownWaivers), and never waives anything.
 */
export const APPROVAL_WAIVERS = {
  'all-others-terminated': 'every member but the survivor is an EC2 instance in terminated state: none of them can ever come back',
} as const;
export type WaiverCondition = keyof typeof APPROVAL_WAIVERS;

/** Names in a config's waiver list that are no waiver condition. */
export function unknownWaivers(names: readonly string[]): string[] {
  return names.filter((n) => !Object.hasOwn(APPROVAL_WAIVERS, n));
}

/** A former member of the cluster as far as the waivers need it: its host and, on EC2, its instance's state. */
export interface FormerMemberState {
  host: string;
  instanceId?: string;
  /** EC2's instance state (`running`, `stopped`, `terminated`, …); absent where there is no instance (the sandbox) or it is not known. */
  instanceState?: string;
}

export interface ApprovalVerdict {
  required: boolean;
  /** The condition that waived it, when one did. */
  waivedBy?: WaiverCondition;
  reason: string;
}

const HOLDS: Record<WaiverCondition, (others: readonly FormerMemberState[]) => string | null> = {
  'all-others-terminated': (others) => {
    if (others.length === 0) return 'there is no other member';
    const alive = others.filter((o) => !o.instanceId || o.instanceState !== 'terminated');
    if (alive.length === 0) return null;
    return `not terminated: ${alive.map((o) => `${o.host} (${o.instanceId ? (o.instanceState ?? 'state not known') : 'no EC2 instance'})`).join(', ')}`;
  },
};

/**
 * Whether the restore waits for a person's approval: always, unless a condition the config names holds.
 * `members` are every former member; the survivor's own host (a member survivor) is not among "the others".
 */
export function approvalNeeded(waivers: readonly string[], survivor: Survivor, members: readonly FormerMemberState[]): ApprovalVerdict {
  const others = members.filter((m) => survivor.kind !== 'member' || m.host !== survivor.host);
  const named = waivers.filter((w): w is WaiverCondition => Object.hasOwn(APPROVAL_WAIVERS, w));
  if (named.length === 0) return { required: true, reason: 'approval is required: the cluster config waives it under no condition' };
  const misses: string[] = [];
  for (const condition of named) {
    const miss = HOLDS[condition](others);
    if (miss === null) return { required: false, waivedBy: condition, reason: `approval waived by the config's ${condition}: ${APPROVAL_WAIVERS[condition]}` };
    misses.push(`${condition} does not hold (${miss})`);
  }
  return { required: true, reason: `approval is required: ${misses.join('; ')}` };
}
