// ConfirmQuorumLost: the restore's second observation, a grace window after the first
// (confirmQuorumLossAfter). The same observation as ObserveQuorumLoss's; quorum still lost confirms the
// loss (quorumLossConfirmedAt, from which the restore measures its time to full strength). Anything
// else is refused with nothing changed: quorum is back (a member came back during the window), or only
// one member is missing (`run` replaces it). Read-only; a rerun observes again and keeps the first
// confirmation's time.

import { InvalidInputError } from '../errors.ts';
import { need } from '../cluster/need.ts';
import { observeQuorumLoss } from '../cluster/quorumObservation.ts';
import type { RestoreStep } from '../cluster/restoreFacts.ts';

export const ConfirmQuorumLost: RestoreStep = async (context, deps) => {
  const due = need(context.confirmQuorumLossAfter, 'confirmQuorumLossAfter');
  const now = deps.now();
  if (now.getTime() < new Date(due).getTime()) {
    throw new InvalidInputError(
      'confirmQuorumLossAfter',
      `the second observation is due at ${due}, after the grace window; it is ${now.toISOString()}: quorum is not confirmed lost before then`,
    );
  }
  const { through, at, verdict } = await observeQuorumLoss(context, deps);
  const quorumLossConfirmedAt = context.quorumLossConfirmedAt ?? at;
  const first = context.quorumLossObserved ? ` (first seen at ${context.quorumLossObserved.at})` : '';
  return {
    output: { quorumLossConfirmedAt },
    detail: `${verdict.reason} (${through}); confirmed lost at ${quorumLossConfirmedAt}${first}`,
    ...(context.quorumLossConfirmedAt ? { skipped: true } : {}),
  };
};
