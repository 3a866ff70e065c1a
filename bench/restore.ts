// The restore benchmark (issue "restore-quorum", closing note: RTO and RPO of the first case): on a fresh
// sandbox with a writer putting keys through master-0, master-1 and master-2 are powered off at once;
// `etcd-replace restore-quorum` then runs as an operator runs it, in its own process, and is approved by
// `etcd-replace approve` as soon as it prints its waiting line. The run record gives the times and the
// revisions (RecordRestore's restoreMeasures, the steps); the writer's acknowledged keys against a
// linearizable read of the restored cluster, from the survivor's host, give the writes lost. The figures
// and the page section: bench/restoreReport.ts.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { RunRecord } from '../functions/ports.ts';
import { FileRunStore, RUN_DIR_ENV } from '../sandbox/adapters/fileRunStore.ts';
import { findEtcdBuild } from '../sandbox/etcdBuilds.ts';
import { failHost, sandboxDown, sandboxUp, type SandboxInfo } from '../sandbox/index.ts';
import type { RestoreMeasures } from '../statemachine/restoreContext.ts';
import { endpointHealthy, etcdctl, memberList, waitForLeader } from '../test/support/clusterFacts.ts';
import { acknowledging, startWriter, WRITER_PREFIX, type Writer, type WriterResult } from '../test/support/writer.ts';
import {
  POWERED_OFF,
  SURVIVOR_HOST,
  approvalWaitMs,
  chosenAt,
  minus,
  timelineOf,
  writeLoss,
  type RestoreMeasurement,
  type RestoreReport,
  type RestoreScenario,
} from './restoreReport.ts';
import { machineFacts } from './run.ts';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(REPO_ROOT, 'bin', 'etcd-replace.mjs');
/** The grace window between the two observations: the smallest the restore takes. */
export const RESTORE_GRACE_SECONDS = 0;
/** A restore that has not ended by then is stopped (SIGTERM: it stops where it is) and counted failed. */
const RUN_LIMIT_MS = 45 * 60_000;

const RUN_ID_LINE = /^run (r-[0-9a-z-]+): restore quorum/;
const WAITING_LINE = /^waiting for approval of run (r-[0-9a-z-]+) .*; approve with: etcd-replace approve /;

function clientUrlOf(info: SandboxInfo, host: string): string {
  const h = info.hosts.find((x) => x.name === host);
  if (!h) throw new Error(`no host ${host} in sandbox ${info.name}`);
  return `https://${h.ip}:2379`;
}

/** The sandbox host whose client URL a member lists, or the member's name. */
function hostOfMember(info: SandboxInfo, clientURLs: readonly string[], name: string): string {
  return info.hosts.find((h) => clientURLs.some((u) => u.includes(`//${h.ip}:`)))?.name ?? name;
}

async function load1(): Promise<number> {
  return Number((await fs.readFile('/proc/loadavg', 'utf8')).split(' ')[0]);
}

/** Runs `etcd-replace ARGS…` with the bench's run directory; each stderr line to `onLine`. */
function cli(args: string[], env: NodeJS.ProcessEnv, onLine: (line: string) => void, limitMs: number): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    createInterface({ input: child.stderr }).on('line', onLine);
    const timer = setTimeout(() => child.kill('SIGTERM'), limitMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout });
    });
  });
}

