// Keys made ahead (functions/hosts/keysAhead.ts): which steps ask for one, on which host and for which
// later command, before their first command there; and how the local run carries what a step left to
// the next step in the context, as the step functions do (test/aws/keysAhead.test.ts has the SSM side).

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  askKeyAhead,
  holdsKeyAhead,
  keysAheadRunner,
  withKeysAhead,
  withKeysLeft,
  type KeyAhead,
  type KeysAheadRunner,
} from '../../functions/hosts/keysAhead.ts';
import type { HostRunner } from '../../functions/ports.ts';
import { CheckClusterHealth } from '../../functions/steps/CheckClusterHealth.ts';
import { ConfigureNewMember } from '../../functions/steps/ConfigureNewMember.ts';
import { InstallEtcd } from '../../functions/steps/InstallEtcd.ts';
import { ValidateInput } from '../../functions/steps/ValidateInput.ts';
import { newRunRecord, runLocally } from '../../functions/workflow/localRun.ts';
import type { Step } from '../../functions/workflow/step.ts';
import type { StepDeps } from '../../functions/workflow/stepDeps.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { TASKS, type TaskName } from '../../statemachine/spec.ts';
import { FakeCluster, fakeDeps, threeMembers, unitInventory, validatedContext } from '../support/fakeCluster.ts';
import { heldLock, SavingStore } from '../support/fakePorts.ts';
import { confirmedContext, SPARE, stepWorld } from '../support/stepHarness.ts';

const KEY: KeyAhead = {
  keyId: 'ab'.repeat(16),
  publicKey: 'Q'.repeat(392),
  instanceId: 'i-0123456789abcdef0',
  madeAt: '2026-01-01T00:00:00.000Z',
  for: 'StartNewMember',
};

/** A runner that keeps keys ahead as the SSM runner's interface says, recording asks and commands in order. */
function recording(inner: HostRunner, left: KeyAhead[] = []): { runner: KeysAheadRunner; events: string[]; carried: KeyAhead[][] } {
  const events: string[] = [];
  const carried: KeyAhead[][] = [];
  const runner: KeysAheadRunner = {
    run: (request) => {
      events.push(`${request.script}@${request.host.name}`);
      return inner.run(request);
    },
    keyAhead: (host, script) => events.push(`key for ${script}@${host.name}`),
    holdsKeyAhead: () => false,
    carryKeysAhead: (keys) => carried.push([...keys]),
    keysAheadLeft: () => left,
  };
  return { runner, events, carried };
}

describe('Functions: keysAheadRunner, askKeyAhead, holdsKeyAhead', () => {
  it('find the keys of a runner that has them, and do nothing where a runner needs none (the sandbox)', () => {
    const plain: HostRunner = { run: async () => ({ exitCode: 0, stdout: '', stderr: '' }) };
    expect(keysAheadRunner(plain)).toBeUndefined();
    expect(() => askKeyAhead(plain, SPARE, 'StartNewMember')).not.toThrow();
    expect(holdsKeyAhead(plain, SPARE)).toBe(false);
    const { runner, events } = recording(plain);
    askKeyAhead(runner, SPARE, 'StartNewMember');
    expect(events).toEqual(['key for StartNewMember@etcd-spare-0']);
  });
});

describe('Functions: withKeysAhead, withKeysLeft', () => {
  const context = validatedContext(unitInventory(), 'master-2', 'etcd-spare-0');

  it('hand the runner the keys the context carries and write back what is left; none left removes the field', async () => {
    const { runner, carried } = recording({ run: async () => ({ exitCode: 0, stdout: '', stderr: '' }) });
    const { result, keysAhead } = await withKeysAhead({ runner }, { ...context, keysAhead: [KEY] }, async () => 'done');
    expect(result).toBe('done');
    expect(carried).toEqual([[KEY]]);
    expect(keysAhead).toEqual([]);
    expect(withKeysLeft({ ...context, keysAhead: [KEY] }, keysAhead)).toEqual(context);
    expect(withKeysLeft(context, [KEY])).toEqual({ ...context, keysAhead: [KEY] });
  });

  it('leave the context as it is where the runner needs no keys', async () => {
    const plain = { runner: { run: async () => ({ exitCode: 0, stdout: '', stderr: '' }) } };
    const { keysAhead } = await withKeysAhead(plain, { ...context, keysAhead: [KEY] }, async () => null);
    expect(keysAhead).toBeUndefined();
    expect(withKeysLeft({ ...context, keysAhead: [KEY] }, keysAhead)).toEqual({ ...context, keysAhead: [KEY] });
  });
});

