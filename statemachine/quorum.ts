// Quorum arithmetic and the safety verdicts built on it. Pure: the steps feed it what they observed.

export interface MemberHealth {
  id: string;
  name: string;
  isLearner: boolean;
  /** Answered a status request in this observation. */
  healthy: boolean;
}

/** Votes needed for a cluster of `voters` voting members. */
export function quorumOf(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

export interface QuorumVerdict {
  ok: boolean;
  reason: string;
  voters: number;
  healthyVoters: number;
}

/**
 * Whether `failedId` can be removed (and a replacement then added) without losing quorum:
 * the cluster must have quorum now, and still have it once the failed member's vote is gone.
 * A learner counts for nothing either way.
 */
export function quorumForRemoval(members: MemberHealth[], failedId: string | null): QuorumVerdict {
  const voters = members.filter((m) => !m.isLearner);
  const healthyVoters = voters.filter((m) => m.healthy && m.id !== failedId).length;
  const now = quorumOf(voters.length);
  const healthyNow = voters.filter((m) => m.healthy).length;
  const base = { voters: voters.length, healthyVoters };
  if (healthyNow < now) {
    return {
      ...base,
      ok: false,
      reason: `the cluster has no quorum: ${healthyNow} of ${voters.length} voting members answer and ${now} are needed`,
    };
  }
  const failedVotes = voters.some((m) => m.id === failedId) ? 1 : 0;
  const after = quorumOf(voters.length - failedVotes);
  if (healthyVoters < after) {
    return {
      ...base,
      ok: false,
      reason: `removing the member would leave ${healthyVoters} healthy voting members where ${after} are needed`,
    };
  }
  return { ...base, ok: true, reason: `${healthyNow} of ${voters.length} voting members answer; ${after} needed after the change` };
}

export interface QuorumNow {
  voters: number;
  /** Voting members that answered as themselves. */
  answering: number;
  needed: number;
  has: boolean;
  /** Without quorum: whether the voting member still starting (`startingVoterId`) would bring it back. */
  restorable: boolean;
  text: string;
}

/**
 * Quorum as observed now. A voting member that has been added but not started yet (a new member
 * without a learner) brings quorum back when it starts, if its vote is the one missing: then the run
 * can wait for it; otherwise nothing the run does restores quorum.
 */
export function quorumNow(members: MemberHealth[], startingVoterId?: string): QuorumNow {
  const voters = members.filter((m) => !m.isLearner);
  const answering = voters.filter((m) => m.healthy).length;
  const needed = quorumOf(voters.length);
  const has = answering >= needed;
  const starting = voters.some((m) => m.id === startingVoterId && !m.healthy);
  const restorable = !has && starting && answering + 1 >= needed;
  const text = `${answering} of ${voters.length} voting members answer and ${needed} are needed`;
  return { voters: voters.length, answering, needed, has, restorable, text: has ? `quorum holds: ${text}` : `quorum is lost: ${text}` };
}

/** The member count a run ends with must be odd: refuse a request that would end even. */
export function endsOdd(membersNow: number, removing: number, adding: number): boolean {
  return (membersNow - removing + adding) % 2 === 1;
}

/** What an operator needs when quorum is already gone: this workflow must not touch membership. */
export const DISASTER_RECOVERY_GUIDANCE = [
  'quorum is lost: membership cannot be changed safely and this workflow will not try.',
  'What remains is restore-quorum: restore the cluster from a snapshot instead (OpenShift 3.11 "Restoring etcd quorum"):',
  '  1. on a surviving member: ETCDCTL_API=3 etcdctl snapshot save, or take the newest snapshot from the artifact store',
  '  2. stop etcd on every member (move /etc/origin/node/pods/etcd.yaml away)',
  '  3. ETCDCTL_API=3 etcdctl snapshot restore on one member with --force-new-cluster semantics, start it',
  '  4. add the other members back one at a time with this tool or the runbook',
].join('\n');
