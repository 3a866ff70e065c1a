// The restore benchmark's pure part (bench/restore.ts measures): its scenarios (`restore-3x32@3.2.22`),
// what one measurement holds, the RTO/RPO figures derived from a restore's run record and the writer's
// acknowledgements, the lines `etcd-replace bench` prints, and the "Restore of quorum" section of
// docs/benchmarks.md, kept between two markers so that the replacement's report and this one rewrite
// only their own part of the page.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StepRecord } from '../functions/ports.ts';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const RESTORE_JSON = path.join(REPO_ROOT, 'docs', 'benchmarks-restore.json');
const DOCS_MD = path.join(REPO_ROOT, 'docs', 'benchmarks.md');

export const RESTORE_PREFIX = 'restore-';
/** The powered-off members: master-0 is the only one left answering, so it is the survivor. */
export const POWERED_OFF = ['master-1', 'master-2'] as const;
export const SURVIVOR_HOST = 'master-0';

export interface RestoreScenario {
  /** `restore-3xMB@X.Y.Z`: three members, the data loaded, the etcd every member runs. */
  name: string;
  members: 3;
  dataMb: number;
  etcdVersion: string;
}

export function restoreScenario(dataMb: number, etcdVersion: string): RestoreScenario {
  return { name: `${RESTORE_PREFIX}3x${dataMb}@${etcdVersion}`, members: 3, dataMb, etcdVersion };
}

/** The issue's first case (two of three masters powered off, under write load) at 32 MB and 1 GB, on OpenShift 3.11's etcd. */
export const RESTORE_SCENARIOS: readonly RestoreScenario[] = [restoreScenario(32, '3.2.22'), restoreScenario(1024, '3.2.22')];

export function isRestoreKey(key: string): boolean {
  return key.startsWith(RESTORE_PREFIX);
}

/** `--scenario restore-3xMB@X.Y.Z`, or `restore-3xMB` (that shape on every version measured). Order follows `all`; throws on anything else. */
export function pickRestoreScenarios(keys: readonly string[], all: readonly RestoreScenario[] = RESTORE_SCENARIOS): RestoreScenario[] {
  const picked = new Set<RestoreScenario>();
  for (const key of keys) {
    const found = all.filter((s) => s.name === key || `${RESTORE_PREFIX}${s.members}x${s.dataMb}` === key);
    if (found.length === 0) throw new Error(`--scenario restore-… must be one of ${all.map((s) => s.name).join(', ')} (or without @version), got "${key}"`);
    for (const s of found) picked.add(s);
  }
  return all.filter((s) => picked.has(s));
}

// One measurement ----------------------------------------------------------------------------------

export interface TimelineEntry {
  step: string;
  /** The member a per-member step worked on (the re-add loop). */
  member?: string;
  status: string;
  /** From the run's start to the step's start, seconds. */
  atSeconds: number;
  seconds: number;
  attempts: number;
}

export interface WriteLoss {
  /** Keys the writer had acknowledged up to the end of ChooseRestorePoint (the survivor chosen). */
  acknowledgedBeforeChosen: number;
  /** Of those, missing from the restored cluster. */
  lostBeforeChosen: number;
  /** Keys acknowledged after the survivor was chosen (through the restored cluster), and of those missing. */
  acknowledgedAfter: number;
  lostAfter: number;
  /** The first few lost keys. */
  lostKeys: string[];
}

