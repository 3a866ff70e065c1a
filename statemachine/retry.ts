// Step Functions' retry semantics, for the XState run: the same RetryRule data, the same answers.
// A rule matches by ErrorEquals; each rule counts its own attempts; the delay before retry n (1-based)
// is intervalSeconds * backoffRate^(n-1), capped by maxDelaySeconds.

import { errorMatches } from './recordedError.ts';
import type { RetryRule } from './spec.ts';

/** Seconds to wait before the next try, or null when the error is not retried (any more). */
export function retryDelaySeconds(rules: RetryRule[], errorName: string, retriesSoFar: Map<RetryRule, number>): number | null {
  // States.ALL may only stand alone and last in ASL; a specific match wins over it.
  const rule = rules.find((r) => r.errors.includes(errorName)) ?? rules.find((r) => errorMatches(errorName, r.errors));
  if (!rule) return null;
  const done = retriesSoFar.get(rule) ?? 0;
  if (done >= rule.maxAttempts) return null;
  retriesSoFar.set(rule, done + 1);
  const delay = rule.intervalSeconds * rule.backoffRate ** done;
  return rule.maxDelaySeconds === undefined ? delay : Math.min(delay, rule.maxDelaySeconds);
}

export interface RetryHooks {
  sleep: (ms: number) => Promise<void>;
  /** Called before each try, 1-based. */
  onAttempt?: (attempt: number) => void;
  /** Called after a failed try that will be retried. */
  onRetry?: (error: unknown, attempt: number, delaySeconds: number) => void;
}

/** Runs `fn` under the rules: retries matching errors, rethrows the last error otherwise. */
export async function withRetry<T>(rules: RetryRule[], fn: (attempt: number) => Promise<T>, hooks: RetryHooks): Promise<T> {
  const retries = new Map<RetryRule, number>();
  for (let attempt = 1; ; attempt++) {
    hooks.onAttempt?.(attempt);
    try {
      return await fn(attempt);
    } catch (error) {
      const name = error instanceof Error ? error.name : 'Error';
      const delay = retryDelaySeconds(rules, name, retries);
      if (delay === null) throw error;
      hooks.onRetry?.(error, attempt, delay);
      await hooks.sleep(delay * 1000);
    }
  }
}