export async function measureRestore(scenario: RestoreScenario, rep: number, log: (m: string) => void): Promise<RestoreMeasurement> {
  const name = `bench-${randomBytes(4).toString('hex')}`;
  const runDir = await fs.mkdtemp(path.join(os.tmpdir(), 'etcd-replace-bench-runs-'));
  const env = { ...process.env, [RUN_DIR_ENV]: runDir };
  const m: RestoreMeasurement = {
    scenario: scenario.name,
    etcdVersion: scenario.etcdVersion,
    dataMb: scenario.dataMb,
    rep,
    sandbox: name,
    runId: null,
    outcome: 'not started',
    exitCode: null,
    ok: false,
    load1: 0,
    leaderBefore: null,
    sandboxUpMs: Number.NaN,
    powerOffToConfirmedMs: null,
    confirmedToFullStrengthMs: null,
    approvalWaitMs: null,
    rtoMs: null,
    runMs: null,
    runWithoutApprovalMs: null,
    approveCommandMs: null,
    revisionChosen: null,
    highestRevisionSeen: null,
    revisionsLost: null,
    writes: null,
    writerLongestGapMs: null,
    fenced: [],
    membersAfter: [],
    timeline: [],
  };
  let writer: Writer | undefined;
  let written: WriterResult | undefined;
  try {
    const upStart = Date.now();
    const info = await sandboxUp({ name, members: 3, spares: 2, nodes: 1, dataMb: scenario.dataMb, etcdVersion: scenario.etcdVersion });
    m.sandboxUpMs = Date.now() - upStart;
    const survivorUrl = clientUrlOf(info, SURVIVOR_HOST);
    const masters = [SURVIVOR_HOST, ...POWERED_OFF];
    const leaderId = await waitForLeader(info, masters).catch(() => null);
    const before = await memberList(info, SURVIVOR_HOST, survivorUrl);
    const leader = before.find((x) => x.id === leaderId);
    m.leaderBefore = leader ? hostOfMember(info, leader.clientURLs, leader.name) : null;

    writer = await startWriter(info, [survivorUrl], 'restore');
    await acknowledging(writer, 500, 60_000);
    m.load1 = await load1();
    const poweredOffAt = Date.now();
    await Promise.all(POWERED_OFF.map((host) => failHost(name, host, 'kill')));
    log(
      `${scenario.name} rep ${rep}: ${POWERED_OFF.join(' and ')} powered off on ${name} (leader before: ${m.leaderBefore ?? 'unknown'}); restore-quorum starts`,
    );

    let waitingSeenAt: number | null = null;
    let approval: Promise<void> | undefined;
    const args = ['restore-quorum', '--target', 'sandbox', '--sandbox', name, '--grace-seconds', String(RESTORE_GRACE_SECONDS), '--json'];
    const ran = await cli(
      args,
      env,
      (line) => {
        log(`  ${line}`);
        const started = RUN_ID_LINE.exec(line);
        if (started) m.runId = started[1]!;
        const waiting = WAITING_LINE.exec(line);
        if (waiting && approval === undefined) {
          waitingSeenAt = Date.now();
          const runId = waiting[1]!;
          m.runId ??= runId;
          approval = cli(['approve', runId, '--target', 'sandbox', '--sandbox', name], env, (l) => log(`  approve: ${l}`), 60_000).then(({ code }) => {
            m.approveCommandMs = Date.now() - (waitingSeenAt ?? Date.now());
            if (code !== 0) log(`  approve exited ${String(code)}`);
          });
        }
      },
      RUN_LIMIT_MS,
    );
    await approval;
    m.exitCode = ran.code;
    written = await writer.stop();
    writer = undefined;
    if (m.runId === null) throw new Error(`restore-quorum printed no run ID (exit ${String(ran.code)})`);

    const record: RunRecord | null = await new FileRunStore(runDir).get(m.runId);
    if (record === null) throw new Error(`no run record ${m.runId} in ${runDir}`);
    m.outcome = record.outcome;
    m.timeline = timelineOf(record);
    m.approvalWaitMs = approvalWaitMs(record.steps);
    if (record.endedAt) {
      m.runMs = Date.parse(record.endedAt) - Date.parse(record.startedAt);
      m.runWithoutApprovalMs = minus(m.runMs, m.approvalWaitMs ?? 0);
    }
    const measures = record.context['restoreMeasures'] as RestoreMeasures | undefined;
    const confirmed = record.context['quorumLossConfirmedAt'];
    if (typeof confirmed === 'string') m.powerOffToConfirmedMs = Date.parse(confirmed) - poweredOffAt;
    if (measures) {
      m.confirmedToFullStrengthMs = measures.secondsToFullStrength * 1000;
      m.rtoMs = minus(m.confirmedToFullStrengthMs, m.approvalWaitMs ?? 0);
      m.revisionChosen = measures.revisionChosen;
      m.highestRevisionSeen = measures.highestRevisionSeen;
      m.revisionsLost = measures.revisionsLost;
      m.fenced = measures.fenced;
    }
    m.writerLongestGapMs = written.longestGapMs;

    // Checked from the survivor's host with etcdctl, not from the run's report.
    const after = await memberList(info, SURVIVOR_HOST, survivorUrl);
    const urls = after.map((x) => x.clientURLs[0] ?? '');
    const healthy = await endpointHealthy(info, SURVIVOR_HOST, urls);
    m.membersAfter = after.map((x, i) => ({ name: hostOfMember(info, x.clientURLs, x.name), clientURL: urls[i]!, healthy: healthy[i] ?? false }));
    const keys = await etcdctl(info, SURVIVOR_HOST, [survivorUrl], ['get', WRITER_PREFIX, '--prefix', '--keys-only']);
    const present = new Set(keys.split('\n').filter((l) => l !== ''));
    const chosen = chosenAt(record.steps);
    if (chosen !== null) m.writes = writeLoss(written.acknowledged, written.ackedAt, chosen, present);

    m.ok =
      record.outcome === 'succeeded' && ran.code === 0 && m.membersAfter.length === 3 && m.membersAfter.every((x) => x.healthy) && m.writes?.lostAfter === 0;
    if (!m.ok) {
      m.error = [
        record.outcome !== 'succeeded' ? `run ${record.outcome}: ${record.reason ?? ''}` : '',
        m.membersAfter.length !== 3 || !m.membersAfter.every((x) => x.healthy) ? `members after: ${JSON.stringify(m.membersAfter)}` : '',
        m.writes && m.writes.lostAfter > 0 ? `${m.writes.lostAfter} key(s) acknowledged after the choice lost` : '',
      ]
        .filter((x) => x !== '')
        .join('; ');
    }
  } catch (error) {
    m.ok = false;
    m.error = error instanceof Error ? error.message : String(error);
  } finally {
    if (writer) await writer.stop().catch(() => undefined);
    await sandboxDown(name).catch((error: unknown) => log(`warning: sandbox down ${name}: ${String(error)}`));
    await fs.rm(runDir, { recursive: true, force: true });
  }
  return m;
}

