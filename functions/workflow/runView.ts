// The one view of a run, whatever ran it: the sandbox's run record and an AWS execution's history both
// become this document (`run --json`, `status --json`, `history --json`), and it is shown as one
// timeline and mapped to one exit code of functions/exitCodes.ts:
//   0 succeeded, 1 failed, 2 invalid input (the run changed nothing), 3 refused, 4 still running.

import type { RunOutcome, RunRecord, StepRecord } from '../ports.ts';
import type { ReplacementChoice, WorkflowContext } from '../../statemachine/context.ts';
import { RESTORE_WORKFLOW } from '../../statemachine/restoreSpec.ts';
import { TASKS } from '../../statemachine/spec.ts';
import { addToStartedSeconds } from '../../statemachine/voterWindow.ts';
import { currentSlots, memberBeforeTakeIn, slotLabel } from '../../statemachine/members.ts';
import { EXIT } from '../exitCodes.ts';

export type { RunOutcome };

export interface RunStep {
  name: string;
  status: 'succeeded' | 'failed' | 'skipped' | 'running';
  startedAt: string;
  /** null only for the step still running. */
  endedAt: string | null;
  /** Tries of the step: the first plus every retry. */
  attempts: number;
}

/** The host that takes the failed member's place and how it was chosen; `launched`: the provider's handle of the host the run launched. */
export interface ReplacementView {
  name: string | null;
  chosen: ReplacementChoice;
  launched?: string;
}

export interface RunView {
  runId: string;
  outcome: RunOutcome;
  reason: string | null;
  /** When the run's cleanup (compensation, releasing the lock) failed too: that second error. */
  cleanupError?: string;
  startedAt: string;
  /** null while the run runs. */
  endedAt: string | null;
  /** Every task in runbook order; on an ended run a task never entered is `skipped` with 0 attempts. */
  steps: RunStep[];
  remaining?: string[];
  /** Seconds the new member voted before it had caught up (plain member add); absent on the learner path. */
  addToStartedSeconds?: number;
  /** Absent before ValidateInput chose. */
  replacement?: ReplacementView;
  /** A run that replaces several members: each failed member with its replacement, what the run did for it, and its steps in the order they ran. */
  members?: MemberView[];
}

export interface MemberView {
  failed: string;
  replacement: string | null;
  chosen?: ReplacementChoice;
  /** The failed member's etcd ID, once observed. */
  failedMemberId?: string;
  removed: boolean;
  /** The member the run added for it, once added. */
  newMemberId?: string;
  /** Added and started. */
  joined: boolean;
  steps: RunStep[];
}

/** A run's outcome as an exit code (functions/exitCodes.ts). */
export const EXIT_FOR_OUTCOME: Record<RunOutcome, number> = { succeeded: EXIT.succeeded, failed: EXIT.failed, refused: EXIT.refused, running: EXIT.running };

/** The exit code of a run: its outcome's, or invalid input (2) for a run that failed on InvalidInputError. */
export function exitCodeOfRun(run: Pick<RunView, 'outcome' | 'reason'>): number {
  if (run.outcome === 'failed' && run.reason?.startsWith('InvalidInputError')) return EXIT.invalidInput;
  return EXIT_FOR_OUTCOME[run.outcome];
}

/** The replacement as the run chose it (ValidateInput, ProvisionReplacement), from its context. */
export function replacementOf(context: Partial<WorkflowContext>): ReplacementView | null {
  if (!context.replacementChoice) return null;
  return {
    name: context.replacement?.name ?? null,
    chosen: context.replacementChoice,
    ...(context.replacementLaunched ? { launched: context.replacementLaunched } : {}),
  };
}

/**
 * Every task of a record's workflow (the replacement's, or the restore's when the record names it) once, in
 * runbook order: repeated entries (a resume, a re-add loop) add their attempts up; a task never entered is skipped.
 */
export function stepTimeline(record: Pick<RunRecord, 'steps' | 'startedAt' | 'endedAt' | 'workflow'>): StepRecord[] {
  const latest = new Map<string, StepRecord>();
  for (const s of record.steps) {
    const before = latest.get(s.name);
    latest.set(s.name, before ? { ...s, attempts: before.attempts + s.attempts, startedAt: before.startedAt } : s);
  }
  const tasks: ReadonlyArray<{ name: string }> = record.workflow === RESTORE_WORKFLOW.id ? RESTORE_WORKFLOW.tasks : TASKS;
  return tasks.map(
    (t) =>
      latest.get(t.name) ?? {
        name: t.name,
        status: 'skipped' as const,
        startedAt: record.endedAt ?? record.startedAt,
        endedAt: record.endedAt ?? record.startedAt,
        attempts: 0,
      },
  );
}

