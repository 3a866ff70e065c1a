// The local run's record (functions/workflow/localRun.ts) names each step before the step acts: a
// process killed at any instant resumes at that step or a later one, never before a step whose effect
// has happened (a released lock, say). Steps are fakes; the run store keeps every saved copy.

import { describe, expect, it } from 'vitest';
import type { RunRecord, RunStore } from '../../functions/ports.ts';
import { newRunRecord, runLocally } from '../../functions/workflow/localRun.ts';
import type { Step } from '../../functions/workflow/step.ts';
import { TASKS, type TaskName } from '../../statemachine/spec.ts';
import { fakeDeps, FakeCluster, threeMembers, unitInventory, validatedContext } from '../support/fakeCluster.ts';

class SavingStore implements RunStore {
  readonly saved: RunRecord[] = [];
  async save(record: RunRecord): Promise<void> {
    this.saved.push(structuredClone(record));
  }
  async get(runId: string): Promise<RunRecord | null> {
    return this.saved.filter((r) => r.runId === runId).at(-1) ?? null;
  }
  async list(): Promise<RunRecord[]> {
    return [];
  }
}

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
    const deps = { ...fakeDeps(new FakeCluster(threeMembers(['master-2']))), lock: { acquire: async () => ({}) as never, renew: async () => {}, release: async () => {}, current: async () => ({ runId: context.runId }) as never } };
    const ended = await runLocally(newRunRecord(context, 'sandbox', new Date()), { deps, steps, runs: store, target: 'sandbox' });
    expect(ended.state).toBe('Succeeded');
    expect(seenAtStart.length).toBeGreaterThan(10);
    for (const [step, saved] of seenAtStart) expect({ step, saved }).toEqual({ step, saved: step });
  });
});
