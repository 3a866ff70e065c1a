// TerminateLaunchedHost over the fake cluster and a fake provisioning port: a run that launched no host,
// or that succeeded, terminates nothing; a run that did not succeed terminates the host it launched
// while no member is on it; a member on it (joined, or left by compensation), an unreadable member
// list or a failed termination keeps the host and says so in `remaining`.

import { describe, expect, it } from 'vitest';
import type { ProvisionedHost, ProvisioningPort } from '../../../functions/ports.ts';
import { TerminateLaunchedHost } from '../../../functions/steps/TerminateLaunchedHost.ts';
import type { WorkflowContext } from '../../../statemachine/context.ts';
import { FakeCluster, fakeDeps, fakeMember, host, threeMembers, unitInventory, validatedContext } from '../../support/fakeCluster.ts';

const NEW_HOST = { ...host('etcd-new-0', '198.51.100.30', ['spare']), instanceId: 'i-0123456789abcdef0' };
const FAILURE = { Error: 'NewMemberFailedError', Cause: 'etcd did not start' };

class FakeProvisioning implements ProvisioningPort {
  readonly released: Array<[string, string]> = [];
  constructor(private readonly fails = false) {}
  async find(): Promise<ProvisionedHost | null> {
    return null;
  }
  async provision(): Promise<ProvisionedHost> {
    throw new Error('TerminateLaunchedHost never launches');
  }
  async release(runId: string, cluster: string): Promise<'released' | 'absent'> {
    if (this.fails) throw new Error('UnauthorizedOperation');
    this.released.push([runId, cluster]);
    return this.released.length === 1 ? 'released' : 'absent';
  }
}

function setUp(options: { members?: ReturnType<typeof threeMembers>; fails?: boolean; context?: Partial<WorkflowContext>; listFails?: boolean } = {}) {
  const inventory = { ...unitInventory(), hosts: [...unitInventory().hosts, NEW_HOST] };
  const cluster = new FakeCluster(options.members ?? threeMembers(['master-2']).filter((m) => !m.name.startsWith('master-2')));
  if (options.listFails) cluster.memberList = () => Promise.reject(new Error('context deadline exceeded'));
  const provisioning = new FakeProvisioning(options.fails);
  const deps = { ...fakeDeps(cluster), provisioning };
  const context = validatedContext(inventory, 'master-2', 'etcd-new-0', {
    replacementChoice: 'launched',
    replacementLaunched: 'i-0123456789abcdef0',
    error: FAILURE,
    remaining: ['earlier'],
    ...options.context,
  });
  return { provisioning, deps, context };
}

describe('Step: TerminateLaunchedHost', () => {
  it('terminates nothing when the run launched no host, or succeeded', async () => {
    const none = setUp({ context: { replacementLaunched: undefined } });
    delete none.context.replacementLaunched;
    expect(await TerminateLaunchedHost(none.context, none.deps)).toMatchObject({ skipped: true, detail: 'this run launched no host' });
    const succeeded = setUp();
    delete succeeded.context.error;
    expect(await TerminateLaunchedHost(succeeded.context, succeeded.deps)).toMatchObject({
      skipped: true,
      detail: expect.stringMatching(/new member's host: kept/),
    });
    expect([...none.provisioning.released, ...succeeded.provisioning.released]).toEqual([]);
  });

  it('terminates the launched host of a run that did not succeed when no member is on it; a second time it is gone already', async () => {
    const { provisioning, deps, context } = setUp();
    const first = await TerminateLaunchedHost(context, deps);
    expect(provisioning.released).toEqual([[context.runId, 'unit']]);
    expect(first).toMatchObject({ output: {}, detail: expect.stringMatching(/^terminated etcd-new-0 \(i-0123456789abcdef0\)/) });
    expect(first.skipped).toBeUndefined();
    expect(await TerminateLaunchedHost(context, deps)).toMatchObject({ skipped: true, detail: expect.stringMatching(/gone already/) });
  });

  it('keeps the host while a member is on it: one that joined, or an unstarted one compensation could not remove', async () => {
    for (const member of [fakeMember(0xb0, 'etcd-new-0', '198.51.100.30', true), fakeMember(0xb0, '', '198.51.100.30', false)]) {
      const { provisioning, deps, context } = setUp({ members: [...threeMembers(['master-2']).slice(0, 2), member] });
      const result = await TerminateLaunchedHost(context, deps);
      expect(result).toMatchObject({ skipped: true, detail: expect.stringMatching(/kept etcd-new-0 .*member 00000000000000b0/) });
      expect(provisioning.released).toEqual([]);
    }
  });

  it('keeps the host and names it in remaining when the member list cannot be read or the termination fails', async () => {
    const unread = setUp({ listFails: true });
    const kept = await TerminateLaunchedHost(unread.context, unread.deps);
    expect(unread.provisioning.released).toEqual([]);
    expect(kept.output.remaining).toEqual([
      'earlier',
      expect.stringMatching(/etcd-new-0 \(i-0123456789abcdef0\) was launched by this run and is kept: the member list could not be read/),
    ]);
    const refused = setUp({ fails: true });
    const failed = await TerminateLaunchedHost(refused.context, refused.deps);
    expect(failed.output.remaining).toEqual(['earlier', expect.stringMatching(/could not be terminated \(UnauthorizedOperation\): terminate it by hand/)]);
  });
});
