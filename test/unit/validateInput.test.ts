import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../functions/errors.ts';
import type { EtcdMember, Host, Inventory, RunRecord } from '../../functions/ports.ts';
import type { StepDeps } from '../../functions/workflow/stepDeps.ts';
import { ValidateInput } from '../../functions/steps/ValidateInput.ts';
import type { ReplaceRequest, WorkflowContext } from '../../statemachine/context.ts';
import { successReason } from '../../statemachine/earlierRun.ts';

const host = (name: string, ip: string, roles: Host['roles']): Host => ({ name, hostname: `${name}.example.com`, ip, roles });
const inventory: Inventory = {
  cluster: 'ocp',
  hosts: [
    host('master-0', '198.51.100.10', ['master', 'etcd', 'ca', 'installer']),
    host('master-1', '198.51.100.11', ['master', 'etcd']),
    host('master-2', '198.51.100.12', ['master', 'etcd']),
    host('etcd-spare-0', '198.51.100.20', ['spare']),
    host('etcd-spare-1', '198.51.100.21', ['spare']),
  ],
};
const deps = { now: () => new Date(), resolveInventory: async () => inventory } as unknown as StepDeps;

function context(request: Partial<ReplaceRequest>): WorkflowContext {
  return {
    runId: 'r-test-validate',
    request: { cluster: 'ocp', failed: 'master-2', replacement: 'etcd-spare-1', startedBy: 'test', ...request },
    options: { graceSeconds: 1, learner: 'auto' },
  };
}

describe('Step: ValidateInput', () => {
  it('resolves the failed host, the replacement, the CA and the installer exactly', async () => {
    const { output } = await ValidateInput(context({ failed: '198.51.100.12' }), deps);
    expect(output.failedHost?.name).toBe('master-2');
    expect(output.replacement?.name).toBe('etcd-spare-1');
    expect(output.caHost?.name).toBe('master-0');
    expect(output.installerHost?.name).toBe('master-0');
  });

  it('finds the failed host by its hostname, IP, short name or instance ID', async () => {
    const withIds: Inventory = { ...inventory, hosts: inventory.hosts.map((h, i) => ({ ...h, instanceId: `i-0000000000000000${i}` })) };
    const idDeps = { now: () => new Date(), resolveInventory: async () => withIds } as unknown as StepDeps;
    for (const failed of ['master-1.example.com', '198.51.100.11', 'master-1', ' master-1 ', 'i-00000000000000001']) {
      const { output } = await ValidateInput(context({ failed }), idDeps);
      expect(output.failedHost).toMatchObject({ name: 'master-1', instanceId: 'i-00000000000000001' });
    }
  });

  it('needs the failed member named before the inventory is resolved', async () => {
    let resolved = 0;
    const counting = { now: () => new Date(), resolveInventory: async () => (resolved++, inventory) } as unknown as StepDeps;
    for (const failed of ['', '  ', undefined, 7]) {
      await expect(ValidateInput(context({ failed: failed as string }), counting)).rejects.toThrow(/invalid failed: name the failed member/);
    }
    expect(resolved).toBe(0);
  });

  it('takes the first spare of the pool when no replacement is named', async () => {
    const { output } = await ValidateInput(context({ replacement: undefined }), deps);
    expect(output.replacement?.name).toBe('etcd-spare-0');
    expect(output.replacementChoice).toBe('spare');
  });

  it('chooses to launch a host when none is named and the pool is empty, or when `new` is asked for; a named host is named', async () => {
    const noSpares = {
      now: () => new Date(),
      resolveInventory: async () => ({ ...inventory, hosts: inventory.hosts.filter((h) => !h.roles.includes('spare')) }),
    } as unknown as StepDeps;
    const empty = await ValidateInput(context({ replacement: undefined }), noSpares);
    expect(empty.output).toMatchObject({ replacementChoice: 'launched', failedHost: { name: 'master-2' } });
    expect(empty.output.replacement).toBeUndefined();
    expect(empty.detail).toMatch(/to be launched \(the spare pool is empty\)/);
    const asked = await ValidateInput(context({ replacement: ' new ' }), deps);
    expect(asked.output.replacementChoice).toBe('launched');
    expect(asked.output.replacement).toBeUndefined();
    expect(asked.detail).toMatch(/to be launched \(asked for\)/);
    const named = await ValidateInput(context({ replacement: 'etcd-spare-1' }), deps);
    expect(named.output).toMatchObject({ replacementChoice: 'named', replacement: { name: 'etcd-spare-1' } });
    // Naming an unknown host is still an error, never a launch.
    await expect(ValidateInput(context({ replacement: 'etcd-spare-9' }), noSpares)).rejects.toThrow(/no host named etcd-spare-9/);
  });

  it('refuses hostile or unknown names before anything is resolved', async () => {
    for (const failed of ['$(reboot)', 'master-2; rm -rf /', '-x', 'master-2\n']) {
      await expect(ValidateInput(context({ failed }), deps)).rejects.toBeInstanceOf(InvalidInputError);
    }
    await expect(ValidateInput(context({ replacement: 'nowhere' }), deps)).rejects.toThrow(/no host named nowhere/);
    await expect(ValidateInput(context({ replacement: 'master-2' }), deps)).rejects.toThrow(/another host/);
  });

  it('refuses an IP that only shares a prefix with a host (198.51.100.1 is not 198.51.100.10)', async () => {
    const { output } = await ValidateInput(context({ failed: '198.51.100.1' }), deps);
    expect(output.failedHost).toBeUndefined();
  });
});

