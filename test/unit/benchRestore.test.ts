// The restore benchmark's pure parts (bench/restoreReport.ts): its scenarios, the figures taken from a run
// record and the writer's keys, the printed line and the section of docs/benchmarks.md.

import { describe, expect, it } from 'vitest';
import type { StepRecord } from '../../functions/ports.ts';
import {
  RESTORE_SCENARIOS,
  SECTION_BEGIN,
  SECTION_END,
  approvalWaitMs,
  chosenAt,
  formatTimeline,
  isRestoreKey,
  minus,
  pickRestoreScenarios,
  renderRestoreSection,
  summaryLine,
  timelineOf,
  withRestoreSection,
  writeLoss,
  type RestoreMeasurement,
  type RestoreReport,
} from '../../bench/restoreReport.ts';

const T0 = Date.parse('2026-12-07T15:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

function step(name: string, from: number, to: number | undefined, extra: Partial<StepRecord> = {}): StepRecord {
  return { name, status: 'succeeded', startedAt: at(from), ...(to === undefined ? {} : { endedAt: at(to) }), attempts: 1, ...extra };
}

const STEPS: StepRecord[] = [
  step('ObserveQuorumLoss', 0, 2.2),
  step('ConfirmQuorumLost', 2.2, 4.6),
  step('ChooseRestorePoint', 4.6, 7.4),
  step('AwaitApproval', 7.4, 8.4),
  step('ForceNewCluster', 8.4, 24.7),
  step('StartNewMember', 24.7, 36.25, { member: 'master-2 → etcd-spare-0 (1 of 2)', attempts: 2 }),
  step('DiscardKeyBundle', 36.25, 36.26, { status: 'skipped' }),
];

function measurement(over: Partial<RestoreMeasurement> = {}): RestoreMeasurement {
  return {
    scenario: 'restore-3x32@3.2.22',
    etcdVersion: '3.2.22',
    dataMb: 32,
    rep: 1,
    sandbox: 'bench-0a1b2c3d',
    runId: 'r-20261207-150000-0a1b2c',
    outcome: 'succeeded',
    exitCode: 0,
    ok: true,
    load1: 1.5,
    leaderBefore: 'master-1',
    sandboxUpMs: 20_000,
    powerOffToConfirmedMs: 4900,
    confirmedToFullStrengthMs: 42_830,
    approvalWaitMs: 1020,
    rtoMs: 41_810,
    runMs: 48_970,
    runWithoutApprovalMs: 47_950,
    approveCommandMs: 400,
    revisionChosen: 118,
    highestRevisionSeen: 121,
    revisionsLost: 3,
    writes: { acknowledgedBeforeChosen: 85, lostBeforeChosen: 2, acknowledgedAfter: 3791, lostAfter: 0, lostKeys: ['/k/1', '/k/2'] },
    writerLongestGapMs: 22_320,
    fenced: [{ host: 'master-1', how: ['network'] }],
    membersAfter: [
      { name: 'master-0', clientURL: 'https://198.51.100.34:2379', healthy: true },
      { name: 'etcd-spare-0', clientURL: 'https://198.51.100.37:2379', healthy: true },
      { name: 'etcd-spare-1', clientURL: 'https://198.51.100.38:2379', healthy: false },
    ],
    timeline: timelineOf({ startedAt: at(0), steps: STEPS }),
    ...over,
  };
}

describe('restore scenarios', () => {
  it('tells restore scenarios from the replacement’s', () => {
    expect(isRestoreKey('restore-3x32@3.2.22')).toBe(true);
    expect(isRestoreKey('3x32@3.2.22')).toBe(false);
  });

  it('picks by full name or by shape, in the list’s order, once each', () => {
    expect(pickRestoreScenarios(['restore-3x1024', 'restore-3x32@3.2.22', 'restore-3x32']).map((s) => s.name)).toEqual([
      'restore-3x32@3.2.22',
      'restore-3x1024@3.2.22',
    ]);
    expect(RESTORE_SCENARIOS.map((s) => [s.members, s.dataMb, s.etcdVersion])).toEqual([
      [3, 32, '3.2.22'],
      [3, 1024, '3.2.22'],
    ]);
  });

  it('refuses a scenario it does not have, naming those it has', () => {
    expect(() => pickRestoreScenarios(['restore-5x32'])).toThrow(/restore-3x32@3\.2\.22, restore-3x1024@3\.2\.22.*"restore-5x32"/);
    expect(() => pickRestoreScenarios(['restore-3x32@3.4.23'])).toThrow(/"restore-3x32@3\.4\.23"/);
  });
});

describe('figures from the run record', () => {
  it('lays out every step from the run’s start, with its member and its status', () => {
    const timeline = timelineOf({ startedAt: at(0), steps: STEPS });
    expect(timeline[4]).toEqual({ step: 'ForceNewCluster', status: 'succeeded', atSeconds: 8.4, seconds: 16.3, attempts: 1 });
    expect(timeline[5]).toMatchObject({ step: 'StartNewMember', member: 'master-2 → etcd-spare-0 (1 of 2)', atSeconds: 24.7, seconds: 11.55, attempts: 2 });
    expect(formatTimeline(timeline).slice(3)).toEqual([
      'AwaitApproval: 1.00 s',
      'ForceNewCluster: 16.30 s',
      'StartNewMember (master-2 → etcd-spare-0 (1 of 2)): 11.55 s (2 attempts)',
      'DiscardKeyBundle: 0.01 s [skipped]',
    ]);
  });

  it('adds up the approval wait over a resumed wait, and has none when the run never waited', () => {
    expect(approvalWaitMs(STEPS)).toBe(1000);
    expect(approvalWaitMs([...STEPS, step('AwaitApproval', 50, 52.5)])).toBe(3500);
    expect(approvalWaitMs(STEPS.filter((s) => s.name !== 'AwaitApproval'))).toBeNull();
    expect(approvalWaitMs([step('AwaitApproval', 7.4, undefined)])).toBeNull();
  });

  it('takes the choice of the survivor from the last ChooseRestorePoint that succeeded', () => {
    expect(chosenAt(STEPS)).toBe(T0 + 7400);
    expect(chosenAt([step('ChooseRestorePoint', 1, 2, { status: 'failed' })])).toBeNull();
  });

  it('counts acknowledged keys lost before and after the choice apart', () => {
    const acknowledged = ['/k/1', '/k/2', '/k/3', '/k/4', '/k/5'];
    const ackedAt = [T0 + 1000, T0 + 2000, T0 + 7400, T0 + 9000, T0 + 9500];
    const loss = writeLoss(acknowledged, ackedAt, T0 + 7400, new Set(['/k/1', '/k/3', '/k/4']));
    expect(loss).toEqual({ acknowledgedBeforeChosen: 3, lostBeforeChosen: 1, acknowledgedAfter: 2, lostAfter: 1, lostKeys: ['/k/2', '/k/5'] });
    expect(writeLoss(acknowledged, ackedAt, T0, new Set(acknowledged))).toMatchObject({ acknowledgedBeforeChosen: 0, lostBeforeChosen: 0, lostAfter: 0 });
  });

  it('subtracts only known figures', () => {
    expect(minus(42_830, 1020)).toBe(41_810);
    expect(minus(null, 1)).toBeNull();
    expect(minus(Number.NaN, 1)).toBeNull();
  });
});

describe('what the bench prints and writes', () => {
  it('prints RTO without the approval wait, the run, and the RPO in keys and revisions', () => {
    expect(summaryLine(measurement())).toBe(
      'restore-3x32@3.2.22 rep 1: RTO 41.81 s (confirmed → full strength, approval wait 1.02 s excluded), run 48.97 s (47.95 s without the wait); RPO: acknowledged writes lost 2 of 85, revisions lost 3 (chosen 118, highest seen 121)',
    );
    expect(summaryLine(measurement({ ok: false, outcome: 'refused', exitCode: 3, error: 'run refused: quorum is back' }))).toBe(
      'restore-3x32@3.2.22 rep 1: FAILED (refused, exit 3): run refused: quorum is back',
    );
    expect(summaryLine(measurement({ writes: null, revisionsLost: null, revisionChosen: null, highestRevisionSeen: null }))).toContain(
      'RPO: acknowledged writes lost –, revisions lost – (chosen –, highest seen –)',
    );
  });

  const report: RestoreReport = {
    command: 'npm run bench -- --scenario restore-3x32@3.2.22 --reps 1',
    date: '2026-12-07T15:28:30.835Z',
    commit: '7460ed6',
    graceSeconds: 0,
    reps: 1,
    measurements: [measurement(), measurement({ rep: 2, ok: false, error: 'a|b', timeline: [] })],
  };

  it('renders a row per measurement and the timeline of each run that has one, between its markers', () => {
    const section = renderRestoreSection(report);
    expect(section.startsWith(SECTION_BEGIN)).toBe(true);
    expect(section.endsWith(SECTION_END)).toBe(true);
    expect(section).toContain(
      '| restore-3x32@3.2.22 | ok | **41.81 s** | 1.02 s | 42.83 s | 48.97 s (47.95 s) | 4.90 s | **2 of 85** | 0 of 3791 | **3** (118 / 121) | 22.32 s | 3 (2) | master-1 | 1.5 |',
    );
    expect(section).toContain('| restore-3x32@3.2.22 | failed: a/b |');
    expect(section.match(/^Timeline, /gm)).toHaveLength(1);
    expect(section).toContain('- StartNewMember (master-2 → etcd-spare-0 (1 of 2)): 11.55 s (2 attempts)');
    // The command that made it, once: the one-size example is the same command.
    expect(section.match(/--scenario restore-3x32@3\.2\.22 --reps 1/g)).toHaveLength(1);
  });

  it('replaces its own section and leaves the rest of the page, or appends it to a page without one', () => {
    const page = `# Benchmarks\n\nreplacement rows\n\n${SECTION_BEGIN}\nold\n${SECTION_END}\n\n## Analysis\n`;
    const updated = withRestoreSection(page, `${SECTION_BEGIN}\nnew\n${SECTION_END}`);
    expect(updated).toBe(`# Benchmarks\n\nreplacement rows\n\n${SECTION_BEGIN}\nnew\n${SECTION_END}\n\n## Analysis\n`);
    expect(withRestoreSection('# Benchmarks\n\nrows\n', 'S')).toBe('# Benchmarks\n\nrows\n\nS\n');
  });
});
