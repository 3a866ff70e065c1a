// The restore's two observations (functions/steps/ObserveQuorumLoss.ts, ConfirmQuorumLost.ts, over
// functions/cluster/quorumObservation.ts): the member list and each member's health through the hosts,
// judged by restorePolicy's quorumLoss. Quorum lost is written down (the second observation due a grace
// window later, then the confirmation's time); quorum back or one member missing is refused with nothing
// changed anywhere; a rerun observes again and keeps the first times.

import { describe, expect, it } from 'vitest';
import { EtcdUnavailableError, InvalidInputError } from '../../../functions/errors.ts';
import type { RestoreStepResult } from '../../../functions/cluster/restoreFacts.ts';
import { ConfirmQuorumLost } from '../../../functions/steps/ConfirmQuorumLost.ts';
import { ObserveQuorumLoss } from '../../../functions/steps/ObserveQuorumLoss.ts';
import { memberId, threeMembers, unitInventory } from '../../support/fakeCluster.ts';
import { failure, NOW, RUN_ID, stepWorld, type StepWorld } from '../../support/stepHarness.ts';
import type { RestoreContext } from '../../../statemachine/restoreContext.ts';

const GRACE = 30;
const at = (seconds: number) => new Date(NOW.getTime() + seconds * 1000);
const iso = (seconds: number) => at(seconds).toISOString();

const after = (context: RestoreContext, result: RestoreStepResult): RestoreContext => ({ ...context, ...result.output });

function restoreContext(extra: Partial<RestoreContext> = {}): RestoreContext {
  return {
    runId: RUN_ID,
    request: { cluster: 'unit', failed: '', startedBy: 'test' },
    options: { graceSeconds: GRACE, learner: 'auto', approvalTimeoutSeconds: 900 },
    inventory: unitInventory(),
    ...extra,
  };
}

/** The cluster at `seconds` after NOW, with the masters in `down` not answering. */
const worldAt = (seconds: number, down: string[]): StepWorld => stepWorld(threeMembers(down), { now: at(seconds) });

/** Nothing was changed anywhere: no membership change, no fence, no host script, no artifact. */
function expectNothingChanged(world: StepWorld): void {
  expect(world.cluster.changes).toEqual([]);
  expect(world.securityGroups.calls).toEqual([]);
  expect(world.runner.requests).toEqual([]);
  expect(world.artifacts.calls).toEqual([]);
}

const LOST = { lost: true, voters: 3, answering: 1, needed: 2, silent: ['master-0.example.test', 'master-1.example.test'] };

describe('Step: ObserveQuorumLoss', () => {
  it('two of three masters silent: quorum lost, the second observation due a grace window later; nothing changed', async () => {
    const world = worldAt(0, ['master-0', 'master-1']);
    const result = await ObserveQuorumLoss(restoreContext(), world.deps);
    expect(result.output).toEqual({
      quorumLossObserved: { at: iso(0), verdict: { ...LOST, reason: 'quorum is lost: 1 of 3 voting members answer and 2 are needed' } },
      confirmQuorumLossAfter: iso(GRACE),
    });
    expect(result.detail).toBe(
      `quorum is lost: 1 of 3 voting members answer and 2 are needed (the member list; seen at ${iso(0)}); the second observation is due at ${iso(GRACE)}`,
    );
    expect(result.skipped).toBeUndefined();
    expect(world.cluster.calls.some((c) => c.startsWith('view '))).toBe(true);
    expectNothingChanged(world);
  });

  it('a rerun observes again and keeps the first observation, so the grace window is not pushed back', async () => {
    const first = await ObserveQuorumLoss(restoreContext(), worldAt(0, ['master-0', 'master-1']).deps);
    const later = worldAt(20, ['master-0', 'master-1']);
    const second = await ObserveQuorumLoss(after(restoreContext(), first), later.deps);
    expect(second.output).toEqual(first.output);
    expect(second.skipped).toBe(true);
    expect(second.detail).toContain(`first seen at ${iso(0)}, still lost`);
    expect(later.cluster.calls.length).toBeGreaterThan(0);

    // Quorum back by the rerun: refused, whatever the first observation said.
    const back = worldAt(20, []);
    const error = await failure(ObserveQuorumLoss(after(restoreContext(), first), back.deps));
    expect(error.name).toBe('RefusedError');
    expectNothingChanged(back);
  });

  it('refuses at once while quorum holds: all answer (quorum is back), or one is missing (`run` replaces it); nothing changed', async () => {
    const back = worldAt(0, []);
    const error = await failure(ObserveQuorumLoss(restoreContext(), back.deps));
    expect(error).toMatchObject({ name: 'RefusedError', exitCode: 3 });
    expect(error.message).toBe('restore-quorum refused: quorum is back: 3 of 3 voting members answer and 2 are needed; nothing was changed');
    expectNothingChanged(back);

    const one = worldAt(0, ['master-2']);
    const missing = await failure(ObserveQuorumLoss(restoreContext(), one.deps));
    expect(missing.name).toBe('RefusedError');
    expect(missing.message).toBe(
      'restore-quorum refused: quorum holds with one member missing (master-2.example.test): 2 of 3 voting members answer and 2 are needed; `run --failed master-2.example.test` replaces it, nothing was changed',
    );
    expectNothingChanged(one);
  });

  it('a learner counts for nothing: one voter of three answering with a learner up is still lost', async () => {
    const world = stepWorld([
      ...threeMembers(['master-0', 'master-1']),
      { id: memberId(0xb0), name: 'etcd-spare-0.example.test', ip: '198.51.100.9', up: true, isLearner: true },
    ]);
    const result = await ObserveQuorumLoss(restoreContext(), world.deps);
    expect(result.output.quorumLossObserved?.verdict).toMatchObject({ lost: true, voters: 3, answering: 1 });
  });

  it('no host can take a view (no etcd answers anywhere): every etcd host of the inventory counts as silent', async () => {
    const world = worldAt(0, ['master-0', 'master-1', 'master-2']);
    world.cluster.view = async () => {
      throw new EtcdUnavailableError('no etcd endpoint answers');
    };
    const result = await ObserveQuorumLoss(restoreContext(), world.deps);
    expect(result.output.quorumLossObserved?.verdict).toMatchObject({ lost: true, voters: 3, answering: 0, silent: ['master-0', 'master-1', 'master-2'] });
    expect(result.detail).toContain('(no member list (no etcd answers); seen at');
    expect(world.logs.some((l) => l.includes('each of the 3 etcd hosts counts as a member that does not answer'))).toBe(true);
  });

  it('any other error of the view fails the step as it is', async () => {
    const world = worldAt(0, ['master-0', 'master-1']);
    world.cluster.view = async () => {
      throw new InvalidInputError('endpoints', 'at least one etcd endpoint is needed');
    };
    expect((await failure(ObserveQuorumLoss(restoreContext(), world.deps))).name).toBe('InvalidInputError');
  });
});

