// A step's own time bound, the state's TimeoutSeconds (TaskSpec.timeoutSeconds), held by whatever runs
// the step: the local run for each try, and the step Lambda, which runs every step of its workflow and
// so has a function timeout of the longest step's (lib/constructs/step-lambdas.ts). When the time is up
// the step is cancelled (its signal aborted: host commands killed on the sandbox, CancelCommand on SSM;
// the lock's renewal stopped) and given a grace to stop before the timeout is reported, so nothing of it
// still runs when compensation or the next try starts.

import { withStepSignal } from './stepSignal.ts';

/** The error a step that ran out of time ends with: Step Functions' own name for it. */
export function stepTimeoutError(step: string, seconds: number): Error {
  const error = new Error(`${step} did not finish within ${seconds}s`);
  error.name = 'States.Timeout';
  return error;
}

/**
 * Runs `body` with a signal of its own (StepDeps.signal, and the step signal of every host command it
 * starts) that aborts after `seconds`; then waits up to `graceMs` for it to stop and rejects with
 * States.Timeout.
 */
export async function withStepDeadline<T>(
  step: string,
  seconds: number,
  body: (signal: AbortSignal) => Promise<T>,
  options: { graceMs?: number; log?: (message: string) => void; controller?: AbortController } = {},
): Promise<T> {
  const controller = options.controller ?? new AbortController();
  const graceMs = options.graceMs ?? 30_000;
  const promise = withStepSignal(controller.signal, () => body(controller.signal));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = stepTimeoutError(step, seconds);
      controller.abort(error);
      let grace: NodeJS.Timeout | undefined;
      const stopped = new Promise<void>((resolve) => {
        grace = setTimeout(() => {
          options.log?.(`${step}: still stopping ${graceMs / 1000}s after its timeout; the run goes on`);
          resolve();
        }, graceMs);
      });
      void Promise.race([
        promise.then(
          () => undefined,
          () => undefined,
        ),
        stopped,
      ]).then(() => {
        clearTimeout(grace);
        reject(error);
      });
    }, seconds * 1000);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