/** Every scenario `reps` times, one after the other (each on its own sandbox). */
export async function runRestoreBenchmark(options: {
  scenarios: readonly RestoreScenario[];
  reps: number;
  log: (m: string) => void;
  command: string;
  /** Scenarios whose etcd build is missing are skipped, and said so, rather than refused (a run that named none). */
  skipMissingBuilds?: boolean;
}): Promise<RestoreReport> {
  const loadStart = (await fs.readFile('/proc/loadavg', 'utf8')).trim();
  const measurements: RestoreMeasurement[] = [];
  for (const scenario of options.scenarios) {
    if (findEtcdBuild(scenario.etcdVersion) === null) {
      const reason = `${scenario.name}: no etcd ${scenario.etcdVersion} build (put v${scenario.etcdVersion}/etcd and etcdctl under $ETCD_REPLACE_ETCD_BUILDS)`;
      if (!options.skipMissingBuilds) throw new Error(reason);
      options.log(`skipping ${reason}`);
      continue;
    }
    for (let rep = 1; rep <= options.reps; rep++) {
      const m = await measureRestore(scenario, rep, options.log);
      measurements.push(m);
      options.log(`${m.ok ? 'done' : 'FAILED'}: ${m.scenario} rep ${rep}`);
    }
  }
  const machine = await machineFacts(loadStart);
  return { command: options.command, date: machine.date, commit: machine.commit, graceSeconds: RESTORE_GRACE_SECONDS, reps: options.reps, measurements };
}
