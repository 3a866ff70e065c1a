// The cost model counts state transitions by executing the compiled ASL, so the count follows the
// path the guards choose and the retries taken; SSM commands overlapping within a step count once.

import { describe, expect, it } from 'vitest';
import { compileAsl, transitionTargets } from '../../statemachine/asl.ts';
import { START_STATE } from '../../statemachine/spec.ts';
import { VARIANTS, countTransitions, priceRun, type PathVariant } from '../../bench/costModel.ts';
import { countCommands, sequentialGroups, type CommandCall } from '../../bench/counting.ts';

const asl = compileAsl();
const base: PathVariant = VARIANTS[0]!;

describe('Function: countTransitions', () => {
  it('counts every state the execution entered, in an order the definition allows', async () => {
    const count = await countTransitions(base, asl);
    expect(count.path[0]).toBe(START_STATE);
    expect(count.finalState).toBe('Succeeded');
    for (let i = 1; i < count.path.length; i++) {
      const from = asl.States[count.path[i - 1]!]!;
      expect(transitionTargets(from)).toContain(count.path[i]);
    }
    expect(count.retries).toBe(0);
    expect(count.transitions).toBe(count.path.length);
    expect(count.taskInvocations).toBe(count.path.filter((s) => asl.States[s]?.Type === 'Task').length);
    expect(count.path).toContain('PromoteNewMember');
    expect(count.path).not.toContain('BackUpFailedMemberData');
    // Not every state of the definition is on a successful path (compensation, Failed, Refused…).
    expect(count.transitions).toBeLessThan(Object.keys(asl.States).length);
  });

  it('changes when a guard flips: a reachable failed host adds the backup, a plain add drops the promotion', async () => {
    const unreachable = await countTransitions(base, asl);
    const reachable = await countTransitions({ ...base, name: 'reachable', failedHostReachable: true }, asl);
    const plain = await countTransitions({ ...base, name: 'plain', addedAsLearner: false }, asl);
    expect(reachable.transitions).toBe(unreachable.transitions + 1);
    expect(reachable.path).toContain('BackUpFailedMemberData');
    expect(plain.transitions).toBe(unreachable.transitions - 1);
    expect(plain.path).not.toContain('PromoteNewMember');
  });

  it('bills each retry as one more transition and one more Lambda invocation', async () => {
    const plainRun = await countTransitions(base, asl);
    const retried = await countTransitions({ ...base, name: 'retried', retries: { PromoteNewMember: 3, RemoveFailedMember: 1 } }, asl);
    expect(retried.path).toEqual(plainRun.path);
    expect(retried.retries).toBe(4);
    expect(retried.transitions).toBe(plainRun.transitions + 4);
    expect(retried.taskInvocations).toBe(plainRun.taskInvocations + 4);
  });
});

describe('Function: countCommands', () => {
  const call = (step: string, startMs: number, endMs: number, unreachable = false): CommandCall => ({
    step,
    script: 'x',
    host: 'h',
    startMs,
    endMs,
    unreachable,
  });

  it('counts commands that overlap within a step once on the critical path', () => {
    expect(sequentialGroups([call('A', 0, 10), call('A', 5, 20), call('A', 20, 30), call('A', 31, 32)])).toBe(3);
    const count = countCommands([call('A', 0, 10), call('A', 1, 9), call('B', 10, 20), call('B', 20, 30), call('B', 30, 31, true)]);
    expect(count.total).toBe(4);
    expect(count.criticalPath).toBe(3);
    expect(count.unreachable).toBe(1);
    expect(count.byStep['B']).toEqual({ total: 2, criticalPath: 2, unreachable: 1 });
  });
});

describe('Function: priceRun', () => {
  it('prices each item at the published figures', () => {
    const cost = priceRun({
      transitions: 1000,
      lambdaInvocations: 1_000_000,
      lambdaSeconds: 2,
      lambdaInitSecondsPerInvocation: 0,
      ssmCommands: 50,
      s3: { put: 1000, get: 0, head: 0 },
      dynamo: { writes: 0, reads: 0 },
    });
    const usd = Object.fromEntries(cost.lines.map((l) => [l.item, l.usd]));
    expect(usd['Step Functions state transitions']).toBeCloseTo(0.025, 10);
    expect(usd['Lambda requests']).toBeCloseTo(0.2, 10);
    expect(usd['Lambda duration (512 MB)']).toBeCloseTo(2 * 0.5 * 0.0000166667, 12);
    expect(usd['SSM Run Command (AWS-RunShellScript)']).toBe(0);
    expect(usd['S3 requests']).toBeCloseTo(0.005, 10);
    expect(cost.totalUsd).toBeCloseTo(0.025 + 0.2 + 2 * 0.5 * 0.0000166667 + 0.005, 10);
  });
});
