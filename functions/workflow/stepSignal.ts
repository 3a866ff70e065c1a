// A step's cancellation, carried to every host command the step starts. The local run gives each try of
// a step an AbortSignal (StepDeps.signal) and aborts it when the step's time is up; the host runners
// take the signal of the step they run under from here when a request names none, so a command started
// deep inside a step's helpers (etcdctl through a surviving member, a script through runScript) is
// cancelled with the step: the sandbox kills its process group, SSM gets CancelCommand.

import { AsyncLocalStorage } from 'node:async_hooks';

const current = new AsyncLocalStorage<AbortSignal>();

/** Runs `body` with `signal` as the step signal of everything it starts. */
export function withStepSignal<T>(signal: AbortSignal, body: () => Promise<T>): Promise<T> {
  return current.run(signal, body);
}

/** The signal of the request, else of the step that runs now, if any. */
export function stepSignal(request?: { signal?: AbortSignal }): AbortSignal | undefined {
  return request?.signal ?? current.getStore();
}

/** The error a cancelled command rejects with: the signal's reason when it is an Error. */
export function abortReason(signal: AbortSignal, what: string): Error {
  if (signal.reason instanceof Error) return signal.reason;
  const error = new Error(`${what} was cancelled`);
  error.name = 'AbortError';
  return error;
}
