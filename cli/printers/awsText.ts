// The text printer's AWS part: an execution read back as a run (`run --target aws`, `status`,
// `history --target aws` from Step Functions) and an audit record (`history --target aws` from the run
// table). Apart from cli/printers/text.ts so that only commands against AWS load what these need.

import type { AuditRecord } from '../../functions/adapters/aws/auditRecord.ts';
import type { RunDocument } from '../../functions/adapters/aws/executions.ts';
import { consoleLink } from '../../functions/handlers/notifyOutcome.ts';
import { formatRunView } from '../../functions/workflow/runView.ts';
import { formatTimeline } from './text.ts';

/** A human timeline of a run document, like the sandbox's, with the execution's ARN. */
export function formatRun(run: RunDocument): string {
  return formatRunView(run, `run ${run.runId} (execution ${run.executionName}), started by ${run.startedBy ?? 'unknown'} at ${run.startedAt}`, [
    `  ${run.executionArn}`,
  ]);
}

/** The sandbox history's timeline of a record, with where it ran and who started it on AWS; `whole`: every fact of it. */
export function formatAuditRecord(record: AuditRecord, whole = false): string {
  const lines = [formatTimeline(record)];
  const principal = record.principal;
  lines.push(
    `  started by (CloudTrail): ${principal ? `${principal.arn ?? principal.type ?? 'unknown'}${principal.invokedBy ? ` via ${principal.invokedBy}` : ''}${principal.sourceIPAddress && !principal.invokedBy ? ` from ${principal.sourceIPAddress}` : ''}` : 'not found yet'}`,
  );
  if (record.alarm) {
    lines.push(
      record.alarm.confirmed
        ? `  alarm: ${record.alarm.alarmName} went from ${record.alarm.from ?? '?'} to ALARM at ${record.alarm.at}: ${record.alarm.reason ?? ''}`.trimEnd()
        : `  alarm: ${record.alarm.alarmName} (no change into ALARM found in its history before the run)`,
    );
  }
  lines.push(`  execution: ${record.executionArn} (${record.executionStatus}${record.redriveCount ? `, redriven ${record.redriveCount}×` : ''})`);
  if (whole) {
    lines.push(`  console: ${consoleLink(record.executionArn)}`);
    lines.push(`  request: ${JSON.stringify(record.request)}`);
    if (principal) lines.push(`  principal: ${JSON.stringify(principal)}`);
    lines.push('  steps:');
    for (const step of record.steps) {
      lines.push(
        `    ${step.name}${step.member ? ` (${step.member})` : ''}: ${step.status}, ${step.attempts} attempt${step.attempts === 1 ? '' : 's'}, ${step.startedAt} → ${step.endedAt ?? 'running'}`,
      );
      if (step.detail) lines.push(`      ${step.detail}`);
      if (step.error && step.error.message !== step.detail) lines.push(`      ${step.error.name}: ${step.error.message}`);
    }
    lines.push(`  recorded at ${record.recordedAt} from ${record.historyEvents} history events`);
  }
  return lines.join('\n');
}
