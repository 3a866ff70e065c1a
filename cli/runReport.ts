// How a run shows itself: progress lines on stderr while it runs, and the result document
// `{runId, outcome, reason, startedAt, endedAt, steps[]}` (stdout with --json) or a timeline.

import type { RunRecord } from '../functions/ports.ts';
import { stepTimeline, type ProgressEvent } from '../functions/workflow/localRun.ts';
import { progress } from './common.ts';
import type { ReplacementChoice, WorkflowContext } from '../statemachine/context.ts';
import { addToStartedSeconds } from '../statemachine/voterWindow.ts';

export const EXIT_FOR_OUTCOME: Record<RunRecord['outcome'], number> = { succeeded: 0, failed: 1, refused: 3, running: 1 };

export interface RunResult {
  runId: string;
  outcome: 'succeeded' | 'failed' | 'refused';
  reason: string | null;
  /** When the run's cleanup (compensation, releasing the lock) failed too: that second error. */
  cleanupError?: string;
  startedAt: string;
  endedAt: string;
  steps: Array<{ name: string; status: 'succeeded' | 'failed' | 'skipped'; startedAt: string; endedAt: string; attempts: number }>;
  remaining?: string[];
  /** Seconds the new member voted before it had caught up (plain member add); absent on the learner path. */
  addToStartedSeconds?: number;
  /** The host that takes the failed member's place and how it was chosen; `launched`: the provider's handle of the host the run launched. Absent before ValidateInput chose. */
  replacement?: ReplacementView;
}

export interface ReplacementView {
  name: string | null;
  chosen: ReplacementChoice;
  launched?: string;
}

/** The replacement as the run chose it (ValidateInput, ProvisionReplacement), from its context. */
export function replacementOf(record: RunRecord): ReplacementView | null {
  const context = record.context as Partial<WorkflowContext>;
  if (!context.replacementChoice) return null;
  return { name: context.replacement?.name ?? null, chosen: context.replacementChoice, ...(context.replacementLaunched ? { launched: context.replacementLaunched } : {}) };
}

const CHOSEN_WORDS: Record<ReplacementChoice, string> = { named: 'named in the request', spare: 'from the spare pool', launched: 'launched for the run' };

/** Seconds the new member voted before it had caught up, from the instants the run's steps recorded. */
const voterWindowOf = (record: RunRecord): number | null => addToStartedSeconds(record.context as Partial<WorkflowContext>);

export function runResult(record: RunRecord): RunResult {
  const window = voterWindowOf(record);
  const replacement = replacementOf(record);
  return {
    runId: record.runId,
    outcome: record.outcome === 'running' ? 'failed' : record.outcome,
    reason: record.reason ?? null,
    ...(record.cleanupError ? { cleanupError: record.cleanupError } : {}),
    startedAt: record.startedAt,
    endedAt: record.endedAt ?? new Date().toISOString(),
    steps: stepTimeline(record).map((s) => ({
      name: s.name,
      status: s.status === 'running' ? 'failed' : s.status,
      startedAt: s.startedAt,
      endedAt: s.endedAt ?? s.startedAt,
      attempts: s.attempts,
    })),
    ...(record.remaining?.length ? { remaining: record.remaining } : {}),
    ...(window !== null ? { addToStartedSeconds: window } : {}),
    ...(replacement ? { replacement } : {}),
  };
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

export function printProgress(event: ProgressEvent): void {
  switch (event.type) {
    case 'step-start':
      if (event.attempt === 1) progress(`▶ ${event.step}`);
      else progress(`  ↻ ${event.step} attempt ${event.attempt}`);
      break;
    case 'step-retry':
      progress(`  ! ${event.error} — retrying in ${event.delaySeconds}s`);
      break;
    case 'step-end': {
      const mark = event.status === 'failed' ? '✗' : event.status === 'skipped' ? '–' : '✓';
      progress(`${mark} ${event.step} ${seconds(event.ms)}${event.detail ? `: ${event.detail}` : ''}`);
      break;
    }
    case 'state':
      if (event.state === 'WaitGraceWindow') progress('… WaitGraceWindow: observing the failure again once the grace window has passed');
      break;
    case 'end':
      break;
  }
}

/** A human timeline: one line per step with its duration, then the outcome. */
export function formatTimeline(record: RunRecord): string {
  const lines = [`run ${record.runId} on ${record.cluster} (${record.target}), started by ${record.startedBy} at ${record.startedAt}`];
  const replacement = replacementOf(record);
  if (replacement) lines.push(`  replacement: ${replacement.name ?? '(not launched yet)'}, ${CHOSEN_WORDS[replacement.chosen]}${replacement.launched && replacement.launched !== replacement.name ? ` (${replacement.launched})` : ''}`);
  for (const s of stepTimeline(record)) {
    const ms = s.endedAt ? Date.parse(s.endedAt) - Date.parse(s.startedAt) : 0;
    const took = s.status === 'skipped' && s.attempts === 0 ? '' : seconds(ms).padStart(7);
    lines.push(`  ${s.name.padEnd(24)} ${s.status.padEnd(9)} ${took}${s.attempts > 1 ? `  (${s.attempts} attempts)` : ''}`);
  }
  const total = record.endedAt ? seconds(Date.parse(record.endedAt) - Date.parse(record.startedAt)) : 'still running';
  lines.push(`  outcome: ${record.outcome}${record.reason ? ` — ${record.reason}` : ''} (${total})`);
  if (record.cleanupError) lines.push(`  cleanup failed too: ${record.cleanupError}`);
  const window = voterWindowOf(record);
  if (window !== null) lines.push(`  add to started: ${window.toFixed(1)}s (no learner: the new member voted before it had caught up)`);
  for (const r of record.remaining ?? []) lines.push(`  remaining: ${r}`);
  return lines.join('\n');
}
