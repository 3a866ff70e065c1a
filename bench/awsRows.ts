// The bench's rows for AWS: the rehearsal (rehearsal/) of the synthesized stack on one sandbox of 3
// members at 32 MB, with AWS's latency added by the emulated services (rehearsal/latency.ts), started
// once by the member alarm (the grace window kept) and once by EC2's `terminated` event (final evidence:
// no grace window's wait). One sandbox and one synthesis serve both runs, as the rehearsal test does:
// the alarm's run replaces master-2 with the configured spare, then the EC2 run replaces master-1 with
// the pool's second spare (the first is a member by then, so the alarm, which names it, goes first).

import { failHost, sandboxDown } from '../sandbox/index.ts';
import { figureLines, type AwsFigures } from '../rehearsal/figures.ts';
import { AWS_LATENCY, type LatencyModel } from '../rehearsal/latency.ts';
import { rehearse, rehearsalCloud, synthesizeApp, type RehearsalState, type RehearsalTrigger, type SynthesizedApp } from '../rehearsal/rehearse.ts';
import { FAILED, REPLACEMENT, rehearsalSandbox, rehearsalSandboxName } from '../rehearsal/run.ts';

export interface AwsRow {
  trigger: RehearsalTrigger;
  state?: RehearsalState;
  failed: string;
  dataMb: number;
  etcdVersion: string;
  /** The grace window the stack was synthesized with (alarmGraceSeconds). */
  graceSeconds: number;
  latency: LatencyModel;
  status: string;
  figures: AwsFigures;
  /** The figures as rehearse:aws prints them. */
  lines: string[];
}

const GRACE_SECONDS = 60;
const DATA_MB = 32;

/** Both rehearsals on one sandbox; a run that fails still gives its row (its status says so). */
export async function measureAwsRows(log: (line: string) => void, latency: LatencyModel = AWS_LATENCY): Promise<AwsRow[]> {
  let app: SynthesizedApp | undefined;
  const run = await rehearsalSandbox(
    log,
    rehearsalSandboxName(),
    2,
    async (up) => {
      app = await synthesizeApp(up, REPLACEMENT, GRACE_SECONDS, () => {});
    },
    undefined,
    DATA_MB,
  );
  const rows: AwsRow[] = [];
  try {
    const cloud = await rehearsalCloud(app!, run.sandbox);
    const etcdVersion = run.sandbox.etcdVersion ?? '?';
    const plan: Array<{ failed: string; trigger: RehearsalTrigger; state?: RehearsalState }> = [
      { failed: FAILED, trigger: 'alarm' },
      { failed: 'master-1', trigger: 'ec2-state-change', state: 'terminated' },
    ];
    for (const [i, p] of plan.entries()) {
      if (i > 0) await failHost(run.name, p.failed, 'kill');
      const r = await rehearse({
        sandbox: run.sandbox,
        failed: p.failed,
        app: app!,
        cloud,
        trigger: p.trigger,
        ...(p.state ? { state: p.state } : {}),
        latency,
      });
      const lines = figureLines(r.figures);
      log(`AWS rehearsal, ${p.trigger}${p.state ? ` (${p.state})` : ''}: ${r.execution.status}; ${lines.join('; ')}`);
      rows.push({
        trigger: p.trigger,
        ...(p.state ? { state: p.state } : {}),
        failed: p.failed,
        dataMb: DATA_MB,
        etcdVersion,
        graceSeconds: GRACE_SECONDS,
        latency,
        status: r.execution.status,
        figures: r.figures,
        lines,
      });
      if (r.execution.status !== 'SUCCEEDED') break;
    }
  } finally {
    await app?.close();
    await sandboxDown(run.name);
  }
  return rows;
}

const f1 = (n: number | undefined) => (n === undefined ? '–' : `${n.toFixed(1)} s`);

/** The rows as a Markdown section. */
export function renderAwsRows(rows: readonly AwsRow[]): string {
  if (rows.length === 0) return '';
  const out = [
    '## On AWS (the rehearsal, AWS latency modelled)',
    '',
    `\`npm run rehearse:aws\` on one sandbox (3 members at ${rows[0]!.dataMb} MB, etcd ${rows[0]!.etcdVersion}, spare available), the emulated services adding AWS's latency (rehearsal/latency.ts; docs/aws.md, "Time on AWS"): SSM ${(rows[0]!.latency.ssmMs / 1000).toFixed(1)} s per command. The grace window is ${rows[0]!.graceSeconds} s (the deployed default). From the triggering event to full strength (VerifyClusterHealth done):`,
    '',
    '| trigger | result | end to end | before the window | window (waited) | after | SendCommand | GetCommandInvocation | DescribeInstanceInformation |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const t = r.figures.seconds;
    const c = r.figures.calls;
    out.push(
      `| ${r.trigger}${r.state ? ` (${r.state})` : ''} | ${r.status} | ${f1(t?.endToEnd)} | ${f1(t?.before)} | ${f1(t?.window)} (${f1(t?.waited)}) | ${f1(t?.after)} | ${c['SendCommand'] ?? 0} | ${c['GetCommandInvocation'] ?? 0} | ${c['DescribeInstanceInformation'] ?? 0} |`,
    );
  }
  out.push('');
  for (const r of rows) out.push(`- ${r.trigger}${r.state ? ` (${r.state})` : ''}: ${r.lines.find((l) => l.startsWith('SSM calls by step')) ?? ''}`);
  return out.join('\n');
}
