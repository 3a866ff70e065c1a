// ProvisionReplacement over a fake provisioning port: nothing is launched for a named or pooled
// replacement; a launched host becomes the replacement and joins the run's inventory as a spare; a
// second run of the step finds the same host (skipped); a host that clashes with one of the cluster's
// is refused as a ProvisioningError.

import { describe, expect, it } from 'vitest';
import type { ProvisionedHost, ProvisionRequest, ProvisioningPort } from '../../../functions/ports.ts';
import { ProvisionReplacement } from '../../../functions/steps/ProvisionReplacement.ts';
import { FakeCluster, fakeDeps, host, threeMembers, unitInventory, validatedContext } from '../../support/fakeCluster.ts';

class FakeProvisioning implements ProvisioningPort {
  readonly requests: ProvisionRequest[] = [];
  launched = 0;
  constructor(private readonly made: ProvisionedHost) {}
  async find(): Promise<ProvisionedHost | null> {
    return this.launched > 0 ? this.made : null;
  }
  async provision(request: ProvisionRequest): Promise<ProvisionedHost> {
    this.requests.push(request);
    if (this.launched === 0) this.launched += 1;
    return this.made;
  }
  async release(): Promise<'released' | 'absent'> {
    throw new Error('ProvisionReplacement never releases');
  }
}

const NEW = { host: { ...host('etcd-new-0', '198.51.100.30', ['spare']), instanceId: 'i-0123456789abcdef0' }, id: 'i-0123456789abcdef0' };

function setUp(made: ProvisionedHost = NEW) {
  const inventory = unitInventory();
  const provisioning = new FakeProvisioning(made);
  const deps = { ...fakeDeps(new FakeCluster(threeMembers(['master-2']))), provisioning };
  const context = validatedContext(inventory, 'master-2', 'etcd-spare-0', { replacementChoice: 'launched' });
  delete context.replacement;
  return { provisioning, deps, context, inventory };
}

describe('Step: ProvisionReplacement', () => {
  it('launches nothing for a named or pooled replacement', async () => {
    const { provisioning, deps, inventory } = setUp();
    for (const choice of ['named', 'spare'] as const) {
      const result = await ProvisionReplacement(validatedContext(inventory, 'master-2', 'etcd-spare-0', { replacementChoice: choice }), deps);
      expect(result).toMatchObject({ skipped: true, output: {} });
      expect(result.detail).toContain('etcd-spare-0');
    }
    expect(provisioning.requests).toEqual([]);
  });

  it("launches a host beside the failed one, makes it the replacement and a spare of the run's inventory; again, it finds the same host", async () => {
    const { provisioning, deps, context, inventory } = setUp();
    const first = await ProvisionReplacement(context, deps);
    expect(provisioning.requests).toEqual([{ runId: context.runId, cluster: 'unit', failedHost: inventory.hosts.find((h) => h.name === 'master-2') }]);
    expect(first.skipped).toBeUndefined();
    expect(first.output).toMatchObject({
      replacement: { name: 'etcd-new-0', ip: '198.51.100.30', roles: ['spare'] },
      replacementLaunched: 'i-0123456789abcdef0',
    });
    expect(first.output.inventory?.hosts.map((h) => h.name)).toEqual([...inventory.hosts.map((h) => h.name), 'etcd-new-0']);
    expect(first.detail).toMatch(/^launched etcd-new-0 .*i-0123456789abcdef0/);

    const again = await ProvisionReplacement({ ...context, ...first.output }, deps);
    expect(again).toMatchObject({ skipped: true });
    expect(again.detail).toMatch(/^found etcd-new-0/);
    expect(again.output.inventory?.hosts.filter((h) => h.name === 'etcd-new-0')).toHaveLength(1);
  });

  it("refuses a launched host that has the IP or hostname of one of the cluster's hosts", async () => {
    const { deps, context } = setUp({ host: host('etcd-new-0', '198.51.100.3', ['spare']), id: 'etcd-new-0' });
    await expect(ProvisionReplacement(context, deps)).rejects.toMatchObject({ name: 'ProvisioningError', message: expect.stringMatching(/master-1/) });
  });
});
