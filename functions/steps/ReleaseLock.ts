// ReleaseLock: release the cluster lock this run holds (a no-op when it holds none).

import type { Step } from '../workflow/step.ts';

export const ReleaseLock: Step = async (context, deps) => {
  await deps.lock.release(context.request.cluster, context.runId);
  return { output: {}, detail: `lock on ${context.request.cluster} released` };
};
