// The text printer: what a person reads. Progress lines go to stderr while a command works (▶ ✓ ✗ –,
// `progress`); results go to stdout as timelines and tables. The same results as JSON are
// cli/printers/json.ts; the AWS-only texts (an execution, an audit record) are cli/printers/awsText.ts,
// so that commands on a sandbox never load the AWS SDK.

import type { RunRecord } from '../../functions/ports.ts';
import type { ProgressEvent } from '../../functions/workflow/localRun.ts';
import type { PlannedMember, PlannedStep } from '../../functions/workflow/plan.ts';
import { formatRunView, runViewOfRecord } from '../../functions/workflow/runView.ts';
import { unreadableAction, type UnreadableRunRecord } from '../../sandbox/adapters/fileRunStore.ts';
import type { StatusDocument } from '../../sandbox/index.ts';

/** A line of progress on stderr. */
export function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** A run's progress event as its line on stderr: ▶ started, ↻ retried, ✓ succeeded, ✗ failed, – skipped. */
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

/** The timeline of a run record: where it ran and who started it, then the run view's lines. */
export function formatTimeline(record: RunRecord): string {
  return formatRunView(
    runViewOfRecord(record),
    `run ${record.runId} on ${record.cluster} (${record.target}), started by ${record.startedBy} at ${record.startedAt}`,
  );
}

/** The text of an unreadable record: its run, file, why, and what to do. */
export function formatUnreadable(u: UnreadableRunRecord): string {
  return [`run ${u.runId} on ${u.cluster ?? 'an unknown cluster'}: UNREADABLE record ${u.path}`, `  ${u.error}`, `  ${unreadableAction(u)}`].join('\n');
}

const CHOSEN: Record<string, string> = { named: 'named', spare: 'from the spare pool', launched: 'launched for the run' };

/**
 * The plan: what it replaces with what, the verdict, then each step and its host commands. With several
 * failed members, each member first, then the whole sequence: a per-member step names its member (as the
 * run record does) and a membership change the quorum after it.
 */
export function formatPlan(title: string, verdict: string, steps: readonly PlannedStep[], members?: readonly PlannedMember[]): string {
  const out = [title, verdict];
  const words: Record<string, string> = { prepare: 'prepared', remove: 'removed', add: 'added' };
  for (const [i, m] of (members ?? []).entries()) {
    // Where each of its loops runs in the sequence below: `prepared in steps 7-13, removed in 23-27, added in 36-47`.
    const spans = (['prepare', 'remove', 'add'] as const).flatMap((phase) => {
      const at = m.steps.filter((s) => s.phase === phase).map((s) => steps.indexOf(s) + 1);
      return at.length > 0 ? [`${words[phase]} in steps ${Math.min(...at)}-${Math.max(...at)}`] : [];
    });
    out.push(
      `  member ${i + 1} of ${members!.length}: ${m.failed}${m.failedMemberId ? ` (${m.failedMemberId})` : ''} → ${m.replacement ?? '(none)'}${m.chosen ? `, ${CHOSEN[m.chosen]}` : ''}${spans.length > 0 ? `: ${spans.join(', ')}` : ''}`,
    );
  }
  out.push('');
  steps.forEach((s, i) => {
    out.push(`${String(i + 1).padStart(2)}. ${s.name}${s.member ? ` (${s.member})` : ''} — ${s.summary}${s.note ? ` [${s.note}]` : ''}`);
    for (const c of s.commands) out.push(`      ${c.host}: ${c.command}`);
    if (s.quorumBefore) out.push(`      before it: ${s.quorumBefore.text}`);
    if (s.quorumAfter) out.push(`      after it: ${s.quorumAfter.text}`);
  });
  return out.join('\n');
}

/** A sandbox's hosts as a table, the hosts runs launched, and the client identity for this machine. */
export function statusTable(status: StatusDocument): string {
  const rows = status.hosts.map((h) => [
    h.name,
    h.hostname,
    h.ip,
    h.roles.join(','),
    h.up ? 'up' : 'off',
    h.etcd.running ? `etcd ${h.etcd.memberId ?? '?'}${h.etcd.leader ? ' (leader)' : ''}` : '-',
    h.etcd.version ?? '-',
  ]);
  const header = ['HOST', 'HOSTNAME', 'IP', 'ROLES', 'POWER', 'ETCD', 'VERSION'];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    `${cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()}\n`;
  const launched = status.hosts.map((h) => (h.launchedBy === undefined ? '' : `${h.name} was launched by run ${h.launchedBy}\n`)).join('');
  const client = `${launched === '' ? '' : `\n${launched}`}\nclient (from this machine): --endpoints ${status.client.endpoints.join(',')} --cacert ${status.client.cacert} --cert ${status.client.cert} --key ${status.client.key}\n`;
  return line(header) + rows.map(line).join('') + client;
}
