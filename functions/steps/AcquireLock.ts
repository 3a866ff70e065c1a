// AcquireLock: one run per cluster at a time. A second run is refused naming the holder.

import type { Step } from '../workflow/step.ts';
import { lockOwner } from '../workflow/lockRenewal.ts';

export const AcquireLock: Step = async (context, deps) => {
  const lock = await deps.lock.acquire(context.request.cluster, lockOwner(context, deps), deps.waits.lockTtlSeconds);
  return { output: {}, detail: `lock on ${lock.cluster} held until ${lock.expiresAt}` };
};