// The spare pool and requests an earlier run already carried out: the member list read through the
// etcd hosts (read-only), the run record through StepDeps.pastRuns.
const member = (id: string, hostName: string | null, ip: string, started = true): EtcdMember => ({
  id,
  name: started && hostName ? `${hostName}.example.com` : '',
  peerURLs: [`https://${ip}:2380`],
  clientURLs: started ? [`https://${ip}:2379`] : [],
  isLearner: false,
});
const M0 = member('00000000000000a0', 'master-0', '198.51.100.10');
const M1 = member('00000000000000a1', 'master-1', '198.51.100.11');
const M2 = member('00000000000000a2', 'master-2', '198.51.100.12');
const SPARE0 = member('00000000000000b0', 'etcd-spare-0', '198.51.100.20');
const EARLIER = 'r-20300101-000000-abcdef';

/** A succeeded run that replaced master-2 with etcd-spare-0 (member b0). */
function earlierRun(overrides: { outcome?: RunRecord['outcome']; newMemberId?: string; runId?: string; removed?: boolean } = {}): RunRecord {
  return {
    runId: overrides.runId ?? EARLIER,
    cluster: 'ocp',
    target: 'sandbox',
    startedBy: 'test',
    request: { failed: 'master-2' },
    outcome: overrides.outcome ?? 'succeeded',
    startedAt: '2030-01-01T00:00:00.000Z',
    endedAt: '2030-01-01T00:05:00.000Z',
    state: 'Succeeded',
    context: {
      failedMember: { id: M2.id, name: M2.name, peerURL: M2.peerURLs[0], clientURL: M2.clientURLs[0] },
      replacement: inventory.hosts.find((h) => h.name === 'etcd-spare-0'),
      replacementChoice: 'spare',
      newMemberId: overrides.newMemberId ?? SPARE0.id,
    },
    steps:
      overrides.removed === false
        ? []
        : [
            {
              name: 'RemoveFailedMember',
              status: 'succeeded',
              startedAt: '2030-01-01T00:01:00.000Z',
              endedAt: '2030-01-01T00:01:02.000Z',
              attempts: 1,
              detail: `removed member ${M2.id}`,
            },
          ],
    remaining: ['master-2: /var/lib/etcd was not backed up (the host could not reach the artifact store) and is left untouched'],
  };
}

function clusterDeps(members: EtcdMember[], runs: RunRecord[] = [], inv: Inventory = inventory) {
  const asked: string[][] = [];
  const deps = {
    now: () => new Date(),
    resolveInventory: async () => inv,
    etcd: (via: Host[]) => ({
      memberList: async () => {
        asked.push(via.map((h) => h.name));
        return members;
      },
    }),
    pastRuns: async () => runs,
  } as unknown as StepDeps;
  return { deps, asked };
}

describe('Step: ValidateInput, the spare pool', () => {
  it('skips a host of the pool that is a member by any identity, and says so', async () => {
    for (const spare of [SPARE0, { ...SPARE0, name: '' }, { ...SPARE0, peerURLs: ['https://etcd-spare-0.example.com:2380'], clientURLs: [] }]) {
      const { deps, asked } = clusterDeps([M0, M1, spare]);
      const result = await ValidateInput(context({ replacement: undefined }), deps);
      expect(result.output).toMatchObject({ replacementChoice: 'spare', replacement: { name: 'etcd-spare-1' } });
      expect(result.detail).toMatch(/replacement etcd-spare-1 \(198\.51\.100\.21, from the spare pool\); etcd-spare-0 of the pool is a member already/);
      // Through the hosts the snapshot may be taken on first (neither failed nor the CA host), the failed host last.
      expect(asked).toEqual([['master-1', 'master-0', 'master-2']]);
    }
  });

  it('launches a host when every host of the pool is a member', async () => {
    const SPARE1 = member('00000000000000b1', 'etcd-spare-1', '198.51.100.21');
    const { deps } = clusterDeps([M0, SPARE0, SPARE1]);
    const result = await ValidateInput(context({ replacement: undefined }), deps);
    expect(result.output.replacementChoice).toBe('launched');
    expect(result.output.replacement).toBeUndefined();
    expect(result.detail).toMatch(/to be launched \(no host of the spare pool is free\); etcd-spare-0, etcd-spare-1 of the pool are members already/);
  });

  it('reads no member list when a replacement is named, and takes the first spare when the list cannot be read', async () => {
    const { deps, asked } = clusterDeps([M0, M1, M2]);
    await ValidateInput(context({ replacement: 'etcd-spare-1' }), deps);
    expect(asked).toEqual([]);
    const broken = {
      now: () => new Date(),
      resolveInventory: async () => inventory,
      etcd: () => ({
        memberList: async () => {
          throw new Error('no member answers');
        },
      }),
    } as unknown as StepDeps;
    expect((await ValidateInput(context({ replacement: undefined }), broken)).output.replacement?.name).toBe('etcd-spare-0');
  });
});

