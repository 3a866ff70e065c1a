// The benchmark's pure parts: scenarios per etcd version, the summaries and the rows of the report.

import { describe, expect, it } from 'vitest';
import {
  QUICK_SCENARIOS,
  SCENARIOS,
  costInputs,
  pickScenarios,
  scenario,
  summarize,
  type BenchReport,
  type FloorMeasurement,
  type Measurement,
  type WorkflowMeasurement,
} from '../../bench/run.ts';
import { promoteCell, renderMarkdown, windowCell } from '../../bench/report.ts';
import { countCommands } from '../../bench/counting.ts';

const base = { rep: 1, sandbox: 'bench-x', failedWasLeader: false, load1: 1, ok: true };

function floor(sc: string, etcdVersion: string, caughtUpMs: number, addedMs: number, startedMs: number): FloorMeasurement {
  return { ...base, kind: 'floor', scenario: sc, etcdVersion, caughtUpMs, addedMs, startedMs, healthyMs: startedMs + 10, addToStartedMs: startedMs - addedMs };
}

function flow(sc: string, etcdVersion: string, learner: boolean, caughtUpMs: number, windowMs: number, promoteMs: number): WorkflowMeasurement {
  return {
    ...base,
    kind: 'workflow',
    scenario: sc,
    etcdVersion,
    caughtUpMs,
    promotedMs: learner ? caughtUpMs - 100 : Number.NaN,
    addedAsLearner: learner,
    addToStartedMs: learner ? Number.NaN : windowMs,
    promoteMs: learner ? promoteMs : Number.NaN,
    totalMs: caughtUpMs + 1000,
    stepMs: { AddMember: 100, StartNewMember: 500 },
    attempts: { AddMember: 1, StartNewMember: 1 },
    commands: countCommands([]),
    artifacts: { put: 0, get: 0, head: 0, delete: 0 },
    outcome: 'succeeded',
    failMode: 'kill',
  };
}

describe('Scenarios per etcd version', () => {
  it('puts every shape on 3.2.22 and 3.4.23 side by side, each named MxMB@version', () => {
    expect(SCENARIOS.map((s) => s.name)).toEqual([
      '3x32@3.2.22',
      '3x32@3.4.23',
      '3x256@3.2.22',
      '3x256@3.4.23',
      '5x32@3.2.22',
      '5x32@3.4.23',
      '3x1024@3.2.22',
      '3x1024@3.4.23',
    ]);
    expect(QUICK_SCENARIOS.map((s) => s.name)).toEqual(['3x32@3.2.22', '3x32@3.4.23']);
    expect(scenario(5, 32, '3.2.22')).toEqual({ name: '5x32@3.2.22', members: 5, dataMb: 32, etcdVersion: '3.2.22' });
  });

  it('--scenario: MxMB@X.Y.Z is one scenario, MxMB both versions, in SCENARIOS order, without duplicates', () => {
    expect(pickScenarios(['3x1024@3.2.22']).map((s) => s.name)).toEqual(['3x1024@3.2.22']);
    expect(pickScenarios(['3x32']).map((s) => s.name)).toEqual(['3x32@3.2.22', '3x32@3.4.23']);
    expect(pickScenarios(['3x32@3.4.23', '3x1024@3.2.22', '3x32']).map((s) => s.name)).toEqual(['3x32@3.2.22', '3x32@3.4.23', '3x1024@3.2.22']);
    expect(() => pickScenarios(['3x32@3.3.11'])).toThrow(/--scenario must be one of .*3x32@3\.2\.22/);
    expect(() => pickScenarios(['3 members @ 32 MB'])).toThrow(/got "3 members @ 32 MB"/);
  });
});