export interface RestoreMeasurement {
  scenario: string;
  etcdVersion: string;
  dataMb: number;
  rep: number;
  sandbox: string;
  runId: string | null;
  /** The run's outcome and the command's exit code. */
  outcome: string;
  exitCode: number | null;
  ok: boolean;
  error?: string;
  /** /proc/loadavg's 1-minute figure when the two hosts were powered off. */
  load1: number;
  /** The etcd leader before the power-off (host name), or null when it could not be read. */
  leaderBefore: string | null;
  sandboxUpMs: number;
  /** Power-off → the second observation confirmed the loss of quorum (includes the command's start-up). */
  powerOffToConfirmedMs: number | null;
  /** RecordRestore's secondsToFullStrength, in ms: quorum loss confirmed → full strength, approval wait included. */
  confirmedToFullStrengthMs: number | null;
  /** AwaitApproval's time (the waiting line printed → the answer read, the step polling once a second). */
  approvalWaitMs: number | null;
  /** RTO: confirmedToFullStrengthMs without the approval wait. */
  rtoMs: number | null;
  /** The whole run (record start → end), with and without the approval wait. */
  runMs: number | null;
  runWithoutApprovalMs: number | null;
  /** The waiting line seen → `etcd-replace approve` returned. */
  approveCommandMs: number | null;
  revisionChosen: number | null;
  highestRevisionSeen: number | null;
  revisionsLost: number | null;
  writes: WriteLoss | null;
  /** The writer's longest time without an acknowledgement (the client's outage; the approval wait included). */
  writerLongestGapMs: number | null;
  fenced: Array<{ host: string; how: string[] }>;
  /** The members after the run, read from the survivor's host with etcdctl, and whether `endpoint health` passed for each. */
  membersAfter: Array<{ name: string; clientURL: string; healthy: boolean }>;
  timeline: TimelineEntry[];
}

export interface RestoreReport {
  command: string;
  date: string;
  commit: string;
  graceSeconds: number;
  reps: number;
  measurements: RestoreMeasurement[];
}

// Derived figures ----------------------------------------------------------------------------------

function msBetween(from: string, to: string | undefined): number {
  return to === undefined ? Number.NaN : Date.parse(to) - Date.parse(from);
}

/** Every step the run went through, in order, with its start from the run's start and its length (seconds, 2 decimals). */
export function timelineOf(record: { startedAt: string; steps: readonly StepRecord[] }): TimelineEntry[] {
  const round = (ms: number) => Math.round(ms / 10) / 100;
  return record.steps.map((s) => ({
    step: s.name,
    ...(s.member ? { member: s.member } : {}),
    status: s.status,
    atSeconds: round(msBetween(record.startedAt, s.startedAt)),
    seconds: round(msBetween(s.startedAt, s.endedAt ?? s.startedAt)),
    attempts: s.attempts,
  }));
}

/** AwaitApproval's time over all its entries (a resumed wait counts each part), or null when the run never waited. */
export function approvalWaitMs(steps: readonly StepRecord[]): number | null {
  const waits = steps.filter((s) => s.name === 'AwaitApproval' && s.endedAt !== undefined);
  return waits.length === 0 ? null : waits.reduce((n, s) => n + msBetween(s.startedAt, s.endedAt), 0);
}

/** When the survivor was chosen: the end of the last successful ChooseRestorePoint, or null. */
export function chosenAt(steps: readonly StepRecord[]): number | null {
  const end = steps.filter((s) => s.name === 'ChooseRestorePoint' && s.status === 'succeeded').at(-1)?.endedAt;
  return end === undefined ? null : Date.parse(end);
}

/**
 * RPO in keys: of the writer's acknowledged keys, those acknowledged up to `chosen` (ms) and those after,
 * and how many of each the restored cluster (`present`) lacks.
 */
export function writeLoss(acknowledged: readonly string[], ackedAt: readonly number[], chosen: number, present: ReadonlySet<string>): WriteLoss {
  let acknowledgedBeforeChosen = 0;
  let lostBeforeChosen = 0;
  let acknowledgedAfter = 0;
  let lostAfter = 0;
  const lostKeys: string[] = [];
  acknowledged.forEach((key, i) => {
    const before = (ackedAt[i] ?? Number.POSITIVE_INFINITY) <= chosen;
    const lost = !present.has(key);
    if (before) acknowledgedBeforeChosen += 1;
    else acknowledgedAfter += 1;
    if (lost && before) lostBeforeChosen += 1;
    if (lost && !before) lostAfter += 1;
    if (lost && lostKeys.length < 5) lostKeys.push(key);
  });
  return { acknowledgedBeforeChosen, lostBeforeChosen, acknowledgedAfter, lostAfter, lostKeys };
}

