// `etcd-replace history`: past runs from the durable run record, newest first: outcome, who or what
// started them, and the step timeline. With --target aws, the audit records the deployed stack writes
// (cli/auditHistory.ts). A record that cannot be read is listed first, as unreadable: its file, why,
// and what to do; `--json` gives it as {runId, cluster?, unreadable: {path, error, action}}.

import { FileRunStore, unreadableAction, type UnreadableRunRecord } from '../sandbox/adapters/fileRunStore.ts';
import * as validate from '../functions/validate.ts';
import { integerOption, parse, printJson, progress, runCommand, targetsAws, UsageError } from './common.ts';
import { usageOf } from './help.ts';
import { formatTimeline } from './runReport.ts';
import { runViewOfRecord } from '../functions/workflow/runView.ts';

const USAGE = usageOf('history');

/** The JSON entry of an unreadable record: `cluster` only when what can be read of it names one. */
export function unreadableEntry(u: UnreadableRunRecord): { runId: string; cluster?: string; unreadable: { path: string; error: string; action: string } } {
  return { runId: u.runId, ...(u.cluster ? { cluster: u.cluster } : {}), unreadable: { path: u.path, error: u.error, action: unreadableAction(u) } };
}

/** The text of an unreadable record: its run, file, why, and what to do. */
export function formatUnreadable(u: UnreadableRunRecord): string {
  return [`run ${u.runId} on ${u.cluster ?? 'an unknown cluster'}: UNREADABLE record ${u.path}`, `  ${u.error}`, `  ${unreadableAction(u)}`].join('\n');
}

export async function historyCommand(argv: string[]): Promise<number> {
  if (targetsAws(argv)) return (await import('./auditHistory.ts')).auditHistoryCommand(argv);
  return runCommand(async () => {
    const { values } = parse(argv, { sandbox: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean', default: false }, target: { type: 'string', default: 'sandbox' } }, USAGE);
    if (values.target !== 'sandbox') throw new UsageError(`--target must be sandbox or aws, got "${values.target}"\n${USAGE}`);
    const cluster = values.sandbox === undefined ? undefined : validate.sandboxName('--sandbox', values.sandbox);
    const limit = integerOption('limit', values.limit, 20);
    const { records, unreadable } = await new FileRunStore().scan({ ...(cluster ? { cluster } : {}), limit });
    if (values.json) {
      printJson([
        ...unreadable.map(unreadableEntry),
        ...records.map((r) => ({ ...runViewOfRecord(r), cluster: r.cluster, target: r.target, startedBy: r.startedBy, request: r.request, state: r.state })),
      ]);
      if (unreadable.length > 0) progress(`warning: ${unreadable.length} run record${unreadable.length === 1 ? '' : 's'} cannot be read (the entries with "unreadable")`);
    } else if (records.length === 0 && unreadable.length === 0) {
      process.stdout.write('no runs recorded\n');
    } else {
      process.stdout.write(`${[...unreadable.map(formatUnreadable), ...records.map(formatTimeline)].join('\n\n')}\n`);
    }
    return 0;
  });
}