describe('Function: summarize', () => {
  const plain = scenario(3, 32, '3.2.22');
  const learner = scenario(3, 32, '3.4.23');
  const ms: Measurement[] = [
    floor(plain.name, '3.2.22', 2000, 500, 1800),
    floor(plain.name, '3.2.22', 3000, 600, 2800),
    flow(plain.name, '3.2.22', false, 4000, 900, 0),
    flow(plain.name, '3.2.22', false, 6000, 1100, 0),
    floor(learner.name, '3.4.23', 1000, 300, 900),
    flow(learner.name, '3.4.23', true, 2000, 0, 40),
  ];

  it('names the version and the path; the plain path reports its add-to-started window, the learner path its promote time', () => {
    const p = summarize(plain, 2, ms);
    expect(p).toMatchObject({
      scenario: '3x32@3.2.22',
      etcdVersion: '3.2.22',
      workflowPath: 'plain',
      floorMs: 2500,
      workflowCaughtUpMs: 5000,
      ratio: 2,
      workflowAddToStartedMs: 1000,
      workflowPromoteMs: null,
      floorAddToStartedMs: 1750,
    });
    expect(p.floorPhasesMs).toEqual({ added: 550, started: 2300, healthy: 2310, caughtUp: 2500 });
    const l = summarize(learner, 1, ms);
    expect(l).toMatchObject({
      etcdVersion: '3.4.23',
      workflowPath: 'learner',
      workflowAddToStartedMs: null,
      workflowPromoteMs: 40,
      floorAddToStartedMs: 600,
      ratio: 2,
    });
    expect(windowCell(p)).toBe('1.75 s / 1.00 s');
    expect(promoteCell(p)).toBe('—');
    expect(windowCell(l)).toBe('0.60 s / —');
    expect(promoteCell(l)).toBe('0.04 s');
  });

  it('prices the learner and the plain path from the first scenario that took each', () => {
    const inputs = costInputs([...ms, { ...flow(learner.name, '3.4.23', true, 3000, 0, 50), failMode: 'etcd' }]);
    expect(inputs.unreachable.map((m) => m.scenario)).toEqual([learner.name]);
    expect(inputs.plain.map((m) => m.scenario)).toEqual([plain.name, plain.name]);
    expect(inputs.reachable).toHaveLength(1);
  });

  it('renders one row per scenario naming its version, and says when the run was partial', () => {
    const report: BenchReport = {
      mode: 'partial',
      reps: 1,
      command: 'npm run bench -- --scenario 3x32 --reps 1',
      machine: {
        nproc: 2,
        cpuModel: 'x',
        memoryGiB: 1,
        kernel: 'k',
        etcdVersion: '3.4.23',
        node: 'v20',
        date: 'd',
        loadavgStart: '1',
        loadavgEnd: '1',
        commit: 'abc',
      },
      graceSeconds: 0,
      settleMs: 5000,
      skipped: [{ scenario: '3x256@3.2.22', reason: 'no etcd 3.2.22 build' }],
      scenarios: [summarize(plain, 2, ms), summarize(learner, 1, ms)],
      measurements: ms,
      cost: { transitions: [], variants: [] },
    };
    const md = renderMarkdown(report, '');
    expect(md).toContain('Mode: **partial** (only the scenarios below: not a full run)');
    expect(md).toContain('- not run: 3x256@3.2.22: no etcd 3.2.22 build');
    const rows = md.split('\n').filter((line) => line.startsWith('| 3x32@'));
    expect(rows.find((r) => r.startsWith('| 3x32@3.2.22 | 3.2.22 | plain | 2.50 s | 5.00 s | **2.00×** | 1.75 s / 1.00 s | — |'))).toBeDefined();
    expect(rows.find((r) => r.startsWith('| 3x32@3.4.23 | 3.4.23 | learner | 1.00 s | 2.00 s | **2.00×** | 0.60 s / — | 0.04 s |'))).toBeDefined();
    // Every measurement row names its version too.
    expect(rows.filter((r) => / \| 3\.2\.22 \| 1 \| (floor|workflow, plain) \|/.test(r))).toHaveLength(4);
  });
});