describe('Step: ConfirmQuorumLost', () => {
  const observed = () => restoreContext({ confirmQuorumLossAfter: iso(GRACE), quorumLossObserved: { at: iso(0), verdict: { ...LOST, reason: 'r' } } });

  it('still lost a grace window later: confirmed at the second observation; nothing changed', async () => {
    const world = worldAt(GRACE + 1, ['master-0', 'master-1']);
    const result = await ConfirmQuorumLost(observed(), world.deps);
    expect(result.output).toEqual({ quorumLossConfirmedAt: iso(GRACE + 1) });
    expect(result.detail).toBe(
      `quorum is lost: 1 of 3 voting members answer and 2 are needed (the member list); confirmed lost at ${iso(GRACE + 1)} (first seen at ${iso(0)})`,
    );
    expect(result.skipped).toBeUndefined();
    expectNothingChanged(world);
  });

  it('a rerun observes again and keeps the first confirmation', async () => {
    const first = await ConfirmQuorumLost(observed(), worldAt(GRACE, ['master-0', 'master-1']).deps);
    const later = worldAt(GRACE + 40, ['master-0', 'master-1']);
    const second = await ConfirmQuorumLost(after(observed(), first), later.deps);
    expect(second.output).toEqual({ quorumLossConfirmedAt: iso(GRACE) });
    expect(second.skipped).toBe(true);
    expect(later.cluster.calls.length).toBeGreaterThan(0);
  });

  it('quorum back during the grace window: refused, nothing changed', async () => {
    const world = worldAt(GRACE, ['master-1']);
    const error = await failure(ConfirmQuorumLost(observed(), world.deps));
    expect(error).toMatchObject({ name: 'RefusedError', exitCode: 3 });
    expect(error.message).toMatch(
      /^restore-quorum refused: quorum holds with one member missing \(master-1\.example\.test\).*`run --failed master-1\.example\.test` replaces it/,
    );
    expectNothingChanged(world);

    const all = worldAt(GRACE, []);
    expect((await failure(ConfirmQuorumLost(observed(), all.deps))).message).toMatch(/^restore-quorum refused: quorum is back: 3 of 3/);
    expectNothingChanged(all);
  });

  it('before the grace window has passed, or without a first observation, it observes nothing', async () => {
    const early = worldAt(GRACE - 1, ['master-0', 'master-1']);
    const error = await failure(ConfirmQuorumLost(observed(), early.deps));
    expect(error.name).toBe('InvalidInputError');
    expect(error.message).toContain(`the second observation is due at ${iso(GRACE)}`);
    expect(early.cluster.calls).toEqual([]);

    const none = worldAt(GRACE, ['master-0', 'master-1']);
    expect((await failure(ConfirmQuorumLost(restoreContext(), none.deps))).message).toContain('confirmQuorumLossAfter is not known');
    expect(none.cluster.calls).toEqual([]);
  });
});
