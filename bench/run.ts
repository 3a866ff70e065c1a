// The benchmark: replacement time of the workflow against the floor (bench/floor.sh, the
// seed runbook typed by a perfect operator), per scenario, on fresh sandboxes; and the AWS cost of a
// run. Every scenario names the etcd its members run (OpenShift 3.11's 3.2.22, with the plain `member
// add`; Debian's 3.4.23, with the learner). Every measurement: sandboxUp → note the leader → failHost(master-2, kill) → wait until the
// survivors agree on a leader, plus 5 s → measure → sandboxDown (always).

import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sandboxDeps } from '../sandbox/adapters/deps.ts';
import { ETCD_HEALTH_INTERVAL_MS, EtcdctlMembership } from '../functions/adapters/etcdctl.ts';
import type { RunRecord, RunStore } from '../functions/ports.ts';
import { STEPS } from '../functions/steps/index.ts';
import { newRunRecord, runLocally } from '../functions/workflow/localRun.ts';
import { failHost, sandboxDown, sandboxUp, type FailMode, type SandboxInfo } from '../sandbox/index.ts';
import { compareEtcdVersions } from '../functions/cluster/etcdVersion.ts';
import { DEBIAN_ETCD_VERSION, OPENSHIFT_ETCD_VERSION, findEtcdBuild } from '../sandbox/etcdBuilds.ts';
import type { StepRecord } from '../functions/ports.ts';
import type { WorkflowContext } from '../statemachine/context.ts';
import { TASKS } from '../statemachine/spec.ts';
import { CountingArtifactStore, CountingHostRunner, countCommands, type ArtifactCount, type CommandCount } from './counting.ts';
import { measureAwsRows, type AwsRow } from './awsRows.ts';
import { VARIANTS, countTransitions, priceRun, type RunCost, type TransitionCount } from './costModel.ts';
import { addToStartedSeconds } from '../statemachine/voterWindow.ts';

const execFileP = promisify(execFile);
const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(BENCH_DIR, '..');
export const FLOOR_SCRIPT = path.join(BENCH_DIR, 'floor.sh');

export const FAILED = 'master-2';
export const REPLACEMENT = 'etcd-spare-0';
/** After the failure, the survivors must agree on a leader; then this long (etcd's HealthInterval, 5 s) before a run starts. */
export const SETTLE_MS = ETCD_HEALTH_INTERVAL_MS;

export interface Scenario {
  /** `MxMB@X.Y.Z`, e.g. `3x32@3.2.22`: members, data loaded, the etcd every member runs. */
  name: string;
  members: 3 | 5;
  dataMb: number;
  etcdVersion: string;
}

/** The versions measured: OpenShift 3.11's (no learner: plain `member add`) and Debian's (learner + promote). */
export const BENCH_ETCD_VERSIONS: readonly string[] = [OPENSHIFT_ETCD_VERSION, DEBIAN_ETCD_VERSION];

export function scenario(members: 3 | 5, dataMb: number, etcdVersion: string): Scenario {
  return { name: `${members}x${dataMb}@${etcdVersion}`, members, dataMb, etcdVersion };
}

/** Each shape on each version, the versions of a shape side by side. */
export const SCENARIOS: readonly Scenario[] = (
  [
    [3, 32],
    [3, 256],
    [5, 32],
    [3, 1024],
  ] as const
).flatMap(([members, dataMb]) => BENCH_ETCD_VERSIONS.map((v) => scenario(members, dataMb, v)));
/** --quick: 3x32 on both versions. */
export const QUICK_SCENARIOS: readonly Scenario[] = SCENARIOS.filter((s) => s.members === 3 && s.dataMb === 32);

/**
 * `--scenario` values: `MxMB@X.Y.Z` names one scenario; `MxMB` (the names before versions) names that
 * shape on every version measured. Order follows SCENARIOS; duplicates collapse. Throws on anything else.
 */
