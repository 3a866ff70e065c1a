import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../functions/errors.ts';
import type { Host, Inventory } from '../../functions/ports.ts';
import type { StepDeps } from '../../functions/workflow/stepDeps.ts';
import { ValidateInput } from '../../functions/steps/ValidateInput.ts';
import type { ReplaceRequest, WorkflowContext } from '../../statemachine/context.ts';

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
const deps = { resolveInventory: async () => inventory } as unknown as StepDeps;

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
    const idDeps = { resolveInventory: async () => withIds } as unknown as StepDeps;
    for (const failed of ['master-1.example.com', '198.51.100.11', 'master-1', ' master-1 ', 'i-00000000000000001']) {
      const { output } = await ValidateInput(context({ failed }), idDeps);
      expect(output.failedHost).toMatchObject({ name: 'master-1', instanceId: 'i-00000000000000001' });
    }
  });

  it('needs the failed member named before the inventory is resolved', async () => {
    let resolved = 0;
    const counting = { resolveInventory: async () => (resolved++, inventory) } as unknown as StepDeps;
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
    const noSpares = { resolveInventory: async () => ({ ...inventory, hosts: inventory.hosts.filter((h) => !h.roles.includes('spare')) }) } as unknown as StepDeps;
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
