// How long, and for whom, the confirmation that a member has failed stays good. Pure.
//
// ConfirmMemberFailed records who confirmed (the execution: one process of the local run, one
// Step Functions execution) and when. RemoveFailedMember acts on that confirmation only inside the
// same execution and within CONFIRMATION_SLACK_SECONDS + 2 × grace of it: a run resumed by another
// process (the same `run` command after a crash, `resume`, a Step Functions redrive that reaches the
// step with another identity) or one that stood still too long observes the member again first. A
// member that answers then is refused (exit 3) and nothing is removed (issue 15, EKS Anywhere #6847).

/** Seconds a confirmation stays good beyond twice the grace window: time for the steps in between. */
export const CONFIRMATION_SLACK_SECONDS = 60;

/** The bound: 2 × grace + 60 s. */
export function confirmationValidMs(graceSeconds: number): number {
  return (2 * graceSeconds + CONFIRMATION_SLACK_SECONDS) * 1000;
}

export interface FailureConfirmation {
  /** The member confirmed failed. */
  memberId: string;
  /** Execution identity of the process or execution that observed it (StepDeps.execution). */
  execution: string;
  /** ISO time of the observation. */
  observedAt: string;
}

/**
 * Why the confirmation cannot be acted on now, or null when it can: it must exist, be for this member,
 * come from this execution, and be younger than the bound (and not from the future).
 */
export function confirmationStale(
  confirmation: FailureConfirmation | undefined,
  now: { memberId: string; execution: string; at: Date; graceSeconds: number },
): string | null {
  if (!confirmation) return 'this run holds no confirmation that the member has failed';
  if (confirmation.memberId !== now.memberId) return `the confirmation is for member ${confirmation.memberId}, not ${now.memberId}`;
  if (confirmation.execution !== now.execution)
    return `the failure was confirmed by another execution of this run (${confirmation.execution}); this one (${now.execution}) resumed it`;
  const age = now.at.getTime() - Date.parse(confirmation.observedAt);
  if (!Number.isFinite(age) || age < 0) return `the confirmation's time ${confirmation.observedAt} is not in the past`;
  const bound = confirmationValidMs(now.graceSeconds);
  if (age > bound) return `the failure was confirmed ${Math.round(age / 1000)} s ago, more than the ${bound / 1000} s a confirmation stays good`;
  return null;
}
