// A request an earlier run has already carried out: the failed member is no member any more, and the
// member that earlier succeeded run added in its place still runs (its member ID and peer URL, started).
// Alarms are delivered at least once and operators repeat commands: such a request ends Succeeded,
// naming that run, after the short path has finished what the run could not (statemachine/spec.ts,
// IsAlreadyReplaced). Pure: ValidateInput feeds it the run record and the member list it read.

import type { Host } from './cluster.ts';
import { isStarted, peerUrl } from './cluster.ts';
import type { ReplacementChoice, WorkflowContext } from './context.ts';
import type { HostLike, MemberLike } from './matchMember.ts';
import { matchMembers } from './matchMember.ts';
import { findPastRemoval, perMemberRuns, type PastRun, type RecordedMember } from './pastRemoval.ts';

/** The earlier run that did what a request asks for, as ValidateInput found it (context `replacedBy`). */
export interface EarlierReplacement {
  runId: string;
  /** When its RemoveFailedMember ended (ISO). */
  at: string;
  /** The member it added, still started at its peer URL. */
  newMemberId: string;
  peerURL: string;
  /** The host it added the member on, as that run recorded it, and how that run chose it. */
  replacement: Host;
  choice: ReplacementChoice;
  /** The member it removed, as it recorded it. */
  failedMember: RecordedMember;
  /** What it left for an operator, as its record says. */
  remaining: string[];
}

function hostOf(value: unknown): Host | null {
  if (typeof value !== 'object' || value === null) return null;
  const h = value as Record<string, unknown>;
  if (typeof h['name'] !== 'string' || typeof h['hostname'] !== 'string' || typeof h['ip'] !== 'string') return null;
  return { name: h['name'], hostname: h['hostname'], ip: h['ip'], roles: Array.isArray(h['roles']) ? (h['roles'] as Host['roles']) : [] };
}

/**
 * The succeeded run that replaced the member `wanted` names, when that is still so: the member is in
 * no form in `members`, and the member the run added (its recorded ID, at its replacement's peer URL)
 * is a started member. Null otherwise (never replaced, replaced by a run that did not succeed, or the
 * cluster has changed since).
 */
export function findEarlierReplacement(
  runs: Array<PastRun & { remaining?: string[] }>,
  wanted: { text: string; host?: HostLike },
  members: Array<MemberLike & { clientURLs?: string[] }>,
  excludeRunId?: string,
  /** `anyOutcome`: also a run that did not succeed as a whole (one that replaced several, and this one of them). */
  options: { anyOutcome?: boolean } = {},
): EarlierReplacement | null {
  if (matchMembers(members, wanted).length > 0) return null;
  const removal = findPastRemoval(runs, wanted, excludeRunId);
  if (!removal || (removal.outcome !== 'succeeded' && !options.anyOutcome)) return null;
  // The run as it replaced this member (a run that replaced several, read per member).
  const run = perMemberRuns(runs).find((r) => r.runId === removal.runId && matchesRemoved(r, removal.member.id))!;
  const newMemberId = run.context['newMemberId'];
  const replacement = hostOf(run.context['replacement']);
  if (typeof newMemberId !== 'string' || !replacement) return null;
  const url = peerUrl(replacement);
  const added = members.find((m) => m.id === newMemberId);
  if (!added || !isStarted(added) || !added.peerURLs.includes(url)) return null;
  const recordedChoice = run.context['replacementChoice'];
  const choice: ReplacementChoice = recordedChoice === 'spare' || recordedChoice === 'launched' ? recordedChoice : 'named';
  return { runId: run.runId, at: removal.at, newMemberId, peerURL: url, replacement, choice, failedMember: removal.member, remaining: run.remaining ?? [] };
}

function matchesRemoved(run: PastRun, memberId: string): boolean {
  const m = run.context['failedMember'];
  return typeof m === 'object' && m !== null && (m as { id?: unknown }).id === memberId;
}

/** Whether `host` is the host the earlier run added its member on (name, hostname or IP). */
export function isEarlierReplacementHost(done: EarlierReplacement, host: Pick<Host, 'name' | 'hostname' | 'ip'>): boolean {
  return host.ip === done.replacement.ip || host.hostname === done.replacement.hostname || host.name === done.replacement.name;
}

/** "already done by run R on 2030-01-01 10:00:00Z" */
export function describeEarlierReplacement(done: Pick<EarlierReplacement, 'runId' | 'at'>): string {
  const day = done.at ? done.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : 'an unknown date';
  return `already done by run ${done.runId} on ${day}`;
}

/**
 * The reason a run that succeeded gives, where it did something else than a replacement: a request an
 * earlier run had carried out ("already done by run R on DATE"), with what this run finished since, or one
 * another run covers ("covered by run R").
 * Null for a replacement.
 */
export function successReason(context: Pick<WorkflowContext, 'replacedBy' | 'failedHost' | 'backupKey' | 'coveredBy'>): string | null {
  if (context.coveredBy) return `covered by run ${context.coveredBy}`;
  const done = context.replacedBy;
  if (!done) return null;
  const finished = context.backupKey && context.failedHost ? `; since then ${context.failedHost.name}'s /var/lib/etcd was backed up and emptied` : '';
  return `${describeEarlierReplacement(done)}: ${done.replacement.name} is member ${done.newMemberId}${finished}`;
}
