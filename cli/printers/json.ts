// The JSON printer: with --json a command prints exactly one JSON document on stdout (progress goes to
// stderr, cli/printers/text.ts). The documents that are more than a value printed whole are made here.

import type { AuditRecord } from '../../functions/adapters/aws/auditRecord.ts';
import type { RunRecord } from '../../functions/ports.ts';
import { runViewOfRecord } from '../../functions/workflow/runView.ts';
import { unreadableAction, type UnreadableRunRecord } from '../../sandbox/adapters/fileRunStore.ts';

/** Prints `value` as the command's one JSON document on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** The JSON entry of an unreadable record: `cluster` only when what can be read of it names one. */
export function unreadableEntry(u: UnreadableRunRecord): { runId: string; cluster?: string; unreadable: { path: string; error: string; action: string } } {
  return { runId: u.runId, ...(u.cluster ? { cluster: u.cluster } : {}), unreadable: { path: u.path, error: u.error, action: unreadableAction(u) } };
}

/** A run of the sandbox history: the run view plus where it ran, who started it and what it was asked. */
export function historyEntry(r: RunRecord): Record<string, unknown> {
  return { ...runViewOfRecord(r), cluster: r.cluster, target: r.target, startedBy: r.startedBy, request: r.request, state: r.state };
}

/** A listed audit record (`history --target aws`): the sandbox history's document plus the AWS facts. */
export function auditEntry(record: AuditRecord): Record<string, unknown> {
  return {
    ...runViewOfRecord(record),
    cluster: record.cluster,
    target: record.target,
    startedBy: record.startedBy,
    request: record.request,
    state: record.state,
    executionArn: record.executionArn,
    executionStatus: record.executionStatus,
    principal: record.principal,
    ...(record.alarm ? { alarm: record.alarm } : {}),
  };
}