describe('Step: ValidateInput, a request an earlier run carried out', () => {
  it("the failed member is gone and the earlier run's member runs: the short path, naming the run", async () => {
    for (const replacement of [undefined, 'etcd-spare-0', '198.51.100.20', 'etcd-spare-0.example.com']) {
      const { deps } = clusterDeps([M0, M1, SPARE0], [earlierRun()]);
      const result = await ValidateInput(context({ replacement }), deps);
      expect(result.output).toMatchObject({
        alreadyReplaced: true,
        replacement: { name: 'etcd-spare-0' },
        replacementChoice: replacement === undefined ? 'spare' : 'named',
        newMemberId: SPARE0.id,
        failedHost: { name: 'master-2' },
        failedMember: { id: M2.id },
        replacedBy: { runId: EARLIER, at: '2030-01-01T00:01:02.000Z', newMemberId: SPARE0.id, peerURL: 'https://198.51.100.20:2380' },
      });
      expect(result.detail).toMatch(
        new RegExp(
          `^master-2 is no member and etcd-spare-0 is member ${SPARE0.id}, added for it: already done by run ${EARLIER} on 2030-01-01 00:01:02Z; finishing under the lock .*; what it left: master-2: /var/lib/etcd was not backed up`,
        ),
      );
      expect(successReason(result.output as WorkflowContext)).toBe(
        `already done by run ${EARLIER} on 2030-01-01 00:01:02Z: etcd-spare-0 is member ${SPARE0.id}`,
      );
    }
  });

  it('is no repeat when anything differs: another replacement, the failed member back, the new member gone or unstarted, a run that did not succeed', async () => {
    const cases: Array<[string, EtcdMember[], RunRecord[], string | undefined]> = [
      ['another replacement named', [M0, M1, SPARE0], [earlierRun()], 'etcd-spare-1'],
      ['`new` asked for', [M0, M1, SPARE0], [earlierRun()], 'new'],
      ['the failed member is a member again', [M0, M1, M2], [earlierRun()], 'etcd-spare-0'],
      ['the earlier member was removed', [M0, M1], [earlierRun()], undefined],
      ['the earlier member never started', [M0, M1, member(SPARE0.id, 'etcd-spare-0', '198.51.100.20', false)], [earlierRun()], undefined],
      ['another member ID at that host', [M0, M1, { ...SPARE0, id: '00000000000000bf' }], [earlierRun()], undefined],
      ['the earlier run failed', [M0, M1, SPARE0], [earlierRun({ outcome: 'failed' })], undefined],
      ['the earlier run removed nothing', [M0, M1, SPARE0], [earlierRun({ removed: false })], undefined],
      ['no record', [M0, M1, SPARE0], [], undefined],
    ];
    for (const [what, members, runs, replacement] of cases) {
      const { deps } = clusterDeps(members, runs);
      const result = await ValidateInput(context({ replacement }), deps);
      expect({ what, alreadyReplaced: result.output.alreadyReplaced }).toEqual({ what, alreadyReplaced: undefined });
      expect(result.output.replacedBy).toBeUndefined();
    }
  });

  it('never counts its own run, and an unreadable record is no repeat', async () => {
    const own = clusterDeps([M0, M1, SPARE0], [earlierRun({ runId: 'r-test-validate' })]);
    expect((await ValidateInput(context({ replacement: undefined }), own.deps)).output.alreadyReplaced).toBeUndefined();
    const unreadable = {
      ...clusterDeps([M0, M1, SPARE0]).deps,
      pastRuns: async () => {
        throw new Error('unreadable');
      },
    } as StepDeps;
    expect((await ValidateInput(context({ replacement: undefined }), unreadable)).output.alreadyReplaced).toBeUndefined();
  });
});
