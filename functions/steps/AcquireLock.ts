// AcquireLock: one run per cluster at a time, and many signals, one run. When another run holds the lock:
// - it replaces every failed member this run asks for: this run ends Covered naming it, changing nothing
//   (an alarm delivered twice, an EC2 event after the alarm, a second command for the same member);
// - otherwise this run leaves a join request on its lock (the holder may take the members in at its second
//   observation, and this run then ends Covered) and waits for the lock (LockWaitingError, retried), as a
//   cluster's queue does, up to options.lockWaitSeconds from ValidateInput; then LockHeldError names the holder.
// A run that gets the lock after its holder took its members in and finished (between two tries) is covered
// by that run too: the lock keeps its last holder (LockPort.lastHolder).

import { LockHeldError, LockWaitingError } from '../errors.ts';
import type { Step } from '../workflow/step.ts';
import { lockOwner } from '../workflow/lockRenewal.ts';
import { askedIdentities, askedMembers, coversAll } from '../../statemachine/members.ts';
import { LOCK_WAIT_SECONDS } from '../../statemachine/context.ts';

export const AcquireLock: Step = async (context, deps) => {
  const cluster = context.request.cluster;
  const names = askedMembers(context)
    .map((m) => m.failed)
    .join(', ');
  try {
    const lock = await deps.lock.acquire(cluster, lockOwner(context, deps), deps.waits.lockTtlSeconds);
    // The run that held the lock while this one waited took its members in and finished before this
    // run's next try: covered all the same.
    const last = await deps.lock.lastHolder(cluster);
    if (
      last &&
      last.runId !== context.runId &&
      last.succeeded &&
      context.validatedAt !== undefined &&
      Date.parse(last.releasedAt) >= Date.parse(context.validatedAt) &&
      coversAll(last.covers, askedIdentities(context))
    ) {
      await deps.lock.release(cluster, context.runId, lockOwner(context, deps));
      return {
        output: { covered: true, coveredBy: last.runId },
        detail: `${names}: covered by run ${last.runId}, which took ${names} in and released the lock at ${last.releasedAt}, finished, while this run waited; this run changes nothing`,
      };
    }
    return { output: {}, detail: `lock on ${lock.cluster} held until ${lock.expiresAt}` };
  } catch (error) {
    if (!(error instanceof LockHeldError)) throw error;
    const holder = await deps.lock.current(cluster);
    // Another owner of this same run (a second process resuming it): refused as before, nothing waits.
    if (holder === null || holder.runId === context.runId) throw error;
    if (coversAll(holder.covers, askedIdentities(context))) {
      return {
        output: { covered: true, coveredBy: holder.runId },
        detail: `${names}: covered by run ${holder.runId} (started by ${holder.startedBy}, holding the lock since ${holder.acquiredAt}); this run changes nothing`,
      };
    }
    const waited = Math.max(0, (deps.now().getTime() - Date.parse(context.validatedAt ?? deps.now().toISOString())) / 1000);
    const bound = context.options.lockWaitSeconds ?? LOCK_WAIT_SECONDS;
    // A run that names no failed member (a restore of quorum) asks no holder to take anything in: it only waits.
    const nothingAsked = askedMembers(context).every((m) => m.failed === '');
    const answer = nothingAsked
      ? 'nothing'
      : holder.joinsClosed
        ? 'closed'
        : await deps.lock.requestJoin(cluster, holder.runId, {
            runId: context.runId,
            failed: askedMembers(context),
            startedBy: context.request.startedBy,
            at: deps.now().toISOString(),
          });
    const why =
      answer === 'nothing'
        ? 'this run names no member for it to take in'
        : answer === 'requested'
          ? `asked it to take ${names} in at its second observation`
          : answer === 'closed'
            ? `it has passed its second observation and cannot take ${names} in`
            : 'it has just released it';
    const held = `run ${holder.runId} (started by ${holder.startedBy}) holds the lock of cluster ${cluster} since ${holder.acquiredAt}`;
    if (waited >= bound) {
      throw new LockHeldError(
        `${held}; waited ${Math.round(waited)} s for it (options.lockWaitSeconds ${bound}); ${why}. Nothing was changed; run again once it has ended.`,
        { cause: error },
      );
    }
    throw new LockWaitingError(`${held}: ${why}; waiting for the lock (${Math.round(waited)} of ${bound} s)`, { cause: error });
  }
};
