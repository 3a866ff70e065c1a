// The local run's hold before a step (functions/workflow/localRun.ts), the rehearsal and test hook: never
// active unless both variables are set, validated, and while it holds the run keeps proving and renewing
// its lock as during any step; the held step starts only once the file is gone. Steps are fakes.

import { heldLock } from '../support/fakePorts.ts';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../functions/errors.ts';
import type { LockPort, RunRecord, RunStore } from '../../functions/ports.ts';
import { HOLD_FILE_ENV, HOLD_STEP_ENV, newRunRecord, runLocally, stepHoldFromEnv } from '../../functions/workflow/localRun.ts';
import type { Step } from '../../functions/workflow/step.ts';
import { TASKS, type TaskName } from '../../statemachine/spec.ts';
import { fakeDeps, FakeCluster, threeMembers, unitInventory, validatedContext } from '../support/fakeCluster.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const noRuns: RunStore = { save: async () => {}, get: async () => null, list: async () => [] };

describe('Function: stepHoldFromEnv', () => {
  it('asks for no hold unless both variables are set', () => {
    expect(stepHoldFromEnv({})).toBeNull();
    expect(stepHoldFromEnv({ [HOLD_STEP_ENV]: '', [HOLD_FILE_ENV]: '' })).toBeNull();
    expect(stepHoldFromEnv({ [HOLD_STEP_ENV]: 'AddMember', [HOLD_FILE_ENV]: '/tmp/hold' })).toEqual({ step: 'AddMember', file: '/tmp/hold' });
  });

  it('refuses one variable without the other, a step the workflow does not have, and a path that is not plain and absolute', () => {
    expect(() => stepHoldFromEnv({ [HOLD_STEP_ENV]: 'AddMember' })).toThrow(InvalidInputError);
    expect(() => stepHoldFromEnv({ [HOLD_STEP_ENV]: 'AddMember' })).toThrow(HOLD_FILE_ENV);
    expect(() => stepHoldFromEnv({ [HOLD_FILE_ENV]: '/tmp/hold' })).toThrow(HOLD_STEP_ENV);
    expect(() => stepHoldFromEnv({ [HOLD_STEP_ENV]: 'Succeeded', [HOLD_FILE_ENV]: '/tmp/hold' })).toThrow(/must name a step of the workflow/);
    expect(() => stepHoldFromEnv({ [HOLD_STEP_ENV]: 'addmember', [HOLD_FILE_ENV]: '/tmp/hold' })).toThrow(InvalidInputError);
    for (const file of ['tmp/hold', '/tmp/../etc/hold', '/tmp/ho ld', '/tmp/hold\n', '/tmp/$(reboot)']) {
      expect(() => stepHoldFromEnv({ [HOLD_STEP_ENV]: 'AddMember', [HOLD_FILE_ENV]: file })).toThrow(InvalidInputError);
    }
  });
});

describe('Function: runLocally with a hold', () => {
  it('waits before the named step while the file exists, renewing its lock, and starts the step once it is gone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'step-hold-'));
    dirs.push(dir);
    const file = join(dir, 'hold');
    await writeFile(file, '');

    const started: string[] = [];
    const steps = Object.fromEntries(
      TASKS.map((t) => [
        t.name,
        (async () => {
          started.push(t.name);
          return { output: {}, detail: `${t.name} done`, skipped: true };
        }) satisfies Step,
      ]),
    ) as unknown as Record<TaskName, Step>;
    const context = validatedContext(unitInventory(), 'master-2', 'etcd-spare-0');
    const renewals: number[] = [];
    const lock: LockPort = heldLock(context.runId, { renew: async () => void renewals.push(Date.now()) });
    const logged: string[] = [];
    const base = fakeDeps(new FakeCluster(threeMembers(['master-2'])));
    // A lifetime of 0.3 s: renewed every 0.1 s while the run holds.
    const deps = { ...base, lock, log: (m: string) => void logged.push(m), waits: { ...base.waits, lockTtlSeconds: 0.3 } };
    // The step to hold: the first lock-holding step after AcquireLock that the run reaches.
    const held: TaskName = 'CheckClusterHealth';

    const run = runLocally(newRunRecord(context, 'sandbox', new Date()), { deps, steps, runs: noRuns, target: 'sandbox', hold: { step: held, file } });
    const deadline = Date.now() + 10_000;
    while (!logged.some((m) => m.startsWith(`hold: ${held} waits`)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(logged).toContain(`hold: ${held} waits while ${file} exists (${HOLD_STEP_ENV}, ${HOLD_FILE_ENV}); the run keeps its lock`);
    const renewedBefore = renewals.length;
    await new Promise((resolve) => setTimeout(resolve, 800));
    // Held: the step has not started, and the lock was renewed meanwhile.
    expect(started).not.toContain(held);
    expect(started).toContain('AcquireLock');
    expect(renewals.length - renewedBefore).toBeGreaterThanOrEqual(4);

    await rm(file);
    const ended: RunRecord = await run;
    expect(started).toContain(held);
    expect(logged).toContain(`hold: ${file} is gone; ${held} starts`);
    expect(ended.state).toBe('Succeeded');
  });

  it('goes straight on when the hold file does not exist', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'step-hold-'));
    dirs.push(dir);
    const started: string[] = [];
    const steps = Object.fromEntries(
      TASKS.map((t) => [
        t.name,
        (async () => {
          started.push(t.name);
          return { output: {}, detail: `${t.name} done`, skipped: true };
        }) satisfies Step,
      ]),
    ) as unknown as Record<TaskName, Step>;
    const context = validatedContext(unitInventory(), 'master-2', 'etcd-spare-0');
    const logged: string[] = [];
    const deps = {
      ...fakeDeps(new FakeCluster(threeMembers(['master-2']))),
      log: (m: string) => void logged.push(m),
      lock: heldLock(context.runId),
    };
    const ended = await runLocally(newRunRecord(context, 'sandbox', new Date()), {
      deps,
      steps,
      runs: noRuns,
      target: 'sandbox',
      hold: { step: 'CheckClusterHealth', file: join(dir, 'hold') },
    });
    expect(ended.state).toBe('Succeeded');
    expect(started).toContain('CheckClusterHealth');
    expect(logged.filter((m) => m.startsWith('hold:'))).toEqual([]);
  });
});