export function pickScenarios(keys: readonly string[], all: readonly Scenario[] = SCENARIOS): Scenario[] {
  const picked = new Set<Scenario>();
  for (const key of keys) {
    const found = all.filter((s) => s.name === key || `${s.members}x${s.dataMb}` === key);
    if (found.length === 0)
      throw new Error(
        `--scenario must be one of ${all.map((s) => s.name).join(', ')} or MxMB for both versions (${[...new Set(all.map((s) => `${s.members}x${s.dataMb}`))].join(', ')}), got "${key}"`,
      );
    for (const s of found) picked.add(s);
  }
  return all.filter((s) => picked.has(s));
}

// Results -----------------------------------------------------------------------------------------

interface MeasurementBase {
  scenario: string;
  /** The etcd every member ran. */
  etcdVersion: string;
  rep: number;
  sandbox: string;
  /** The failed host was etcd's leader when it was killed (an election followed). */
  failedWasLeader: boolean;
  /** /proc/loadavg's 1-minute figure when the measurement started. */
  load1: number;
  ok: boolean;
  error?: string;
}

export interface FloorMeasurement extends MeasurementBase {
  kind: 'floor';
  /** Start → new member healthy and caught up (the floor's end). */
  caughtUpMs: number;
  /** Start → `systemctl enable etcd --now` returned on the new host. */
  startedMs: number;
  /** Start → `member add` returned (the new member is a voter from here). */
  addedMs: number;
  /** `member add` returned → `systemctl enable etcd --now` returned: one failure from losing quorum. */
  addToStartedMs: number;
  /** Start → `endpoint health` on the new member passed. */
  healthyMs: number;
}

export interface WorkflowMeasurement extends MeasurementBase {
  kind: 'workflow';
  /** Run start → VerifyClusterHealth ended (every member healthy, the new one caught up and voting). */
  caughtUpMs: number;
  /** Run start → PromoteNewMember ended (learner in sync and promoted); NaN on the plain path. */
  promotedMs: number;
  /** AddMember added the new member as a learner (etcd 3.4+); false: plain `member add`; null: the run never added. */
  addedAsLearner: boolean | null;
  /** Plain path: end of AddMember → end of StartNewMember (the new member votes but has not started). NaN on the learner path. */
  addToStartedMs: number;
  /** Learner path: PromoteNewMember's own time (all attempts). NaN on the plain path. */
  promoteMs: number;
  /** Run start → run end (masters and flannel included). */
  totalMs: number;
  /** Milliseconds per step (all attempts). */
  stepMs: Record<string, number>;
  /** Attempts per step. */
  attempts: Record<string, number>;
  commands: CommandCount;
  artifacts: ArtifactCount;
  outcome: string;
  failMode: FailMode;
}

export type Measurement = FloorMeasurement | WorkflowMeasurement;

export interface ScenarioSummary {
  scenario: string;
  members: number;
  dataMb: number;
  etcdVersion: string;
  /** How the successful workflow runs added the new member: learner, plain, mixed, or null (none succeeded). */
  workflowPath: 'learner' | 'plain' | 'mixed' | null;
  /** Median, plain-path runs: end of AddMember → end of StartNewMember. Null on the learner path. */
  workflowAddToStartedMs: number | null;
  /** Median, learner-path runs: PromoteNewMember's time. Null on the plain path. */
  workflowPromoteMs: number | null;
  /** Median: the floor's `member add` returned → `systemctl enable etcd --now` returned. */
  floorAddToStartedMs: number | null;
  reps: number;
  floorMs: number | null;
  workflowCaughtUpMs: number | null;
  workflowPromotedMs: number | null;
  workflowTotalMs: number | null;
  /** workflow (to caught up) / floor: the comparable ratio. */
  ratio: number | null;
  /** workflow (to the end of the run) / floor. */
  ratioTotal: number | null;
  floorFailures: number;
  workflowFailures: number;
  /** Median ms per workflow step. */
  stepMedianMs: Record<string, number>;
  /** Median SSM commands per run, total and on the critical path. */
  ssmCommands: number | null;
  ssmCriticalPath: number | null;
  floorPhasesMs: { added: number | null; started: number | null; healthy: number | null; caughtUp: number | null };
}

