// The local run's record (functions/workflow/localRun.ts) names each step before the step acts: a
// process killed at any instant resumes at that step or a later one, never before a step whose effect
// has happened (a released lock, say). Steps are fakes; the run store keeps every saved copy.

import { heldLock, SavingStore } from '../support/fakePorts.ts';
import { describe, expect, it } from 'vitest';
import { LockLostError } from '../../functions/errors.ts';
import { newRunRecord, runLocally } from '../../functions/workflow/localRun.ts';
import type { Step } from '../../functions/workflow/step.ts';
import { TASKS, type TaskName } from '../../statemachine/spec.ts';
import { fakeDeps, FakeCluster, threeMembers, unitInventory, validatedContext } from '../support/fakeCluster.ts';

describe('Function: runLocally', () => {
  it('saves the record at a step before the step acts, so a resume never starts before it', async () => {
    const store = new SavingStore();
    const seenAtStart: Array<[string, string | undefined]> = [];
    const steps = Object.fromEntries(
      TASKS.map((t) => [
        t.name,
        (async () => {
          // What a process killed right now would resume from: the last record saved.
          seenAtStart.push([t.name, store.saved.at(-1)?.state]);
          return { output: {}, detail: `${t.name} done`, skipped: true };
        }) satisfies Step,
      ]),
    ) as unknown as Record<TaskName, Step>;
    const context = validatedContext(unitInventory(), 'master-2', 'etcd-spare-0');
    const deps = {
      ...fakeDeps(new FakeCluster(threeMembers(['master-2']))),
      lock: heldLock(context.runId),
    };
    const ended = await runLocally(newRunRecord(context, 'sandbox', new Date()), { deps, steps, runs: store, target: 'sandbox' });
    expect(ended.state).toBe('Succeeded');
    expect(seenAtStart.length).toBeGreaterThan(10);
    for (const [step, saved] of seenAtStart) expect({ step, saved }).toEqual({ step, saved: step });
  });

  const skipAll = (): Record<TaskName, Step> =>
    Object.fromEntries(TASKS.map((t) => [t.name, (async () => ({ output: {}, detail: `${t.name} done`, skipped: true })) satisfies Step])) as unknown as Record<
      TaskName,
      Step
    >;

  it('cancels a step whose time is up through its signal, and reports the timeout only once the step has stopped', async () => {
    const context = validatedContext(unitInventory(), 'master-2', 'etcd-spare-0');
    const deps = { ...fakeDeps(new FakeCluster(threeMembers(['master-2']))), lock: heldLock(context.runId) };
    const events: string[] = [];
    const steps = skipAll();
    steps.CheckClusterHealth = async (_context, stepDeps) => {
      await new Promise<void>((resolve) => stepDeps.signal!.addEventListener('abort', () => resolve()));
      events.push(`aborted: ${(stepDeps.signal!.reason as Error).name}`);
      // What a killed host command takes to go.
      await new Promise((resolve) => setTimeout(resolve, 300));
      events.push('stopped');
      throw stepDeps.signal!.reason;
    };
    const ended = await runLocally(newRunRecord(context, 'sandbox', new Date()), {
      deps,
      steps,
      runs: new SavingStore(),
      target: 'sandbox',
      hold: null,
      timeouts: { CheckClusterHealth: 1 },
      onProgress: (e) => {
        if (e.type === 'step-end' && e.step === 'CheckClusterHealth') events.push(`ended: ${e.status}`);
        if (e.type === 'step-start' && e.step === 'DiscardKeyBundle') events.push('DiscardKeyBundle');
      },
    });
    expect(events).toEqual(['aborted: States.Timeout', 'stopped', 'ended: failed', 'DiscardKeyBundle']);
    expect(ended.reason).toMatch(/^States\.Timeout: CheckClusterHealth did not finish within 1s/);
  });

  it("stops at once and records nothing more when the process no longer owns the run: runLocally rejects with the proof's error", async () => {
    const context = validatedContext(unitInventory(), 'master-2', 'etcd-spare-0');
    const deps = { ...fakeDeps(new FakeCluster(threeMembers(['master-2']))), lock: heldLock(context.runId) };
    const store = new SavingStore();
    let owner = true;
    const ran: string[] = [];
    const steps = skipAll();
    for (const t of TASKS) {
      steps[t.name] = async () => {
        ran.push(t.name);
        // Another process takes the run over while CheckClusterHealth runs.
        if (t.name === 'CheckClusterHealth') owner = false;
        return { output: {}, detail: 'done', skipped: true };
      };
    }
    const lost = new LockLostError('process 1 does not own run r-x: it changes and records nothing');
    const error = await runLocally(newRunRecord(context, 'sandbox', new Date()), {
      deps,
      steps,
      runs: store,
      target: 'sandbox',
      hold: null,
      runOwner: { prove: async () => (owner ? undefined : Promise.reject(lost)) },
    }).catch((e: unknown) => e);
    expect(error).toBe(lost);
    expect(ran).toEqual(['ValidateInput', 'AcquireLock', 'CheckClusterHealth']);
    // Nothing written once the run was another's: the last saved record still shows CheckClusterHealth running.
    const last = store.saved.at(-1)!;
    expect(last.state).toBe('CheckClusterHealth');
    expect(last.outcome).toBe('running');
    expect(last.steps.at(-1)).toMatchObject({ name: 'CheckClusterHealth', status: 'running' });
  });

  it("stops where it is when told to (an operator's kill): the running step is cancelled, the record left at that step", async () => {
    const context = validatedContext(unitInventory(), 'master-2', 'etcd-spare-0');
    const deps = { ...fakeDeps(new FakeCluster(threeMembers(['master-2']))), lock: heldLock(context.runId) };
    const store = new SavingStore();
    const stop = new AbortController();
    let cancelled: unknown;
    const steps = skipAll();
    steps.CheckClusterHealth = async (_context, stepDeps) => {
      stop.abort(new Error('stopped by SIGTERM'));
      await new Promise<void>((resolve) => (stepDeps.signal!.aborted ? resolve() : stepDeps.signal!.addEventListener('abort', () => resolve())));
      cancelled = stepDeps.signal!.reason;
      throw cancelled;
    };
    const error = await runLocally(newRunRecord(context, 'sandbox', new Date()), {
      deps,
      steps,
      runs: store,
      target: 'sandbox',
      hold: null,
      signal: stop.signal,
    }).catch((e: unknown) => e);
    expect((error as Error).message).toBe('stopped by SIGTERM');
    expect(cancelled).toBe(error);
    expect(store.saved.at(-1)).toMatchObject({ state: 'CheckClusterHealth', outcome: 'running' });
  });
});
