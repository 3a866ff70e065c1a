// The restore's first state (functions/steps/ValidateRestoreRequest.ts): every field checked before the
// inventory is asked for, then the inventory checked as the replacement's (one CA host, one installer
// host), `from` resolved to exactly one etcd host (by any identity of the host, or its member ID through
// the member list), the options as the run works on them. Bad input: InvalidInputError naming the field,
// exit 2, nothing observed beyond a member list and nothing changed.

import { describe, expect, it } from 'vitest';
import type { Inventory } from '../../../functions/ports.ts';
import { ValidateRestoreRequest } from '../../../functions/steps/ValidateRestoreRequest.ts';
import { host, memberId, threeMembers, unitInventory } from '../../support/fakeCluster.ts';
import { failure, NOW, RUN_ID, stepWorld, type StepWorld } from '../../support/stepHarness.ts';
import type { RestoreContext } from '../../../statemachine/restoreContext.ts';

/** A console input as the run's context: the input as the request, its options over the run's defaults. */
function restoreContext(request: Record<string, unknown> = {}, options: Record<string, unknown> = {}): RestoreContext {
  return {
    runId: RUN_ID,
    request: { cluster: 'unit', startedBy: 'cli:ops', ...request },
    options: { graceSeconds: 10, learner: 'auto', ...options },
  } as unknown as RestoreContext;
}

/** The unit cluster with two of three masters down; the inventory the target resolves, counted. */
function world(inventory: Inventory = unitInventory()): StepWorld & { resolved: number } {
  const w = stepWorld(threeMembers(['master-0', 'master-1']));
  const out = Object.assign(w, { resolved: 0 });
  w.deps.resolveInventory = async () => {
    out.resolved++;
    return inventory;
  };
  return out;
}

function expectNothingChanged(w: StepWorld): void {
  expect(w.cluster.changes).toEqual([]);
  expect(w.securityGroups.calls).toEqual([]);
  expect(w.runner.requests).toEqual([]);
  expect(w.artifacts.calls).toEqual([]);
}

async function refused(context: RestoreContext, w: StepWorld, field: string): Promise<string> {
  const error = await failure(ValidateRestoreRequest(context, w.deps));
  expect(error).toMatchObject({ name: 'InvalidInputError', exitCode: 2, field });
  expectNothingChanged(w);
  return error.message;
}

