// RecordRestore: the restore's measures (issue "restore-quorum", what was lost and how long it took),
// written into the context as restoreMeasures for the run record and the notification. How long the
// cluster took from the confirmed loss of quorum (ConfirmQuorumLost) to its former strength: the last
// re-added member's VerifyClusterHealth (clusterVerifiedAt, once the loop has no member left); without it the
// last re-added member's start (its newMemberStartedAt, statemachine/members.ts), or now when no re-added
// member has one; the revision chosen against the highest revision seen (ChooseRestorePoint's expectedLoss); every
// former member fenced and how, derived from FenceFormerMembers' records (restoreContext.ts hostFenced).
// Changes nothing outside the context. A rerun derives the same measures again and keeps the first
// record's time of full strength where it was taken from the clock, so the measure is not pushed back.

import { InvalidInputError } from '../errors.ts';
import { need } from '../cluster/need.ts';
import type { RestoreStep } from '../cluster/restoreFacts.ts';
import { allSlots } from '../../statemachine/members.ts';
import { hostFenced, type RestoreContext, type RestoreMeasures } from '../../statemachine/restoreContext.ts';

function timeOf(field: string, iso: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new InvalidInputError(field, `${JSON.stringify(iso.slice(0, 60))} is not an ISO time`);
  return ms;
}

/** The last start of a member the run re-added, with its host; null when none has started. */
function lastStarted(context: RestoreContext): { at: string; host: string } | null {
  const started = allSlots(context).flatMap((s) =>
    s.newMemberStartedAt ? [{ at: s.newMemberStartedAt, ms: timeOf('newMemberStartedAt', s.newMemberStartedAt), host: s.replacement?.name ?? s.failed }] : [],
  );
  if (started.length === 0) return null;
  const last = started.reduce((a, b) => (b.ms > a.ms ? b : a));
  return { at: last.at, host: last.host };
}

export const RecordRestore: RestoreStep = async (context, deps) => {
  const confirmedAt = need(context.quorumLossConfirmedAt, 'quorumLossConfirmedAt');
  const confirmedMs = timeOf('quorumLossConfirmedAt', confirmedAt);
  const loss = need(context.expectedLoss, 'expectedLoss');
  const fenced = need(context.fenced, 'fenced').map(hostFenced);

  const started = lastStarted(context);
  const earlier = context.restoreMeasures;
  // The last re-add verified: the loop is done (no member follows) and its health checks passed.
  const verified = context.memberPhase === 'readd' && context.anotherMember !== true && context.clusterVerifiedAt ? context.clusterVerifiedAt : null;
  const fullStrengthAt = verified ?? started?.at ?? earlier?.fullStrengthAt ?? deps.now().toISOString();
  const fullMs = timeOf('fullStrengthAt', fullStrengthAt);
  if (fullMs < confirmedMs) {
    throw new InvalidInputError('fullStrengthAt', `full strength at ${fullStrengthAt} comes before the loss of quorum was confirmed (${confirmedAt})`);
  }
  const restoreMeasures: RestoreMeasures = {
    quorumLossConfirmedAt: confirmedAt,
    fullStrengthAt,
    secondsToFullStrength: (fullMs - confirmedMs) / 1000,
    revisionChosen: loss.chosenRevision,
    highestRevisionSeen: loss.highestRevision,
    revisionsLost: loss.revisionsLost,
    fenced,
  };

  const last = context.replacement?.name ?? started?.host;
  const strength = verified
    ? `the cluster verified healthy after the last re-added member (${last}) at ${fullStrengthAt}`
    : started
      ? `the last re-added member (${started.host}) started at ${fullStrengthAt}`
      : `no re-added member's start is recorded: taken at ${fullStrengthAt}`;
  const seen =
    loss.highestRevision === null
      ? 'no member’s data showed a revision'
      : `the highest seen ${loss.highestRevision}${loss.highestOn.length > 0 ? ` (on ${loss.highestOn.join(', ')})` : ''}`;
  const hosts = fenced.length > 0 ? fenced.map((f) => `${f.host} (${f.how.join(', ')})`).join(', ') : 'none';
  const again = earlier !== undefined && JSON.stringify(earlier) === JSON.stringify(restoreMeasures);
  return {
    output: { restoreMeasures },
    detail: `quorum loss confirmed at ${confirmedAt}, full strength ${restoreMeasures.secondsToFullStrength}s later (${strength}); revision ${loss.chosenRevision} chosen against ${seen}: ${loss.revisionsLost === null ? 'how many revisions were lost is not known' : `${loss.revisionsLost} revision(s) lost`}; fenced: ${hosts}`,
    ...(again ? { skipped: true } : {}),
  };
};
