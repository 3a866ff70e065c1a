// The fingerprint of a view of the cluster that a guarded membership change compares on the host:
// which members there are (by ID, voter or learner) and which of them answer. functions/scripts/etcdctl.sh
// computes the same string from what the host observes (its guarded verbs), so the two compare as text.
// Pure.

export interface FingerprintMember {
  id: string;
  isLearner: boolean;
}

/**
 * The members sorted by ID (16 lowercase hex digits, so text order is numeric order), each
 * `ID:v` (voter) or `ID:l` (learner), then `:1` when it answers and `:0` when not; comma-joined.
 */
export function viewFingerprint(members: readonly FingerprintMember[], answering: ReadonlySet<string>): string {
  return [...members]
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((m) => `${m.id}:${m.isLearner ? 'l' : 'v'}:${answering.has(m.id) ? 1 : 0}`)
    .join(',');
}