describe('Step: ValidateRestoreRequest', () => {
  it('a plain request: the inventory checked, its etcd hosts the former members, the approval window defaulted, validatedAt stamped', async () => {
    const w = world();
    const result = await ValidateRestoreRequest(restoreContext(), w.deps);
    expect(result.output).toMatchObject({
      request: { cluster: 'unit', startedBy: 'cli:ops', failed: '' },
      options: { graceSeconds: 10, learner: 'auto', approvalTimeoutSeconds: 3600 },
      inventory: unitInventory(),
      caHost: { name: 'master-0' },
      installerHost: { name: 'master-0' },
      validatedAt: NOW.toISOString(),
    });
    expect(result.output.options).not.toHaveProperty('from');
    expect(result.output.options).not.toHaveProperty('fenceUnreachable');
    expect(result.detail).toBe(
      'restore cluster unit from the best restore point; former members (its etcd hosts): master-0, master-1, master-2; CA master-0, installer master-0; grace 10s, approval within 3600s (never waived)',
    );
    expect(w.cluster.calls).toEqual([]);
    expectNothingChanged(w);
  });

  it('`from` by host name, hostname, IP or member ID: written back as the one etcd host it names', async () => {
    for (const from of ['master-1', 'master-1.example.test', '198.51.100.3', memberId(0xa1), 'A1']) {
      const w = world();
      const result = await ValidateRestoreRequest(restoreContext({ from }), w.deps);
      expect(result.output.options?.from).toBe('master-1');
      expect(result.detail).toContain(`from master-1 (--from ${from})`);
      expectNothingChanged(w);
    }
    // The CLI's --from arrives in the options: the same.
    const w = world();
    expect((await ValidateRestoreRequest(restoreContext({}, { from: 'master-2' }), w.deps)).output.options?.from).toBe('master-2');
  });

  it('`from` naming no etcd host is refused with exit 2: a spare, an unknown name, an unknown member, a member list that cannot be read', async () => {
    expect(await refused(restoreContext({ from: 'etcd-spare-0' }), world(), 'from')).toContain(
      'etcd-spare-0 is no etcd host; the etcd hosts of cluster unit: master-0, master-1, master-2',
    );
    expect(await refused(restoreContext({ from: 'master-7' }), world(), 'from')).toContain('master-7 names no host');
    expect(await refused(restoreContext({ from: 'b7' }), world(), 'from')).toContain('b7 is no member of the cluster');
    const w = world();
    w.cluster.memberList = async () => {
      throw new Error('no etcd endpoint answers');
    };
    expect(await refused(restoreContext({ from: 'a1' }), w, 'from')).toContain(
      'no member list could be read to find member 00000000000000a1 (no etcd endpoint answers)',
    );
  });

  it('a member ID whose member runs on a host outside the etcd group is refused', async () => {
    const w = world(unitInventory([host('etcd-spare-1', '198.51.100.10', ['spare'])]));
    w.cluster.members.push({ id: memberId(0xb1), name: 'etcd-spare-1.example.test', ip: '198.51.100.10', up: true });
    expect(await refused(restoreContext({ from: 'b1' }), w, 'from')).toContain(
      'member 00000000000000b1 (etcd-spare-1.example.test) runs on etcd-spare-1, no etcd host',
    );
  });

  it('every field is checked before the inventory is asked for', async () => {
    const cases: Array<[Record<string, unknown>, Record<string, unknown>, string]> = [
      [{ cluster: 'un it' }, {}, 'cluster'],
      [{ startedBy: '' }, {}, 'startedBy'],
      [{ from: 'master-1', snapshot: 'runs/r1/snapshot.db' }, {}, 'from'],
      [{ from: 'master-1' }, { from: 'master-2' }, 'from'],
      [{ from: '$(reboot)' }, {}, 'from'],
      [{ snapshot: 'runs/../../etc' }, {}, 'snapshot'],
      [{ failed: 'master-2' }, {}, 'failed'],
      [{ replacement: 'etcd-spare-0' }, {}, 'request'],
      [{ options: { learner: 'never' } }, {}, 'options'],
      [{}, { graceSeconds: 3601 }, 'options.graceSeconds'],
      [{}, { approvalTimeoutSeconds: 0 }, 'options.approvalTimeoutSeconds'],
      [{}, { approvalTimeoutSeconds: 86401 }, 'options.approvalTimeoutSeconds'],
      [{}, { approvalWaivers: ['all-others-terminated', 'all-others-terminated'] }, 'options.approvalWaivers'],
      [{}, { approvalWaivers: 'all-others-terminated' }, 'options.approvalWaivers'],
      [{}, { fenceUnreachable: 'terminate' }, 'options.fenceUnreachable'],
      [{}, { lockWaitSeconds: -1 }, 'options.lockWaitSeconds'],
      [{}, { learner: 'always' }, 'options.learner'],
    ];
    for (const [request, options, field] of cases) {
      const w = world();
      await refused(restoreContext(request, options), w, field);
      expect(w.resolved).toBe(0);
      expect(w.cluster.calls).toEqual([]);
    }
    expect(await refused(restoreContext({}, { approvalWaivers: ['always'] }), world(), 'options.approvalWaivers')).toContain(
      '"always" is no waiver condition; the conditions: all-others-terminated',
    );
  });

  it('the options as the run works on them: waivers and a stop-instance fence kept, a `none` fence left out', async () => {
    const asked = { approvalWaivers: ['all-others-terminated'], fenceUnreachable: 'stop-instance', approvalTimeoutSeconds: 600, lockWaitSeconds: 30 };
    const result = await ValidateRestoreRequest(restoreContext({ options: asked }, asked), world().deps);
    expect(result.output.options).toEqual({ graceSeconds: 10, learner: 'auto', ...asked });
    expect(result.detail).toContain('approval within 600s (waivable by all-others-terminated), an unreachable member is stopped');
    const none = await ValidateRestoreRequest(restoreContext({}, { fenceUnreachable: 'none', approvalWaivers: [] }), world().deps);
    expect(none.output.options).toEqual({ graceSeconds: 10, learner: 'auto', approvalTimeoutSeconds: 3600 });
  });

  it('a snapshot key is kept as given', async () => {
    const result = await ValidateRestoreRequest(restoreContext({ snapshot: 'runs/r-0001/snapshot-master-0.db' }), world().deps);
    expect(result.output.options?.snapshot).toBe('runs/r-0001/snapshot-master-0.db');
    expect(result.detail).toContain('from snapshot runs/r-0001/snapshot-master-0.db');
  });

  it('the inventory is checked as the replacement checks it: one CA host, one installer host, valid hosts, an etcd host', async () => {
    const [m0, ...rest] = unitInventory().hosts;
    const twoCa = { cluster: 'unit', hosts: [m0!, ...rest.map((h) => (h.name === 'master-1' ? { ...h, roles: [...h.roles, 'ca' as const] } : h))] };
    expect(await refused(restoreContext(), world(twoCa), 'inventory')).toContain('expected exactly one host with role ca, found 2: master-0, master-1');
    const noInstaller = { cluster: 'unit', hosts: [{ ...m0!, roles: m0!.roles.filter((r) => r !== 'installer') }, ...rest] };
    expect(await refused(restoreContext(), world(noInstaller), 'inventory')).toContain('expected exactly one host with role installer, found 0');
    const badIp = { cluster: 'unit', hosts: [m0!, ...rest.map((h) => (h.name === 'master-2' ? { ...h, ip: '198.51.100.4; reboot' } : h))] };
    await refused(restoreContext(), world(badIp), 'inventory.hosts[2].ip');
    const noEtcd = { cluster: 'unit', hosts: [{ ...m0!, roles: ['master' as const, 'ca' as const, 'installer' as const] }] };
    expect(await refused(restoreContext(), world(noEtcd), 'inventory')).toContain('cluster unit has no etcd host');
  });
});
