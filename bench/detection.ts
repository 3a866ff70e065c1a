// Detection and end-to-end time on AWS, MODELLED (nothing here runs on AWS): how long from a member's
// failure to the start of its replacement for each signal the stack listens to, and from the failure to
// a caught-up new member. Every figure is named with where it comes from: an AWS documentation page, a
// third-party measurement, the source code of a comparable tool, this repository's sandbox benchmark
// (docs/benchmarks.json), or an assumption where nothing is published. `npm run bench:detection` prints
// it; `etcd-replace bench --cost-only` and docs/benchmarks.md include it; docs/aws.md carries the table.

import { promises as fs, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { parseConfig, type DeploymentConfig } from '../lib/config.ts';
import { probeTiming } from '../lib/etcd-replacement.ts';
import { TASKS } from '../statemachine/spec.ts';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BENCHMARKS_JSON = path.join(REPO_ROOT, 'docs', 'benchmarks.json');
const EXAMPLE_CONFIG = path.join(REPO_ROOT, 'docs', 'etcd-replace.config.example.json');

export type SourceKind = 'AWS documentation' | 'third-party measurement' | 'source code' | 'this repository' | 'assumption';

export interface Source {
  id: string;
  kind: SourceKind;
  what: string;
  url?: string;
}

/** Every figure the model uses, with where it comes from. */
export const SOURCES = {
  statusChecks: {
    id: 'S1',
    kind: 'AWS documentation',
    what: 'EC2 status checks are performed every minute on every running instance',
    url: 'https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/monitoring-system-instance-status-check.html',
  },
  statusMetric: {
    id: 'S2',
    kind: 'AWS documentation',
    what: 'StatusCheckFailed_System: 0 or 1 for the last minute, at a 1-minute frequency at no charge (basic monitoring publishes the other EC2 metrics every 5 minutes, detailed every minute)',
    url: 'https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/viewing_metrics_with_cloudwatch.html#status-check-metrics ; https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/ec2-metricscollected.html',
  },
  alarmEvaluation: {
    id: 'S3',
    kind: 'AWS documentation',
    what: 'alarms with 10 or 30 s periods are evaluated every 10 s; a 1-minute alarm is taken as evaluated once a minute',
    url: 'https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html',
  },
  stateChangeEvent: {
    id: 'S4',
    kind: 'AWS documentation',
    what: 'EC2 sends "EC2 Instance State-change Notification" when an instance enters pending, running, stopping, stopped, shutting-down or terminated; AWS service events reach EventBridge best effort or durably',
    url: 'https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/monitoring-instance-state-changes.html ; https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-delivery-level.html',
  },
  eventBridgeLatency: {
    id: 'S5',
    kind: 'third-party measurement',
    what: 'EventBridge event bus to a Lambda target, eu-west-1, after the February 2023 update: p50 148 ms, p90 241 ms, p99 387 ms; Step Functions Standard task invoking Lambda synchronously: p50 99 ms, p99 250 ms',
    url: 'https://bitesizedserverless.com/bite/serverless-messaging-latency-compared/',
  },
  lambdaColdStart: {
    id: 'S6',
    kind: 'third-party measurement',
    what: "Node.js 18 Lambda cold start (Init Duration), 1 MB package: average 197 ms, p90 211 ms (the bundles here are about 1 MB; the functions' REPORT lines give the real Init Duration)",
    url: 'https://gist.github.com/adriantanasa/d9cb9f7313f985f180c0aec98e482f2b',
  },
  ec2Boot: {
    id: 'S7',
    kind: 'third-party measurement',
    what: 'ec2-boot-bench on c5.xlarge (2021): RunInstances call 1.5 s, pending → running 4.9 s, running → TCP/22 answering 17.2 s, → sshd accepting 5.6 s',
    url: 'https://www.daemonology.net/blog/2021-08-12-EC2-boot-time-benchmarking.html',
  },
  etcdadmController: {
    id: 'S8',
    kind: 'source code',
    what: "etcdadm-controller: healthCheckInterval = 30 (s), maxUnhealthyCount = 5; the member's machine is removed after 5 failed checks in a row, then Cluster API provisions a new one",
    url: 'https://github.com/aws/etcdadm-controller/blob/main/controllers/periodic_healthcheck.go',
  },
  etcdManager: {
    id: 'S9',
    kind: 'source code',
    what: 'etcd-manager: removeUnhealthyDeadline = 1 minute, defaultCycleInterval = 10 s (it removes the member; the instance group brings the host back)',
    url: 'https://github.com/kubernetes-sigs/etcd-manager/blob/master/pkg/controller/controller.go',
  },
  sandbox: {
    id: 'S10',
    kind: 'this repository',
    what: 'step times, SSM commands on the critical path, state transitions and Lambda invocations of the workflow, measured on the sandbox (docs/benchmarks.json, docs/benchmarks.md)',
  },
  ssmRoundTrip: {
    id: 'A1',
    kind: 'assumption',
    what: 'no published latency for SSM Run Command: 1 s per command on the critical path (SendCommand, delivery to the agent, the result; the runner polls GetCommandInvocation every 250 ms in the first 10 s); measure it with a rehearsal on AWS',
  },
  ssmRegistration: {
    id: 'A2',
    kind: 'assumption',
    what: 'no published time for the SSM agent to register: taken as Online when sshd answers (the agent starts in the same boot phase) plus one 5 s readiness poll of ProvisionReplacement',
  },
  apiCalls: {
    id: 'A3',
    kind: 'assumption',
    what: "the signal function's two API calls (DescribeInstances, StartExecution): 0.1 s each; no published figure",
  },
} as const satisfies Record<string, Source>;

const S = SOURCES;
const cite = (...sources: Source[]) => sources.map((s) => s.id).join(', ');

/** One way a failure reaches StartExecution: expected and worst time, and what it is made of. */
export interface Detection {
  signal: string;
  covers: string;
  expectedSeconds: number;
  worstSeconds: number;
  path: string;
  sources: string;
}

const EB_P50 = 0.148;
const EB_P99 = 0.387;
const SFN_STEP = 0.099;
const SFN_STEP_P99 = 0.25;
const COLD_START = 0.197;
const API_CALL = 0.1;
const SSM_COMMAND = 1;
const BOOT = { runInstances: 1.543, pendingToRunning: 4.905, toPortClosed: 17.176, toPortOpen: 5.643 };
const READINESS_POLL = 5;

/** The detection of each signal, for the given configuration. */
export function detections(config: Pick<DeploymentConfig, 'alarmMinutes' | 'probeIntervalMinutes' | 'statusCheckMinutes'>): Detection[] {
  const probe = probeTiming(config);
  const n = config.statusCheckMinutes;
  const interval = probe.intervalMinutes * 60;
  const m = probe.memberPeriods;
  return [
    {
      signal: 'EC2 state change (stopping, stopped, shutting-down, terminated)',
      covers: 'a member stopped or terminated (by a person, a scheduled retirement, a Spot interruption, an Auto Scaling action)',
      expectedSeconds: EB_P50 + COLD_START + 2 * API_CALL,
      worstSeconds: EB_P99 + COLD_START + 2 * API_CALL,
      path: 'state change → EventBridge → signal function (cold start, DescribeInstances, StartExecution)',
      sources: cite(S.stateChangeEvent, S.eventBridgeLatency, S.lambdaColdStart, S.apiCalls),
    },
    {
      signal: `StatusCheckFailed_System alarm (${n} × 1 min)`,
      covers: 'the host under the instance failed (power, network, hardware) while the instance stays "running"',
      // To the first failed check (half a minute on average), n breaching minutes, the next evaluation.
      expectedSeconds: 30 + (n - 1) * 60 + 30 + EB_P50,
      worstSeconds: 60 + (n - 1) * 60 + 60 + EB_P99,
      path: `check every minute → ${n} breaching 1-minute datapoints → alarm evaluation → EventBridge → StartExecution`,
      sources: cite(S.statusChecks, S.statusMetric, S.alarmEvaluation, S.eventBridgeLatency),
    },
    {
      signal: `etcd health probe alarm (every ${probe.intervalMinutes} min, ${m} probe(s))`,
      covers: 'etcd dead or partitioned on a host that still runs (what EC2 cannot see)',
      // The probe's own SSM command, then as for the status check but in probe intervals.
      expectedSeconds: interval / 2 + SSM_COMMAND + (m - 1) * interval + 30 + EB_P50,
      worstSeconds: interval + SSM_COMMAND + (m - 1) * interval + 60 + EB_P99,
      path: `probe every ${probe.intervalMinutes} min → ${m} unhealthy datapoint(s) → alarm evaluation → EventBridge → StartExecution`,
      sources: cite(S.alarmEvaluation, S.eventBridgeLatency, S.ssmRoundTrip),
    },
  ];
}

/** Comparable tools' detection, from their code. */
export function comparisons(): Array<{ tool: string; detectionSeconds: number | null; then: string; sources: string }> {
  return [
    {
      tool: 'etcdadm-controller (EKS Anywhere)',
      detectionSeconds: 5 * 30,
      then: "removes the member's machine; Cluster API launches a new one (an EC2 boot, then etcdadm join)",
      sources: cite(S.etcdadmController),
    },
    {
      tool: 'etcd-manager (kOps)',
      detectionSeconds: 60,
      then: 'removes the member (checked every 10 s); the instance group replaces the host, which re-attaches its volume and joins',
      sources: cite(S.etcdManager),
    },
    {
      tool: 'the runbook by hand',
      detectionSeconds: null,
      then: 'whatever pages the operator, then about thirty commands on four kinds of host; no published figure',
      sources: '',
    },
  ];
}

interface BenchJson {
  graceSeconds: number;
  scenarios: Array<{ scenario: string; stepMedianMs: Record<string, number>; floorMs: number | null }>;
  cost: { variants: Array<{ variant: string; transitions: number; lambdaInvocations: number; ssmByStep?: Record<string, { criticalPath: number }> | null }> };
}

export interface EndToEnd {
  scenario: string;
  graceSeconds: number;
  /** ValidateInput to CheckClusterHealth, on AWS. */
  beforeGraceSeconds: number;
  /** The steps that run inside the grace window (snapshot, certificates, the new host's preparation). */
  insideGraceSeconds: number;
  /** The same with a launched replacement host (ProvisionReplacement). */
  insideGraceLaunchedSeconds: number;
  /** ConfirmMemberFailed to VerifyClusterHealth: the new member caught up. */
  afterGraceSeconds: number;
  /** RollMasters, UpdateFlannel, ReleaseLock. */
  closingSeconds: number;
  provisionSeconds: number;
  floorSeconds: number | null;
  overheadPerStep: string;
}

/** The workflow on AWS: the sandbox's step times plus, per step, its SSM commands, a cold start and a transition. */
export function endToEnd(bench: BenchJson, graceSeconds: number, scenario = '3x32@3.2.22', variant = 'plain member add, failed host unreachable'): EndToEnd {
  const s = bench.scenarios.find((x) => x.scenario === scenario) ?? bench.scenarios[0];
  const v = bench.cost.variants.find((x) => x.variant === variant) ?? bench.cost.variants[0];
  if (!s || !v) throw new Error(`${BENCHMARKS_JSON} has no measured scenario`);
  const order: string[] = TASKS.map((t) => t.name);
  const onAws = (step: string) => (s.stepMedianMs[step] ?? 0) / 1000 + (v.ssmByStep?.[step]?.criticalPath ?? 0) * SSM_COMMAND + COLD_START + SFN_STEP;
  const measured = order.filter((name) => s.stepMedianMs[name] !== undefined);
  const at = (name: string) => order.indexOf(name);
  const sum = (steps: string[]) => steps.reduce((t, step) => t + onAws(step), 0);
  const before = measured.filter((n) => at(n) <= at('CheckClusterHealth'));
  const inside = measured.filter((n) => at(n) > at('CheckClusterHealth') && at(n) < at('ConfirmMemberFailed'));
  const after = measured.filter((n) => at(n) >= at('ConfirmMemberFailed') && at(n) <= at('VerifyClusterHealth'));
  const closing = measured.filter((n) => at(n) > at('VerifyClusterHealth'));
  const provisionSeconds = BOOT.runInstances + BOOT.pendingToRunning + BOOT.toPortClosed + BOOT.toPortOpen + READINESS_POLL + COLD_START + SFN_STEP;
  return {
    scenario: s.scenario,
    graceSeconds,
    beforeGraceSeconds: sum(before),
    insideGraceSeconds: sum(inside),
    insideGraceLaunchedSeconds: sum(inside) + provisionSeconds,
    afterGraceSeconds: sum(after),
    closingSeconds: sum(closing),
    provisionSeconds,
    floorSeconds: s.floorMs === null ? null : s.floorMs / 1000,
    overheadPerStep: `${SSM_COMMAND} s per SSM command on the critical path (${S.ssmRoundTrip.id}) + ${COLD_START} s cold start (${S.lambdaColdStart.id}) + ${SFN_STEP} s per state (${S.eventBridgeLatency.id}); p99 of a state ${SFN_STEP_P99} s`,
  };
}

const sec = (x: number) => (x < 10 ? `${x.toFixed(1)} s` : x < 120 ? `${Math.round(x)} s` : `${Math.round(x)} s (${(x / 60).toFixed(1)} min)`);

/** The detection table, the end-to-end estimate and the sources, as markdown. */
export function renderDetection(config: DeploymentConfig, bench: BenchJson | null): string {
  const out: string[] = [];
  out.push('**Modelled, not measured on AWS.** Each figure is named with its source below; where nothing is published the model says so and assumes (A1–A3).');
  out.push('');
  out.push(
    `Configuration: the example\'s (\`docs/etcd-replace.config.example.json\`): probe every ${config.probeIntervalMinutes} min, alarmMinutes ${config.alarmMinutes}, statusCheckMinutes ${config.statusCheckMinutes}, grace window ${config.alarmGraceSeconds} s.`,
  );
  out.push('');
  out.push('| signal | what it covers | failure → StartExecution, expected | worst | path | sources |');
  out.push('|---|---|---|---|---|---|');
  for (const d of detections(config)) out.push(`| ${d.signal} | ${d.covers} | ${sec(d.expectedSeconds)} | ${sec(d.worstSeconds)} | ${d.path} | ${d.sources} |`);
  out.push('');
  out.push('Comparable tools, detection only (from their code):');
  out.push('');
  out.push('| tool | failure → action | then | sources |');
  out.push('|---|---|---|---|');
  for (const c of comparisons())
    out.push(`| ${c.tool} | ${c.detectionSeconds === null ? 'not modelled' : sec(c.detectionSeconds)} | ${c.then} | ${c.sources || '–'} |`);
  out.push('');
  if (bench) {
    const e = endToEnd(bench, config.alarmGraceSeconds);
    const grace = (inside: number) => Math.max(e.graceSeconds, inside);
    const run = (inside: number) => e.beforeGraceSeconds + grace(inside) + e.afterGraceSeconds;
    out.push(
      `End to end on AWS, ${e.scenario} (OpenShift 3.11\'s etcd, plain \`member add\`), to the new member caught up (VerifyClusterHealth), modelled from the sandbox\'s step times (${S.sandbox.id}) plus, per step, ${e.overheadPerStep}. The grace window counts from the first observation; the steps inside it (snapshot, certificates, the new host\'s preparation) run during it, so that phase takes the longer of the two:`,
    );
    out.push('');
    out.push('| phase | spare from the pool | launched replacement host |');
    out.push('|---|---|---|');
    out.push(`| ValidateInput … CheckClusterHealth | ${sec(e.beforeGraceSeconds)} | ${sec(e.beforeGraceSeconds)} |`);
    out.push(
      `| grace window (${e.graceSeconds} s) or the steps inside it, the longer | ${sec(grace(e.insideGraceSeconds))} (steps: ${sec(e.insideGraceSeconds)}) | ${sec(grace(e.insideGraceLaunchedSeconds))} (steps: ${sec(e.insideGraceLaunchedSeconds)}, of which ProvisionReplacement ${sec(e.provisionSeconds)}: ${cite(S.ec2Boot, S.ssmRegistration)}) |`,
    );
    out.push(`| ConfirmMemberFailed … VerifyClusterHealth | ${sec(e.afterGraceSeconds)} | ${sec(e.afterGraceSeconds)} |`);
    out.push(`| **run, to caught up** | **${sec(run(e.insideGraceSeconds))}** | **${sec(run(e.insideGraceLaunchedSeconds))}** |`);
    out.push(`| RollMasters, UpdateFlannel, ReleaseLock (after) | ${sec(e.closingSeconds)} | ${sec(e.closingSeconds)} |`);
    out.push('');
    out.push('| signal | detection (expected) | + run, spare | + run, launched host |');
    out.push('|---|---|---|---|');
    for (const d of detections(config))
      out.push(
        `| ${d.signal} | ${sec(d.expectedSeconds)} | **${sec(d.expectedSeconds + run(e.insideGraceSeconds))}** | ${sec(d.expectedSeconds + run(e.insideGraceLaunchedSeconds))} |`,
      );
    out.push(`| etcdadm-controller | ${sec(150)} | then a machine is provisioned and joined: not modelled | |`);
    out.push(`| etcd-manager | ${sec(60)} | then the host is replaced and rejoins: not modelled | |`);
    out.push(
      `| the runbook by hand | not modelled | the sandbox floor, a perfect operator running the runbook as one script with no checks: ${e.floorSeconds === null ? '–' : sec(e.floorSeconds)} after someone starts it | |`,
    );
    out.push('');
    out.push(
      `A launched host costs no time as long as its launch and preparation (${sec(e.insideGraceLaunchedSeconds)}) fit in the grace window (${e.graceSeconds} s): the run waits out the window anyway before it observes the failure again.`,
    );
    out.push('');
    out.push(
      "Not in the model: how soon EC2 emits a state-change event or publishes a status-check datapoint (not published), a launched host's real `yum install etcd` (InstallEtcd's sandbox stand-in takes well under a second), Lambda retries, an SSM agent slower than sshd to come up, and the new member's catch-up on a large database (StartNewMember above is the 32 MB scenario's).",
    );
    out.push('');
  }
  out.push('Sources:');
  out.push('');
  for (const s of Object.values(SOURCES) as Source[]) out.push(`- ${s.id} (${s.kind}): ${s.what}${s.url ? `. ${s.url}` : ''}`);
  return out.join('\n');
}

export function exampleConfig(): DeploymentConfig {
  return parseConfig(JSON.parse(readFileSync(EXAMPLE_CONFIG, 'utf8')));
}

export async function benchJson(): Promise<BenchJson | null> {
  try {
    return JSON.parse(await fs.readFile(BENCHMARKS_JSON, 'utf8')) as BenchJson;
  } catch {
    return null;
  }
}

/** The section docs/benchmarks.md and `bench --cost-only` print. */
export async function detectionMarkdown(): Promise<string> {
  return `## Detection and end-to-end time on AWS (modelled)\n\n${renderDetection(exampleConfig(), await benchJson())}`;
}

const isEntry = process.argv[1] !== undefined && import.meta.url === new URL(`file://${path.resolve(process.argv[1])}`).href;
if (isEntry) process.stdout.write(`${await detectionMarkdown()}\n`);
