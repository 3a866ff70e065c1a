// ObserveQuorumLoss: the restore's first observation (OpenShift 3.11 "Restoring etcd quorum", before
// anything is touched). The member list and each member's health through each host
// (functions/cluster/quorumObservation.ts); fewer than a majority of the voting members answering is a
// loss of quorum, anything else is refused at once with nothing changed: quorum is back, or one member
// is missing (`run` replaces it). The second observation is due a grace window later
// (confirmQuorumLossAfter, which WaitGraceWindow waits for). Read-only; a rerun observes again and, while
// quorum is still lost, keeps the first observation's time, so the window is not pushed back.

import { observeQuorumLoss } from '../cluster/quorumObservation.ts';
import type { RestoreStep } from '../cluster/restoreFacts.ts';

export const ObserveQuorumLoss: RestoreStep = async (context, deps) => {
  const { through, ...observed } = await observeQuorumLoss(context, deps);
  const earlier = context.quorumLossObserved && context.confirmQuorumLossAfter ? context.quorumLossObserved : undefined;
  const first = earlier ? { ...observed, at: earlier.at } : observed;
  const confirmQuorumLossAfter = earlier
    ? context.confirmQuorumLossAfter!
    : new Date(new Date(observed.at).getTime() + context.options.graceSeconds * 1000).toISOString();
  const when = earlier ? `first seen at ${earlier.at}, still lost` : `seen at ${observed.at}`;
  return {
    output: { quorumLossObserved: first, confirmQuorumLossAfter },
    detail: `${observed.verdict.reason} (${through}; ${when}); the second observation is due at ${confirmQuorumLossAfter}`,
    ...(earlier ? { skipped: true } : {}),
  };
};