export interface Machine {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  etcdVersion: string;
  node: string;
  date: string;
  loadavgStart: string;
  loadavgEnd: string;
  /** The code measured: `git rev-parse --short HEAD`, with "+changes" when the tree differs from it. */
  commit: string;
}

export interface CostReport {
  transitions: TransitionCount[];
  /** The measured path (learner, failed host unreachable) and the reachable variant, priced. */
  variants: Array<{
    variant: string;
    transitions: number;
    lambdaInvocations: number;
    ssmCommands: number | null;
    ssmCriticalPath: number | null;
    ssmByStep: CommandCount['byStep'] | null;
    measuredFrom: string;
    cost: RunCost | null;
  }>;
}

export interface BenchReport {
  mode: 'quick' | 'full' | 'partial' | 'cost-only';
  /** Scenarios asked for but not run (their etcd build was not found), with why. */
  skipped?: Array<{ scenario: string; reason: string }>;
  reps: number;
  command: string;
  machine: Machine;
  graceSeconds: number;
  settleMs: number;
  scenarios: ScenarioSummary[];
  measurements: Measurement[];
  cost: CostReport;
  /** The rehearsal's rows on AWS (bench/awsRows.ts); absent on a run of named scenarios. */
  aws?: AwsRow[];
}

// Helpers -------------------------------------------------------------------------------------------