/** `a − b`, null when either is unknown. */
export function minus(a: number | null, b: number | null): number | null {
  return a === null || b === null || !Number.isFinite(a) || !Number.isFinite(b) ? null : a - b;
}

// Text ---------------------------------------------------------------------------------------------

const sec = (ms: number | null | undefined) => (ms === null || ms === undefined || !Number.isFinite(ms) ? '–' : `${(ms / 1000).toFixed(2)} s`);
const num = (n: number | null | undefined) => (n === null || n === undefined ? '–' : String(n));

/** `step: seconds` per step, the member after a per-member step: `AddMember (master-1 → etcd-spare-0 (1 of 2)): 0.84 s`. */
export function formatTimeline(timeline: readonly TimelineEntry[]): string[] {
  return timeline.map(
    (t) =>
      `${t.step}${t.member ? ` (${t.member})` : ''}: ${t.seconds.toFixed(2)} s${t.status === 'succeeded' ? '' : ` [${t.status}]`}${t.attempts > 1 ? ` (${t.attempts} attempts)` : ''}`,
  );
}

function rpoText(m: RestoreMeasurement): string {
  const w = m.writes;
  const keys = w === null ? 'acknowledged writes lost –' : `acknowledged writes lost ${w.lostBeforeChosen} of ${w.acknowledgedBeforeChosen}`;
  return `${keys}, revisions lost ${num(m.revisionsLost)} (chosen ${num(m.revisionChosen)}, highest seen ${num(m.highestRevisionSeen)})`;
}

/** The line `etcd-replace bench` prints for one restore measurement. */
export function summaryLine(m: RestoreMeasurement): string {
  if (!m.ok) return `${m.scenario} rep ${m.rep}: FAILED (${m.outcome}${m.exitCode === null ? '' : `, exit ${m.exitCode}`}): ${m.error ?? ''}`;
  return `${m.scenario} rep ${m.rep}: RTO ${sec(m.rtoMs)} (confirmed → full strength, approval wait ${sec(m.approvalWaitMs)} excluded), run ${sec(m.runMs)} (${sec(m.runWithoutApprovalMs)} without the wait); RPO: ${rpoText(m)}`;
}

// docs/benchmarks.md -------------------------------------------------------------------------------

export const SECTION_BEGIN = '<!-- restore-bench:begin (bench/restoreReport.ts; docs/benchmarks-restore.json) -->';
export const SECTION_END = '<!-- restore-bench:end -->';

