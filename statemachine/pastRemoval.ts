// Which earlier run removed a member that is no longer in the member list, read from the run record,
// so that a request naming it is refused with the true reason ("replaced by run X on DATE"). Pure.

import type { HostLike } from './matchMember.ts';
import { matchMembers } from './matchMember.ts';
import type { WorkflowContext } from './context.ts';
import { currentSlots, loadSlot, replacesSeveral, slotLabel } from './members.ts';

/** The parts of a run record this reads (functions/ports.ts RunRecord). */
export interface PastRun {
  runId: string;
  outcome: string;
  context: Record<string, unknown>;
  steps: Array<{ name: string; status: string; endedAt?: string; detail?: string; member?: string }>;
}

/**
 * A run that replaced several members, read as one run per member: the member's own fields over the
 * context, and the steps its record names that member in (their details without the member's label).
 * A run that replaced one member is itself.
 */
export function perMemberRuns<R extends PastRun>(runs: readonly R[]): R[] {
  return runs.flatMap((run) => {
    const context = run.context as unknown as WorkflowContext;
    if (!replacesSeveral(context) || !context.request) return [run];
    const slots = currentSlots(context);
    return slots.map((slot, i) => {
      const label = slotLabel(slot, i, slots.length);
      return {
        ...run,
        context: { ...run.context, ...loadSlot(slot) } as Record<string, unknown>,
        steps: run.steps
          .filter((st) => st.member === label)
          .map((st) => ({ ...st, ...(st.detail?.startsWith(`${label}: `) ? { detail: st.detail.slice(label.length + 2) } : {}) })),
      };
    });
  });
}

export interface PastRemoval {
  runId: string;
  /** When its RemoveFailedMember ended. */
  at: string;
  outcome: string;
  /** The member it removed, as that run recorded it. */
  member: RecordedMember;
}

export interface RecordedMember {
  id: string;
  name: string;
  peerURL: string;
}

function recordedMember(context: Record<string, unknown>): RecordedMember | null {
  const m = context['failedMember'];
  if (typeof m !== 'object' || m === null) return null;
  const r = m as Record<string, unknown>;
  return typeof r['id'] === 'string' ? { id: r['id'], name: String(r['name'] ?? ''), peerURL: String(r['peerURL'] ?? '') } : null;
}

/**
 * The newest run (runs newest first) whose RemoveFailedMember removed the member `text` (or `host`)
 * names: matched exactly against the member that run recorded, as matchMembers matches live members.
 */
export function findPastRemoval(runs: PastRun[], wanted: { text: string; host?: HostLike }, excludeRunId?: string): PastRemoval | null {
  for (const run of perMemberRuns(runs)) {
    if (run.runId === excludeRunId) continue;
    const member = recordedMember(run.context);
    if (!member) continue;
    const removed = run.steps.filter((s) => s.name === 'RemoveFailedMember' && s.status === 'succeeded' && /^removed member /.test(s.detail ?? '')).at(-1);
    if (!removed) continue;
    const hit = matchMembers([{ id: member.id, name: member.name, peerURLs: member.peerURL ? [member.peerURL] : [] }], wanted);
    if (hit.length > 0) return { runId: run.runId, at: removed.endedAt ?? '', outcome: run.outcome, member };
  }
  return null;
}

/** "not a member; replaced by run X on DATE" (or "removed by", when that run did not succeed). */
export function describePastRemoval(removal: PastRemoval): string {
  const day = removal.at ? removal.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : 'an unknown date';
  return removal.outcome === 'succeeded'
    ? `replaced by run ${removal.runId} on ${day}`
    : `removed by run ${removal.runId} on ${day} (that run ended ${removal.outcome})`;
}
