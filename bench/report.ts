// docs/benchmarks.md and docs/benchmarks.json from a BenchReport.

import { renderAwsRows } from './awsRows.ts';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { TASKS } from '../statemachine/spec.ts';
import { PRICE_LIST } from './costModel.ts';
import type { BenchReport, CostReport, Measurement, ScenarioSummary, WorkflowMeasurement } from './run.ts';
import { REPO_ROOT } from './run.ts';
import { exampleConfig, renderDetection } from './detection.ts';

export const DOCS_JSON = path.join(REPO_ROOT, 'docs', 'benchmarks.json');
export const DOCS_MD = path.join(REPO_ROOT, 'docs', 'benchmarks.md');
/** Hand-written analysis (where the time goes, proposals with numbers), appended to the generated page. */
export const ANALYSIS = path.join(REPO_ROOT, 'bench', 'analysis.md');

/** Steps up to and including VerifyClusterHealth: the part of a run the floor is compared with. */
const TO_CAUGHT_UP = TASKS.slice(0, TASKS.findIndex((t) => t.name === 'VerifyClusterHealth') + 1).map((t) => t.name);

/** Median over a scenario's successful workflow runs of the SSM commands on the critical path up to "caught up". */
export function criticalPathToCaughtUp(r: BenchReport, scenario: string): number | null {
  const runs = r.measurements.filter((m): m is WorkflowMeasurement => m.kind === 'workflow' && m.ok && m.scenario === scenario && m.failMode === 'kill');
  const v = runs.map((m) => TO_CAUGHT_UP.reduce((n, step) => n + (m.commands.byStep[step]?.criticalPath ?? 0), 0)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

const s = (ms: number | null | undefined) => (ms === null || ms === undefined || !Number.isFinite(ms) ? '–' : `${(ms / 1000).toFixed(2)} s`);
const x = (r: number | null) => (r === null ? '–' : `${r.toFixed(2)}×`);
/** The add-to-started window as floor / workflow; the workflow's is "—" on the learner path (a learner does not vote). */
export function windowCell(c: ScenarioSummary): string {
  const flow = c.workflowPath === 'learner' ? '—' : s(c.workflowAddToStartedMs);
  return `${s(c.floorAddToStartedMs)} / ${flow}`;
}

/** PromoteNewMember's time on the learner path; "—" on the plain path (nothing to promote). */
export function promoteCell(c: ScenarioSummary): string {
  return c.workflowPath === 'plain' ? '—' : s(c.workflowPromoteMs);
}

const usd = (n: number) => (n === 0 ? '$0' : n < 0.0001 ? `$${n.toExponential(2)}` : `$${n.toFixed(5)}`);

export function renderCost(cost: CostReport): string {
  const out: string[] = [];
  out.push(
    "State transitions are counted by executing the compiled ASL (`compileAsl()`) locally with aws-local-stepfunctions and fake tasks that succeed along each path (bench/costModel.ts): one transition per state executed (Task, Choice, Wait, the final Succeed) plus one per retry. SSM commands are counted on real sandbox runs: every `HostRunner.run` of the run (the etcd port runs etcdctl.sh through it too) is one `SendCommand` on AWS; commands a step runs concurrently count once on the critical path; calls to an unreachable host send nothing on AWS (the runner's DescribeInstanceInformation check fails first) and are listed apart.",
  );
  out.push('');
  out.push('| path | states executed | transitions (+ retries seen) | Lambda invocations | SSM commands | SSM on the critical path | measured on |');
  out.push('|---|---|---|---|---|---|---|');
  for (const v of cost.variants) {
    const t = cost.transitions.find((c) => c.variant === v.variant);
    out.push(
      `| ${v.variant} | ${t?.path.length ?? '–'} | ${v.transitions} | ${v.lambdaInvocations} | ${v.ssmCommands ?? '–'} | ${v.ssmCriticalPath ?? '–'} | ${v.measuredFrom} |`,
    );
  }
  out.push('');
  out.push(`Path executed (learner, failed host unreachable): ${cost.transitions[0]?.path.join(' → ') ?? ''}.`);
  out.push('');
  const priced = cost.variants.filter((v) => v.cost !== null);
  for (const v of priced) {
    out.push(
      `**Price per run, ${v.variant}** (${v.cost!.source}): **${usd(v.cost!.totalUsd)}** (about ${v.cost!.runsPerDollar.toLocaleString('en-US')} runs per dollar)`,
    );
    out.push('');
    out.push('| item | quantity | unit price | cost |');
    out.push('|---|---|---|---|');
    for (const l of v.cost!.lines) out.push(`| ${l.item} | ${l.quantity} | ${l.unitPrice} | ${usd(l.usd)} |`);
    out.push('');
  }
  const first = priced[0];
  if (first?.ssmByStep) {
    out.push(`SSM commands per step (${first.variant}; sent / on the critical path / unreachable, nothing sent):`);
    out.push('');
    out.push('| step | sent | critical path | unreachable |');
    out.push('|---|---|---|---|');
    for (const t of TASKS) {
      const c = first.ssmByStep[t.name];
      if (c) out.push(`| ${t.name} | ${c.total} | ${c.criticalPath} | ${c.unreachable} |`);
    }
    out.push('');
  }
  out.push('Prices used (published prices as of 2026-11, us-east-1):');
  out.push('');
  for (const p of PRICE_LIST) out.push(`- ${p.item}: ${p.price}`);
  out.push(
    '- Lambda duration is estimated as the sum of the measured step times (each step Lambda waits for its SSM commands) at 512 MB, plus 0.3 s of billed INIT per invocation (each task state has its own function, so most invocations start cold). On AWS each SSM command adds delivery and polling latency the sandbox does not have, so real durations are longer; at these prices every extra 10 s of step time costs $0.00008.',
  );
  out.push(
    '- S3: one PUT per upload URL used, one GET per download URL, one request per HEAD; DynamoDB: the lock (a conditional put, a read, a delete). CloudWatch Logs ingestion and KMS are not counted.',
  );
  return out.join('\n');
}

function machineTable(r: BenchReport): string {
  const m = r.machine;
  return [
    '| | |',
    '|---|---|',
    `| CPUs (\`nproc\`) | ${m.nproc} |`,
    `| CPU model | ${m.cpuModel} |`,
    `| memory | ${m.memoryGiB} GiB |`,
    `| kernel | ${m.kernel} |`,
    `| etcd on this machine | ${m.etcdVersion} (the bench's own etcdctl; each scenario names the etcd its members run) |`,
    `| Node.js | ${m.node} |`,
    `| date | ${m.date} |`,
    `| code measured | ${m.commit ?? 'unknown'}${m.commit?.endsWith('+changes') ? ' (the tree had uncommitted edits under functions/, statemachine/, sandbox/ or bench/ when it ran)' : ''} |`,
    `| /proc/loadavg at start / end | \`${m.loadavgStart}\` / \`${m.loadavgEnd}\` |`,
  ].join('\n');
}

function loadLine(measurements: readonly Measurement[]): string {
  const loads = measurements.map((m) => m.load1).sort((a, b) => a - b);
  if (loads.length === 0) return '';
  const leaders = measurements.filter((m) => m.failedWasLeader).length;
  return `1-minute load when each measurement started: min ${loads[0]}, max ${loads.at(-1)} (2 cores, shared with other work at the time, so timings are noisy). The killed host was etcd's leader in ${leaders} of ${measurements.length} measurements (the bench waits for the survivors to agree on a new leader in every case before the clock starts).`;
}

/** Detection and end-to-end time on AWS, modelled from this report's step times (bench/detection.ts). */
export function detectionSection(r: BenchReport): string {
  return `## Detection and end-to-end time on AWS (modelled)\n\n${renderDetection(exampleConfig(), r)}`;
}

export function renderMarkdown(r: BenchReport, closingNote: string, modelled = ''): string {
  const out: string[] = [];
  out.push('# Benchmarks');
  out.push('');
  out.push('<!-- Generated by `etcd-replace bench` (bench/run.ts, bench/report.ts); the analysis comes from bench/analysis.md. -->');
  out.push('');
  const mode = r.mode === 'partial' ? `**partial** (only the scenarios below: not a full run)` : `**${r.mode}**`;
  out.push(
    `Mode: ${mode}, ${r.reps} repetition(s) per scenario and kind. Each scenario is \`MEMBERSxMB@ETCD\`: its members, the data loaded, and the etcd every member runs (3.2.22, OpenShift 3.11's: plain \`member add\`; 3.4.23, Debian's: learner and promote). Reproduce (3.2.22 needs its build: \`ETCD_REPLACE_ETCD_BUILDS=DIR\` with \`DIR/v3.2.22/{etcd,etcdctl}\`; without it the 3.2.22 scenarios are skipped and the page says so):`,
  );
  out.push('');
  out.push('```sh');
  out.push(`${r.command}   # this page (as root)`);
  if (r.command !== 'npm run bench -- --quick') out.push('npm run bench -- --quick     # 3x32 on 3.2.22 and on 3.4.23, 2 reps (a few minutes)');
  if (r.command !== 'npm run bench') out.push('npm run bench                # every scenario on both versions, including 3x1024, 3 reps');
  out.push('npm run bench -- --scenario 3x1024@3.2.22 --reps 1   # one scenario; MxMB alone (3x32, 3x256, 5x32, 3x1024) means it on both versions');
  out.push('node bin/etcd-replace.mjs bench --cost-only   # the cost model alone, no sandbox');
  out.push('npx tsx bench/timeObserve.ts SANDBOX master-2 5   # one failure observation, timed, on a sandbox with master-2 failed');
  out.push('bash bench/floor.sh SANDBOX master-2 etcd-spare-0   # the floor on a sandbox you built and failed');
  out.push('```');
  out.push('');
  out.push('## Machine');
  out.push('');
  out.push(machineTable(r));
  out.push('');
  out.push(loadLine(r.measurements));
  out.push('');
  for (const k of r.skipped ?? []) out.push(`- not run: ${k.scenario}: ${k.reason}`);
  if ((r.skipped ?? []).length > 0) out.push('');
  out.push('## Replacement time (medians)');
  out.push('');
  out.push(
    "Each measurement runs on a fresh sandbox: `sandboxUp` (the scenario's members, one spare, one node, the data loaded), `failHost(master-2, kill)` (powered off: its etcd and every process die, its veth goes down), then the bench waits until the survivors agree on a leader and 5 s more (etcd's HealthInterval; an alarm or an operator never starts sooner), then starts the clock, then `sandboxDown`. Floor and workflow alternate, each on its own sandbox.",
  );
  out.push('');
  out.push(
    "- **floor**: bench/floor.sh, the seed runbook as one straight script by a perfect operator (no checks, snapshot, backup or retries; one bash per host), from its start until `endpoint health` on the new member passes and its raft index and revision equal the leader's.",
  );
  out.push(
    "- **workflow → caught up**: the real workflow (`runLocally` with the sandbox ports, as `etcd-replace run` does, in-process so no CLI start-up), from the run's start to the end of VerifyClusterHealth (the new member promoted, every member healthy). **This is the comparable figure; the ratio is workflow → caught up / floor.**",
  );
  out.push('- **workflow → end**: to the end of the run, including RollMasters, UpdateFlannel and ReleaseLock, which the floor does not do.');
  out.push(
    '- **path**: how the workflow added the new member: `learner` (`member add --learner`, then `member promote`; every member 3.4+) or `plain` (`member add`: a voter from the add).',
  );
  out.push(
    "- **add → started** (floor / workflow): with a plain `member add` the new member votes from the add, and a 3-member cluster runs one failure from losing quorum until it has started. Floor: its `member add` returned → `endpoint health` passes on the new member. Workflow: the run's `addToStartedSeconds` (`run --json`), from AddMember's add to StartNewMember's end (the new member listed under its name and healthy, i.e. caught up). \"—\" for the workflow on the learner path, where the new member does not vote before it is promoted (the floor always uses a plain add); **promote** is PromoteNewMember's own time there.",
  );
  out.push(
    `- \`graceSeconds\` is **${r.graceSeconds}** in the benchmark. The grace window (WaitGraceWindow) is a deliberate safety wait between the two observations of the failure; it adds exactly the configured seconds (the model's default is 10 s, the CLI's 2 s) to both figures.`,
  );
  out.push('');
  out.push(
    '| scenario | etcd | path | floor | workflow → caught up | ratio | add → started (floor / workflow) | promote | workflow → end | ratio (end) | SSM commands (critical path; to caught up) | failures (floor / workflow) |',
  );
  out.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const c of r.scenarios) {
    out.push(
      `| ${c.scenario} | ${c.etcdVersion ?? '–'} | ${c.workflowPath ?? '–'} | ${s(c.floorMs)} | ${s(c.workflowCaughtUpMs)} | **${x(c.ratio)}** | ${windowCell(c)} | ${promoteCell(c)} | ${s(c.workflowTotalMs)} | ${x(c.ratioTotal)} | ${c.ssmCommands ?? '–'} (${c.ssmCriticalPath ?? '–'}; ${criticalPathToCaughtUp(r, c.scenario) ?? '–'}) | ${c.floorFailures} / ${c.workflowFailures} |`,
    );
  }
  out.push('');
  if (r.aws?.length) {
    out.push(renderAwsRows(r.aws));
    out.push('');
  }
  out.push('Floor phases (median, from its start): `member add` returned / `systemctl enable etcd --now` returned / `endpoint health` passed / caught up:');
  out.push('');
  for (const c of r.scenarios)
    out.push(`- ${c.scenario}: ${s(c.floorPhasesMs.added)} / ${s(c.floorPhasesMs.started)} / ${s(c.floorPhasesMs.healthy)} / ${s(c.floorPhasesMs.caughtUp)}`);
  out.push('');
  out.push('## Per-step breakdown (workflow, median per step)');
  out.push('');
  out.push(`| step | ${r.scenarios.map((c) => c.scenario).join(' | ')} |`);
  out.push(`|---|${r.scenarios.map(() => '---').join('|')}|`);
  for (const t of TASKS) {
    const cells = r.scenarios.map((c) => s(c.stepMedianMs[t.name]));
    if (cells.every((v) => v === '–')) continue;
    out.push(`| ${t.name} | ${cells.join(' | ')} |`);
  }
  out.push('');
  out.push('## Every measurement');
  out.push('');
  out.push('| scenario | etcd | rep | kind | result | to caught up | to end | add → started | load | leader killed |');
  out.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const m of r.measurements) {
    const kind =
      m.kind === 'workflow'
        ? `workflow${m.addedAsLearner === true ? ', learner' : m.addedAsLearner === false ? ', plain' : ''}${m.failMode !== 'kill' ? ` (fail ${m.failMode}, cost model)` : ''}`
        : m.kind;
    const window = m.kind === 'workflow' && m.addedAsLearner === true ? '—' : s(m.addToStartedMs);
    out.push(
      `| ${m.scenario} | ${m.etcdVersion ?? '–'} | ${m.rep} | ${kind} | ${m.ok ? 'ok' : `failed: ${(m.error ?? '').replace(/\|/g, '/').slice(0, 160)}`} | ${s(m.caughtUpMs)} | ${m.kind === 'workflow' ? s(m.totalMs) : '–'} | ${window} | ${m.load1} | ${m.failedWasLeader ? 'yes' : 'no'} |`,
    );
  }
  out.push('');
  out.push('## AWS cost per run');
  out.push('');
  out.push(renderCost(r.cost));
  out.push('');
  if (modelled.trim() !== '') {
    out.push(modelled.trim());
    out.push('');
  }
  if (closingNote.trim() !== '') {
    out.push(closingNote.trim());
    out.push('');
  }
  return out.join('\n');
}

export async function writeReport(r: BenchReport): Promise<void> {
  const note = await fs.readFile(ANALYSIS, 'utf8').catch(() => '');
  await fs.mkdir(path.dirname(DOCS_JSON), { recursive: true });
  await fs.writeFile(DOCS_JSON, `${JSON.stringify(r, null, 2)}\n`);
  await fs.writeFile(DOCS_MD, renderMarkdown(r, note, detectionSection(r)));
}

/** Rewrites docs/benchmarks.md from docs/benchmarks.json and the analysis. */
export async function renderFromJson(): Promise<void> {
  const r = JSON.parse(await fs.readFile(DOCS_JSON, 'utf8')) as BenchReport;
  const note = await fs.readFile(ANALYSIS, 'utf8').catch(() => '');
  await fs.writeFile(DOCS_MD, renderMarkdown(r, note, detectionSection(r)));
}