export function renderRestoreSection(r: RestoreReport): string {
  const out: string[] = [SECTION_BEGIN, '', '## Restore of quorum (`restore-quorum`)', ''];
  out.push(
    `The issue's first case on a fresh sandbox per measurement: \`sandboxUp\` (3 members, 2 spares, the data loaded), a writer putting one key after another through master-0, then ${POWERED_OFF.join(' and ')} powered off at once (\`failHost(…, kill)\`). Then \`etcd-replace restore-quorum --target sandbox --grace-seconds ${r.graceSeconds} --json\` runs as an operator runs it; as soon as it prints its waiting line, the bench runs \`etcd-replace approve RUN_ID\`. After the run the writer stops and the cluster is read from the survivor's host with etcdctl. Code ${r.commit}, ${r.date}, ${r.reps} repetition(s). Reproduce (as root, \`ETCD_REPLACE_ETCD_BUILDS\` naming the 3.2.22 build):`,
  );
  out.push('');
  out.push('```sh');
  out.push(`${r.command}   # this section`);
  const one = 'npm run bench -- --scenario restore-3x32@3.2.22 --reps 1';
  if (r.command !== one) out.push(`${one}   # one size; restore-3x32 and restore-3x1024 name the restore scenarios`);
  out.push('```');
  out.push('');
  out.push(
    "- **RTO**: the run record's `restoreMeasures.secondsToFullStrength` (ConfirmQuorumLost's second observation → the last re-added member verified healthy) less the approval wait (AwaitApproval's time: the waiting line → the answer read; the step looks once a second). **run**: the run record's start → end (less the wait: the second figure).",
  );
  out.push(
    "- **writer's longest gap**: the client's outage, from the power-off to writes acknowledged again by the forced survivor (before the re-adds; the approval wait included).",
  );
  out.push(
    '- **RPO**: keys the writer had acknowledged up to the end of ChooseRestorePoint (the survivor chosen) that a linearizable read of the restored cluster lacks; revisions lost: `restoreMeasures.revisionsLost` (highest revision seen − revision chosen). Keys acknowledged after the choice and lost are counted apart (must be 0).',
  );
  out.push('');
  out.push(
    "| scenario | result | RTO | approval wait | confirmed → full strength | run (without the wait) | power-off → confirmed | writes lost (of acknowledged before the choice) | lost after | revisions lost (chosen / highest) | writer's longest gap | members after (healthy) | leader before | load |",
  );
  out.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const m of r.measurements) {
    const w = m.writes;
    out.push(
      `| ${m.scenario} | ${m.ok ? 'ok' : `failed: ${(m.error ?? m.outcome).replace(/\|/g, '/').slice(0, 160)}`} | **${sec(m.rtoMs)}** | ${sec(m.approvalWaitMs)} | ${sec(m.confirmedToFullStrengthMs)} | ${sec(m.runMs)} (${sec(m.runWithoutApprovalMs)}) | ${sec(m.powerOffToConfirmedMs)} | **${w === null ? '–' : `${w.lostBeforeChosen} of ${w.acknowledgedBeforeChosen}`}** | ${w === null ? '–' : `${w.lostAfter} of ${w.acknowledgedAfter}`} | **${num(m.revisionsLost)}** (${num(m.revisionChosen)} / ${num(m.highestRevisionSeen)}) | ${sec(m.writerLongestGapMs)} | ${m.membersAfter.length} (${m.membersAfter.filter((x) => x.healthy).length}) | ${m.leaderBefore ?? '–'} | ${m.load1} |`,
    );
  }
  out.push('');
  for (const m of r.measurements) {
    if (m.timeline.length === 0) continue;
    out.push(`Timeline, ${m.scenario} rep ${m.rep} (run ${m.runId ?? '–'}; step: seconds):`);
    out.push('');
    for (const line of formatTimeline(m.timeline)) out.push(`- ${line}`);
    out.push('');
  }
  out.push(SECTION_END);
  return out.join('\n');
}

/** The page with the restore section in place of the one it had, or appended. */
export function withRestoreSection(page: string, section: string): string {
  const begin = page.indexOf(SECTION_BEGIN);
  const end = page.indexOf(SECTION_END);
  if (begin !== -1 && end > begin) return `${page.slice(0, begin)}${section}${page.slice(end + SECTION_END.length)}`;
  return `${page.trimEnd()}\n\n${section}\n`;
}

/** Puts the restore section of docs/benchmarks-restore.json into docs/benchmarks.md (after the replacement's report rewrote the page, too); false when there is none. */
export async function placeRestoreSection(): Promise<boolean> {
  let report: RestoreReport;
  try {
    report = JSON.parse(await fs.readFile(RESTORE_JSON, 'utf8')) as RestoreReport;
  } catch {
    return false;
  }
  const page = await fs.readFile(DOCS_MD, 'utf8').catch(() => '# Benchmarks\n');
  await fs.writeFile(DOCS_MD, withRestoreSection(page, renderRestoreSection(report)));
  return true;
}

export async function writeRestoreReport(report: RestoreReport): Promise<void> {
  await fs.writeFile(RESTORE_JSON, `${JSON.stringify(report, null, 2)}\n`);
  await placeRestoreSection();
}