describe('Steps that ask for a key ahead, before their first command to that host', () => {
  it('ValidateInput: on the hosts the snapshot may be taken on, whose member list read goes first through them', async () => {
    const cluster = new FakeCluster(threeMembers(['master-2']));
    const base = fakeDeps(cluster);
    const { runner, events } = recording(base.runner);
    const via: string[][] = [];
    const deps: StepDeps = {
      ...base,
      runner,
      resolveInventory: async () => unitInventory(),
      etcd: (hosts, endpoints) => (via.push(hosts.map((h) => h.name)), base.etcd(hosts, endpoints)),
    };
    const context: WorkflowContext = {
      runId: 'r-unit-0001',
      request: { cluster: 'unit', failed: 'master-2', startedBy: 'test' },
      options: { graceSeconds: 0, learner: 'auto' },
    };
    const result = await ValidateInput(context, deps);
    expect(result.output).toMatchObject({ replacement: { name: 'etcd-spare-0' }, caHost: { name: 'master-0' } });
    expect(events).toEqual(['key for SnapshotCluster@master-1']);
    expect(via).toEqual([['master-1', 'master-0', 'master-2']]);
  });

  it('CheckClusterHealth: on the CA host, for IssueCertificates (the observation runs there first); not when the playbook issues them', async () => {
    const asked = async (extra: Partial<WorkflowContext>) => {
      const base = fakeDeps(new FakeCluster(threeMembers(['master-2'])));
      const { runner, events } = recording(base.runner);
      await CheckClusterHealth(validatedContext(unitInventory(), 'master-2', 'etcd-spare-0', extra), { ...base, runner });
      return events.filter((e) => e.startsWith('key'));
    };
    expect(await asked({})).toEqual(['key for IssueCertificates@master-0']);
    expect(await asked({ addByPlaybook: true })).toEqual([]);
  });

  it('InstallEtcd: on the new host, for StartNewMember, before its first command there', async () => {
    const world = stepWorld();
    world.runner.on('InstallEtcd', {
      stdout: { found: [], stopped: false, data: { empty: true }, installed: { version: '3.4.27', package: 'etcd-3.4.27-1.el7', action: 'install' } },
    });
    const { runner, events } = recording(world.runner);
    await InstallEtcd(confirmedContext(), { ...world.deps, runner });
    expect(events).toEqual(['key for StartNewMember@etcd-spare-0', 'InstallEtcd@etcd-spare-0']);
  });

  it('ConfigureNewMember: on the CA host, for its own bundle upload, before its reads there (no command of its own for the key)', async () => {
    const world = stepWorld();
    const conf = readFileSync(new URL('../../sandbox/templates/etcd.conf', import.meta.url), 'utf8');
    world.runner.putFile('master-0', `/etc/etcd/generated_certs/etcd-${SPARE.hostname}/etcd.conf`, conf);
    world.runner.on('ConfigureNewMember', () => {
      world.artifacts.put(`runs/r-unit-0001/bundle-${SPARE.hostname}.tgz`, 8192);
      return { stdout: { bytes: 8192 } };
    });
    const { runner, events } = recording(world.runner);
    await ConfigureNewMember(confirmedContext(), { ...world.deps, runner });
    expect(events[0]).toBe('key for ConfigureNewMember@master-0');
    expect(events.slice(1).every((e) => !e.startsWith('key'))).toBe(true);
    expect(events.at(-1)).toBe('ConfigureNewMember@master-0');
  });
});

describe('Function: runLocally, keys made ahead', () => {
  it('carries the keys a step left to the next in the context, and clears them once none is left', async () => {
    const context = validatedContext(unitInventory(), 'master-2', 'etcd-spare-0');
    const base = { ...fakeDeps(new FakeCluster(threeMembers(['master-2']))), lock: heldLock(context.runId) };
    let left: KeyAhead[] = [];
    const carried: Array<[string, KeyAhead[]]> = [];
    const runner: KeysAheadRunner = {
      run: base.runner.run,
      keyAhead: () => undefined,
      holdsKeyAhead: () => false,
      carryKeysAhead: (keys) => carried.push(['', [...keys]]),
      keysAheadLeft: () => left,
    };
    const steps = Object.fromEntries(
      TASKS.map((t) => [
        t.name,
        (async (input: WorkflowContext) => {
          carried.at(-1)![0] = t.name;
          // InstallEtcd leaves a key; StartNewMember takes it.
          left = t.name === 'InstallEtcd' ? [KEY] : t.name === 'StartNewMember' ? [] : (input.keysAhead ?? []);
          return { output: {}, detail: `${t.name} done`, skipped: true };
        }) satisfies Step,
      ]),
    ) as unknown as Record<TaskName, Step>;
    const ended = await runLocally(newRunRecord(context, 'sandbox', new Date()), {
      deps: { ...base, runner },
      steps,
      runs: new SavingStore(),
      target: 'sandbox',
    });
    expect(ended.state).toBe('Succeeded');
    const seen = Object.fromEntries(carried);
    expect(seen['InstallEtcd']).toEqual([]);
    expect(seen['ConfirmMemberFailed']).toEqual([KEY]);
    expect(seen['StartNewMember']).toEqual([KEY]);
    expect(seen['VerifyClusterHealth']).toEqual([]);
    expect(ended.context['keysAhead']).toBeUndefined();
  });
});