/** Each member of a run that replaces several, from its context and the steps its record names it in; null for a one-member run. */
export function membersOf(context: Partial<WorkflowContext>, steps: readonly StepRecord[], running: boolean): MemberView[] | null {
  if (!context.members || context.members.length < 2 || !context.request) return null;
  const slots = currentSlots(context as WorkflowContext);
  const memberOf = (s: StepRecord) => s.member ?? memberBeforeTakeIn(s.name, context as WorkflowContext);
  return slots.map((slot, i) => {
    const label = slotLabel(slot, i, slots.length);
    return {
      failed: slot.failedHost?.name ?? slot.failed,
      replacement: slot.replacement?.name ?? null,
      ...(slot.replacementChoice ? { chosen: slot.replacementChoice } : {}),
      ...(slot.failedMember?.id ? { failedMemberId: slot.failedMember.id } : {}),
      removed: slot.failedMemberRemoved === true,
      ...(slot.memberAdded === true && slot.newMemberId ? { newMemberId: slot.newMemberId } : {}),
      joined: slot.memberAdded === true && slot.newMemberStartedAt !== undefined,
      steps: steps
        .filter((s) => memberOf(s) === label)
        .map((s) => ({
          name: s.name,
          status: s.status === 'running' && !running ? 'failed' : s.status,
          startedAt: s.startedAt,
          endedAt: s.endedAt ?? (s.status === 'running' && running ? null : s.startedAt),
          attempts: s.attempts,
        })),
    };
  });
}

/** The view of a run record (the sandbox's run store, the AWS audit record). */
export function runViewOfRecord(record: RunRecord): RunView {
  const context = record.context as Partial<WorkflowContext>;
  const window = addToStartedSeconds(context);
  const running = record.outcome === 'running';
  const members = membersOf(context, record.steps, running);
  // A run that replaces several names each replacement with its member.
  const replacement = members ? null : replacementOf(context);
  return {
    runId: record.runId,
    outcome: record.outcome,
    reason: record.reason ?? null,
    ...(record.cleanupError ? { cleanupError: record.cleanupError } : {}),
    startedAt: record.startedAt,
    endedAt: record.endedAt ?? null,
    steps: stepTimeline(record).map((s) => ({
      name: s.name,
      status: s.status === 'running' && !running ? 'failed' : s.status,
      startedAt: s.startedAt,
      endedAt: s.endedAt ?? (s.status === 'running' && running ? null : s.startedAt),
      attempts: s.attempts,
    })),
    ...(record.remaining?.length ? { remaining: record.remaining } : {}),
    ...(window !== null ? { addToStartedSeconds: window } : {}),
    ...(replacement ? { replacement } : {}),
    ...(members ? { members } : {}),
  };
}

const CHOSEN_WORDS: Record<ReplacementChoice, string> = { named: 'named in the request', spare: 'from the spare pool', launched: 'launched for the run' };
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** A person's timeline of a run: a header (who, where), a line per step with its duration, then the outcome and what remains. */
export function formatRunView(run: RunView, header: string, footer: string[] = []): string {
  const lines = [header];
  const replacement = run.replacement;
  if (replacement)
    lines.push(
      `  replacement: ${replacement.name ?? '(not launched yet)'}, ${CHOSEN_WORDS[replacement.chosen]}${replacement.launched && replacement.launched !== replacement.name ? ` (${replacement.launched})` : ''}`,
    );
  for (const [i, m] of (run.members ?? []).entries()) {
    const did = [
      m.removed ? `removed ${m.failedMemberId ?? ''}`.trimEnd() : 'not removed',
      m.newMemberId ? `added ${m.newMemberId}` : 'not added',
      m.joined ? 'started' : 'not started',
    ];
    lines.push(
      `  member ${i + 1} of ${run.members!.length}: ${m.failed} → ${m.replacement ?? '(none yet)'}${m.chosen ? `, ${CHOSEN_WORDS[m.chosen]}` : ''}: ${did.join(', ')}`,
    );
    const steps = m.steps.map((s) => `${s.name} ${s.status}${s.endedAt ? ` ${seconds(Date.parse(s.endedAt) - Date.parse(s.startedAt))}` : ''}`);
    if (steps.length > 0) lines.push(`    ${steps.join(', ')}`);
  }
  for (const s of run.steps) {
    const took = s.endedAt === null ? 'running' : s.status === 'skipped' && s.attempts === 0 ? '' : seconds(Date.parse(s.endedAt) - Date.parse(s.startedAt));
    lines.push(`  ${s.name.padEnd(24)} ${s.status.padEnd(9)} ${took.padStart(7)}${s.attempts > 1 ? `  (${s.attempts} attempts)` : ''}`.trimEnd());
  }
  const total = run.endedAt ? seconds(Date.parse(run.endedAt) - Date.parse(run.startedAt)) : 'still running';
  lines.push(`  outcome: ${run.outcome}${run.reason ? ` — ${run.reason}` : ''} (${total})`);
  if (run.cleanupError) lines.push(`  cleanup failed too: ${run.cleanupError}`);
  if (run.addToStartedSeconds !== undefined)
    lines.push(`  add to started: ${run.addToStartedSeconds.toFixed(1)}s (no learner: the new member voted before it had caught up)`);
  for (const r of run.remaining ?? []) lines.push(`  remaining: ${r}`);
  lines.push(...footer);
  return lines.join('\n');
}
