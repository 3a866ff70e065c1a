// `etcd-replace history`: past runs from the durable run record, newest first: outcome, who or what
// started them, and the step timeline. With --target aws, the audit records the deployed stack writes
// (cli/auditHistory.ts).

import { FileRunStore } from '../functions/adapters/sandbox/fileRunStore.ts';
import * as validate from '../functions/validate.ts';
import { integerOption, parse, printJson, runCommand, targetsAws, UsageError } from './common.ts';
import { usageOf } from './help.ts';
import { formatTimeline } from './runReport.ts';
import { runViewOfRecord } from '../functions/workflow/runView.ts';

const USAGE = usageOf('history');

export async function historyCommand(argv: string[]): Promise<number> {
  if (targetsAws(argv)) return (await import('./auditHistory.ts')).auditHistoryCommand(argv);
  return runCommand(async () => {
    const { values } = parse(argv, { sandbox: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean', default: false }, target: { type: 'string', default: 'sandbox' } }, USAGE);
    if (values.target !== 'sandbox') throw new UsageError(`--target must be sandbox or aws, got "${values.target}"\n${USAGE}`);
    const cluster = values.sandbox === undefined ? undefined : validate.sandboxName('--sandbox', values.sandbox);
    const limit = integerOption('limit', values.limit, 20);
    const records = await new FileRunStore().list({ ...(cluster ? { cluster } : {}), limit });
    if (values.json) {
      printJson(records.map((r) => ({ ...runViewOfRecord(r), cluster: r.cluster, target: r.target, startedBy: r.startedBy, request: r.request, state: r.state })));
    } else if (records.length === 0) {
      process.stdout.write('no runs recorded\n');
    } else {
      process.stdout.write(`${records.map(formatTimeline).join('\n\n')}\n`);
    }
    return 0;
  });
}