export function median(values: readonly number[]): number | null {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

async function loadavg(): Promise<string> {
  return (await fs.readFile('/proc/loadavg', 'utf8')).trim();
}

async function load1(): Promise<number> {
  return Number((await loadavg()).split(' ')[0]);
}

function sandboxName(): string {
  return `bench-${randomBytes(4).toString('hex')}`;
}

/** etcdctl v3 from this machine with the sandbox's client identity. */
async function etcdctl(info: SandboxInfo, endpoints: string[], args: string[]): Promise<string> {
  const { stdout } = await execFileP(
    'etcdctl',
    [
      `--cacert=${info.client.cacert}`,
      `--cert=${info.client.cert}`,
      `--key=${info.client.key}`,
      `--endpoints=${endpoints.join(',')}`,
      '--dial-timeout=1s',
      '--command-timeout=2s',
      ...args,
    ],
    { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 10_000 },
  );
  return stdout;
}

interface StatusLine {
  Endpoint: string;
  Status: { header: { member_id: number | string }; leader?: number | string };
}

/** Leader's client URL as the given endpoints see it, or null while they do not agree on one. */
async function agreedLeader(info: SandboxInfo, endpoints: string[]): Promise<string | null> {
  let lines: StatusLine[];
  try {
    const out = await etcdctl(info, endpoints, ['endpoint', 'status', '-w', 'json']);
    lines = JSON.parse(out.replace(/"(member_id|leader|cluster_id)":(\d+)/g, '"$1":"$2"')) as StatusLine[];
  } catch {
    return null;
  }
  if (lines.length !== endpoints.length) return null;
  const leaders = new Set(lines.map((l) => String(l.Status.leader ?? '0')));
  if (leaders.size !== 1 || leaders.has('0')) return null;
  const leaderId = [...leaders][0];
  return lines.find((l) => String(l.Status.header.member_id) === leaderId)?.Endpoint ?? null;
}

function clientUrl(info: SandboxInfo, host: string): string {
  const h = info.hosts.find((x) => x.name === host);
  if (!h) throw new Error(`no host ${host}`);
  return `https://${h.ip}:2379`;
}

function memberUrls(info: SandboxInfo): string[] {
  return info.hosts.filter((h) => h.roles.includes('etcd')).map((h) => `https://${h.ip}:2379`);
}

/** Builds a fresh sandbox, fails master-2, waits for the survivors to settle, runs `body`, and always tears down. */
async function onFreshSandbox<T>(
  scenario: Scenario,
  mode: FailMode,
  log: (m: string) => void,
  body: (info: SandboxInfo, facts: { failedWasLeader: boolean; load1: number; sandbox: string; etcdVersion: string }) => Promise<T>,
): Promise<T> {
  const name = sandboxName();
  try {
    const info = await sandboxUp({ name, members: scenario.members, spares: 1, nodes: 1, dataMb: scenario.dataMb, etcdVersion: scenario.etcdVersion });
    const all = memberUrls(info);
    let leaderBefore: string | null = null;
    for (let i = 0; i < 50 && leaderBefore === null; i++) {
      leaderBefore = await agreedLeader(info, all);
      if (leaderBefore === null) await sleep(100);
    }
    const failedWasLeader = leaderBefore === clientUrl(info, FAILED);
    await failHost(name, FAILED, mode);
    const survivors = all.filter((u) => u !== clientUrl(info, FAILED));
    const deadline = Date.now() + 60_000;
    while ((await agreedLeader(info, survivors)) === null) {
      if (Date.now() > deadline) throw new Error(`${name}: the survivors agreed on no leader within 60 s`);
      await sleep(100);
    }
    await sleep(SETTLE_MS);
    return await body(info, { failedWasLeader, load1: await load1(), sandbox: name, etcdVersion: scenario.etcdVersion });
  } finally {
    await sandboxDown(name).catch((error: unknown) => log(`warning: sandbox down ${name}: ${String(error)}`));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// The floor -----------------------------------------------------------------------------------------

interface FloorResult {
  ms: number;
  addedMs: number;
  startedMs: number;
  healthyMs: number;
  caughtUpMs: number;
  etcdVersion: string;
}

function runFloorScript(sandbox: string): Promise<FloorResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [FLOOR_SCRIPT, sandbox, FAILED, REPLACEMENT], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !line.startsWith('{')) {
        reject(new Error(`floor.sh exited ${String(code)}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
        return;
      }
      resolve(JSON.parse(line) as FloorResult);
    });
  });
}

async function measureFloor(scenario: Scenario, rep: number, log: (m: string) => void): Promise<FloorMeasurement> {
  return onFreshSandbox(scenario, 'kill', log, async (_info, facts) => {
    const base = { kind: 'floor' as const, scenario: scenario.name, rep, ...facts };
    try {
      const r = await runFloorScript(facts.sandbox);
      if (r.etcdVersion !== scenario.etcdVersion) throw new Error(`floor.sh ran on etcd ${r.etcdVersion}, the scenario is ${scenario.etcdVersion}`);
      // The same window as the workflow's: from `member add` to the new member healthy (caught up).
      return {
        ...base,
        ok: true,
        caughtUpMs: r.caughtUpMs,
        addedMs: r.addedMs,
        startedMs: r.startedMs,
        healthyMs: r.healthyMs,
        addToStartedMs: r.healthyMs - r.addedMs,
      };
    } catch (error) {
      const nan = Number.NaN;
      return { ...base, ok: false, error: String(error), caughtUpMs: nan, addedMs: nan, startedMs: nan, healthyMs: nan, addToStartedMs: nan };
    }
  });
}

// The workflow --------------------------------------------------------------------------------------

class MemoryRunStore implements RunStore {
  private readonly records = new Map<string, RunRecord>();
  async save(record: RunRecord): Promise<void> {
    this.records.set(record.runId, record);
  }
  async get(runId: string): Promise<RunRecord | null> {
    return this.records.get(runId) ?? null;
  }
  async list(): Promise<RunRecord[]> {
    return [...this.records.values()];
  }
}

function msBetween(from: string, to: string | undefined): number {
  return to === undefined ? Number.NaN : Date.parse(to) - Date.parse(from);
}

const endOfStep = (steps: readonly StepRecord[], name: string) => steps.filter((s) => s.name === name && s.status === 'succeeded').at(-1)?.endedAt;

/** The workflow on the sandbox in this process (as `etcd-replace run` does), with counting ports. */
export async function runWorkflowOn(
  sandbox: string,
): Promise<Omit<WorkflowMeasurement, keyof MeasurementBase | 'kind' | 'failMode'> & { ok: boolean; error?: string }> {
  const context: WorkflowContext = {
    runId: `r-bench-${randomBytes(4).toString('hex')}`,
    request: { cluster: sandbox, failed: FAILED, replacement: REPLACEMENT, startedBy: 'bench' },
    options: { graceSeconds: 0, learner: 'auto' },
  };
  const record = newRunRecord(context, 'sandbox', new Date());
  const deps = await sandboxDeps(sandbox);
  const runner = new CountingHostRunner(deps.runner);
  const artifacts = new CountingArtifactStore(deps.artifacts);
  try {
    const ended = await runLocally(record, {
      deps: { ...deps, runner, artifacts, etcd: (via, endpoints) => new EtcdctlMembership(runner, via, endpoints) },
      steps: STEPS,
      runs: new MemoryRunStore(),
      target: 'sandbox',
      onProgress: (event) => {
        if (event.type === 'step-start') runner.step = event.step;
      },
    });
    const stepMs: Record<string, number> = {};
    const attempts: Record<string, number> = {};
    for (const s of ended.steps) {
      stepMs[s.name] = (stepMs[s.name] ?? 0) + msBetween(s.startedAt, s.endedAt);
      attempts[s.name] = (attempts[s.name] ?? 0) + s.attempts;
    }
    const endOf = (name: string) => endOfStep(ended.steps, name);
    const learner = (ended.context as Partial<WorkflowContext>).addedAsLearner;
    const addedAsLearner = typeof learner === 'boolean' ? learner : null;
    const result = {
      caughtUpMs: msBetween(ended.startedAt, endOf('VerifyClusterHealth')),
      promotedMs: msBetween(ended.startedAt, endOf('PromoteNewMember')),
      addedAsLearner,
      // The run's own measure: AddMember's add → the new member caught up (null on the learner path).
      addToStartedMs: (addToStartedSeconds(ended.context as Partial<WorkflowContext>) ?? Number.NaN) * 1000,
      promoteMs: addedAsLearner === true ? (stepMs['PromoteNewMember'] ?? Number.NaN) : Number.NaN,
      totalMs: msBetween(ended.startedAt, ended.endedAt),
      stepMs,
      attempts,
      commands: countCommands(runner.calls),
      artifacts: artifacts.count,
      outcome: ended.outcome,
      ok: ended.outcome === 'succeeded',
    };
    return ended.outcome === 'succeeded' ? result : { ...result, error: ended.reason ?? ended.outcome };
  } finally {
    await deps.close();
  }
}

async function measureWorkflow(scenario: Scenario, rep: number, log: (m: string) => void, mode: FailMode = 'kill'): Promise<WorkflowMeasurement> {
  return onFreshSandbox(scenario, mode, log, async (_info, facts) => {
    const base = { kind: 'workflow' as const, scenario: scenario.name, rep, failMode: mode, ...facts };
    try {
      return { ...base, ...(await runWorkflowOn(facts.sandbox)) };
    } catch (error) {
      return {
        ...base,
        ok: false,
        error: String(error),
        caughtUpMs: Number.NaN,
        promotedMs: Number.NaN,
        addedAsLearner: null,
        addToStartedMs: Number.NaN,
        promoteMs: Number.NaN,
        totalMs: Number.NaN,
        stepMs: {},
        attempts: {},
        commands: countCommands([]),
        artifacts: { put: 0, get: 0, head: 0, delete: 0 },
        outcome: 'error',
      };
    }
  });
}

// Machine -------------------------------------------------------------------------------------------

export async function machineFacts(loadavgStart: string): Promise<Machine> {
  const etcd = await execFileP('etcd', ['--version']).then(
    (r) => r.stdout.match(/etcd Version: (\S+)/)?.[1] ?? 'unknown',
    () => 'not installed',
  );
  const commit = await execFileP('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT }).then(
    (r) => r.stdout.trim(),
    () => 'unknown',
  );
  // The analysis is prose about the results, not code that produces them.
  const paths = ['functions', 'statemachine', 'sandbox', 'bench', ':(exclude)bench/analysis.md'];
  const dirty = await execFileP('git', ['status', '--porcelain', '--', ...paths], { cwd: REPO_ROOT }).then(
    (r) => r.stdout.trim() !== '',
    () => false,
  );
  return {
    commit: dirty ? `${commit}+changes` : commit,
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    etcdVersion: etcd,
    node: process.version,
    date: new Date().toISOString(),
    loadavgStart,
    loadavgEnd: await loadavg(),
  };
}

// Summaries -----------------------------------------------------------------------------------------

export function summarize(scenario: Scenario, reps: number, measurements: readonly Measurement[]): ScenarioSummary {
  const floors = measurements.filter((m): m is FloorMeasurement => m.kind === 'floor' && m.scenario === scenario.name);
  const flows = measurements.filter((m): m is WorkflowMeasurement => m.kind === 'workflow' && m.scenario === scenario.name && m.failMode === 'kill');
  const okFloors = floors.filter((m) => m.ok);
  const okFlows = flows.filter((m) => m.ok);
  const floorMs = median(okFloors.map((m) => m.caughtUpMs));
  const workflowCaughtUpMs = median(okFlows.map((m) => m.caughtUpMs));
  const workflowTotalMs = median(okFlows.map((m) => m.totalMs));
  const stepMedianMs: Record<string, number> = {};
  for (const t of TASKS) {
    const v = median(okFlows.map((m) => m.stepMs[t.name]).filter((x): x is number => x !== undefined));
    if (v !== null) stepMedianMs[t.name] = v;
  }
  const ratio = (a: number | null, b: number | null) => (a !== null && b !== null && b > 0 ? Math.round((a / b) * 100) / 100 : null);
  const learners = okFlows.filter((m) => m.addedAsLearner === true);
  const plains = okFlows.filter((m) => m.addedAsLearner === false);
  const workflowPath = okFlows.length === 0 ? null : learners.length === okFlows.length ? 'learner' : plains.length === okFlows.length ? 'plain' : 'mixed';
  return {
    scenario: scenario.name,
    members: scenario.members,
    dataMb: scenario.dataMb,
    etcdVersion: scenario.etcdVersion,
    workflowPath,
    workflowAddToStartedMs: median(plains.map((m) => m.addToStartedMs)),
    workflowPromoteMs: median(learners.map((m) => m.promoteMs)),
    floorAddToStartedMs: median(okFloors.map((m) => m.addToStartedMs)),
    reps,
    floorMs,
    workflowCaughtUpMs,
    workflowPromotedMs: median(okFlows.map((m) => m.promotedMs)),
    workflowTotalMs,
    ratio: ratio(workflowCaughtUpMs, floorMs),
    ratioTotal: ratio(workflowTotalMs, floorMs),
    floorFailures: floors.length - okFloors.length,
    workflowFailures: flows.length - okFlows.length,
    stepMedianMs,
    ssmCommands: median(okFlows.map((m) => m.commands.total)),
    ssmCriticalPath: median(okFlows.map((m) => m.commands.criticalPath)),
    floorPhasesMs: {
      added: median(okFloors.map((m) => m.addedMs)),
      started: median(okFloors.map((m) => m.startedMs)),
      healthy: median(okFloors.map((m) => m.healthyMs)),
      caughtUp: floorMs,
    },
  };
}

/** Lambda INIT billed per invocation (Aug 2025 on: INIT is billed); a Node 22 bundle of this size starts in about this long. */
export const LAMBDA_INIT_SECONDS = 0.3;

/** The cost model: transitions by executing the ASL; SSM and durations from measured runs when there are any. */
export async function costReport(measured: {
  unreachable?: WorkflowMeasurement[];
  reachable?: WorkflowMeasurement[];
  plain?: WorkflowMeasurement[];
}): Promise<CostReport> {
  const transitions: TransitionCount[] = [];
  for (const v of VARIANTS) transitions.push(await countTransitions(v));
  const variants: CostReport['variants'] = [];
  const pairs: Array<[TransitionCount, WorkflowMeasurement[] | undefined]> = [
    [transitions[0]!, measured.unreachable],
    [transitions[1]!, measured.reachable],
    [transitions[2]!, measured.plain],
  ];
  for (const [t, runs] of pairs) {
    const ok = (runs ?? []).filter((m) => m.ok);
    if (ok.length === 0) {
      variants.push({
        variant: t.variant,
        transitions: t.transitions,
        lambdaInvocations: t.taskInvocations,
        ssmCommands: null,
        ssmCriticalPath: null,
        ssmByStep: null,
        measuredFrom: 'not measured (no sandbox run of this path)',
        cost: null,
      });
      continue;
    }
    // The median run by total time stands for the path: its commands, artifacts and durations.
    const sorted = [...ok].sort((a, b) => a.totalMs - b.totalMs);
    const run = sorted[Math.floor((sorted.length - 1) / 2)]!;
    const retries = Object.values(run.attempts).reduce((n, a) => n + Math.max(0, a - 1), 0);
    const lambdaInvocations = t.taskInvocations + retries;
    const cost = priceRun({
      transitions: t.transitions + retries,
      lambdaInvocations,
      lambdaSeconds: Object.values(run.stepMs).reduce((n, ms) => n + ms, 0) / 1000,
      lambdaInitSecondsPerInvocation: LAMBDA_INIT_SECONDS,
      ssmCommands: run.commands.total,
      s3: { put: run.artifacts.put, get: run.artifacts.get, head: run.artifacts.head },
      dynamo: { writes: 2, reads: 1 },
    });
    variants.push({
      variant: t.variant,
      transitions: t.transitions + retries,
      lambdaInvocations,
      ssmCommands: run.commands.total,
      ssmCriticalPath: run.commands.criticalPath,
      ssmByStep: run.commands.byStep,
      measuredFrom: `${run.scenario}, sandbox ${run.sandbox} (etcd ${(run as Partial<WorkflowMeasurement>).etcdVersion ?? 'unknown'}, fail mode ${run.failMode}; ${retries} retries in that run)`,
      cost,
    });
  }
  return { transitions, variants };
}

// The benchmark -------------------------------------------------------------------------------------

export interface BenchOptions {
  quick: boolean;
  reps: number;
  scenarios?: readonly Scenario[];
  log: (message: string) => void;
  command: string;
}

/**
 * The kill-mode runs the cost model prices: the learner path from the first scenario that took it,
 * the plain path (etcd before 3.4) likewise.
 */
export function costInputs(measurements: readonly Measurement[]): {
  unreachable: WorkflowMeasurement[];
  reachable: WorkflowMeasurement[];
  plain: WorkflowMeasurement[];
} {
  const flows = measurements.filter((m): m is WorkflowMeasurement => m.kind === 'workflow');
  const kills = flows.filter((m) => m.failMode === 'kill');
  const firstOf = (runs: WorkflowMeasurement[]) => runs.filter((m) => m.scenario === runs[0]?.scenario);
  // Runs recorded before scenarios had versions ran 3.4.23 with the learner.
  const learner = (m: Partial<WorkflowMeasurement>) => m.addedAsLearner === true || (m.addedAsLearner === undefined && m.etcdVersion === undefined);
  return {
    unreachable: firstOf(kills.filter(learner)),
    reachable: flows.filter((m) => m.failMode !== 'kill'),
    plain: firstOf(kills.filter((m) => m.addedAsLearner === false)),
  };
}

export async function runBenchmark(options: BenchOptions): Promise<BenchReport> {
  const { log } = options;
  const loadStart = await loadavg();
  const asked = options.scenarios ?? (options.quick ? QUICK_SCENARIOS : SCENARIOS);
  // A version whose build is missing: an error when asked for by name, else skipped and said so.
  const skipped: Array<{ scenario: string; reason: string }> = [];
  const scenarios = asked.filter((s) => {
    if (findEtcdBuild(s.etcdVersion) !== null) return true;
    const reason = `no etcd ${s.etcdVersion} build (put v${s.etcdVersion}/etcd and etcdctl under $ETCD_REPLACE_ETCD_BUILDS)`;
    if (options.scenarios) throw new Error(`${s.name}: ${reason}`);
    skipped.push({ scenario: s.name, reason });
    log(`skipping ${s.name}: ${reason}`);
    return false;
  });
  if (scenarios.length === 0) throw new Error('no scenario to run');
  const measurements: Measurement[] = [];
  const t0 = Date.now();
  const lap = () => `${((Date.now() - t0) / 1000).toFixed(0)} s`;
  for (const scenario of scenarios) {
    for (let rep = 1; rep <= options.reps; rep++) {
      // Interleaved, alternating which goes first.
      const order: Array<'floor' | 'workflow'> = rep % 2 === 1 ? ['floor', 'workflow'] : ['workflow', 'floor'];
      for (const kind of order) {
        const m = kind === 'floor' ? await measureFloor(scenario, rep, log) : await measureWorkflow(scenario, rep, log);
        measurements.push(m);
        const what =
          m.kind === 'floor'
            ? `${(m.caughtUpMs / 1000).toFixed(2)} s`
            : `${(m.caughtUpMs / 1000).toFixed(2)} s to caught up, ${(m.totalMs / 1000).toFixed(2)} s to the end`;
        log(
          `[${lap()}] ${scenario.name} rep ${rep} ${kind}: ${m.ok ? what : `FAILED ${m.error ?? ''}`} (load ${m.load1}${m.failedWasLeader ? ', leader killed' : ''})`,
        );
      }
    }
  }
  // The reachable variant of the cost model (a learner path): one run where etcd died but the host
  // answers, on the first scenario whose etcd has learners.
  const learnerScenario = scenarios.find((s) => compareEtcdVersions(s.etcdVersion, '3.4.0') >= 0);
  if (learnerScenario) {
    const reachable = await measureWorkflow(learnerScenario, 1, log, 'etcd');
    measurements.push(reachable);
    log(
      `[${lap()}] cost model: reachable variant (${learnerScenario.name}, fail mode etcd): ${reachable.ok ? `${(reachable.totalMs / 1000).toFixed(2)} s, ${reachable.commands.total} SSM commands` : `FAILED ${reachable.error ?? ''}`}`,
    );
  }

  const cost = await costReport(costInputs(measurements));
  // The same replacement through the synthesized stack with AWS's latency (one sandbox, two runs), unless scenarios were named.
  const aws = options.scenarios ? undefined : await measureAwsRows(log).catch((error: unknown) => (log(`AWS rehearsal rows: FAILED ${String(error)}`), []));
  const all = options.quick ? QUICK_SCENARIOS : SCENARIOS;
  const complete = skipped.length === 0 && all.every((s) => scenarios.includes(s));
  return {
    mode: complete ? (options.quick ? 'quick' : 'full') : 'partial',
    ...(skipped.length > 0 ? { skipped } : {}),
    reps: options.reps,
    command: options.command,
    machine: await machineFacts(loadStart),
    graceSeconds: 0,
    settleMs: SETTLE_MS,
    scenarios: scenarios.map((s) => summarize(s, options.reps, measurements)),
    measurements,
    cost,
    ...(aws ? { aws } : {}),
  };
}
