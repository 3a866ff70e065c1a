// observe() against a fake cluster: one view (member list and status together) per observation, for
// the endpoints the run knows before the list; a status call only for a member it did not know of;
// members assumed down never asked.

import { describe, expect, it } from 'vitest';
import { observe } from '../../functions/cluster/observe.ts';
import { FakeCluster, fakeDeps, fakeMember as member, memberId as ID, threeMembers, unitInventory, validatedContext } from '../support/fakeCluster.ts';

const url = (ip: string) => `https://${ip}:2379`;
const inventory = unitInventory();
const three = () => threeMembers(['master-2']);
const ref = (n: number, name: string, ip: string) => ({ id: ID(n), name: `${name}.example.test`, peerURL: `https://${ip}:2380`, clientURL: url(ip) });

describe('observe', () => {
  it('asks the member list and every [etcd] host status in one view, and nothing else', async () => {
    const cluster = new FakeCluster(three());
    const seen = await observe(validatedContext(inventory, 'master-2', 'etcd-spare-0'), fakeDeps(cluster));
    expect(cluster.calls).toEqual([`view ${['198.51.100.2', '198.51.100.3', '198.51.100.4'].map(url).join(',')}`]);
    expect(seen.health.map((h) => [h.id, h.healthy])).toEqual([
      [ID(0xa0), true],
      [ID(0xa1), true],
      [ID(0xa2), false],
    ]);
    expect(seen.leaderIds).toEqual([ID(0xa0)]);
    expect([...seen.statuses.keys()]).toEqual(['198.51.100.2', '198.51.100.3', '198.51.100.4'].map(url));
  });

  it('asks a member the run did not know of with a second status call', async () => {
    const cluster = new FakeCluster([...three(), member(0xa3, 'master-3', '198.51.100.5', true)]);
    const seen = await observe(validatedContext(inventory, 'master-2', 'etcd-spare-0'), fakeDeps(cluster));
    expect(cluster.calls).toHaveLength(2);
    expect(cluster.calls[1]).toBe(`status ${url('198.51.100.5')}`);
    expect(seen.health.find((h) => h.id === ID(0xa3))?.healthy).toBe(true);
    expect([...seen.statuses.keys()]).toEqual(['198.51.100.2', '198.51.100.3', '198.51.100.4', '198.51.100.5'].map(url));
  });

  it('asks the replacement in the view once it was added', async () => {
    const spare = member(0xb0, 'etcd-spare-0', '198.51.100.9', true);
    const cluster = new FakeCluster([...three(), spare]);
    const context = validatedContext(inventory, 'master-2', 'etcd-spare-0', { memberAdded: true, newMemberId: ID(0xb0) });
    await observe(context, fakeDeps(cluster));
    expect(cluster.calls).toEqual([`view ${['198.51.100.2', '198.51.100.3', '198.51.100.4', '198.51.100.9'].map(url).join(',')}`]);
  });

  it('never asks a member assumed down', async () => {
    const cluster = new FakeCluster(three());
    const context = validatedContext(inventory, 'master-2', 'etcd-spare-0', {
      failedMember: ref(0xa2, 'master-2', '198.51.100.4'),
      survivors: [ref(0xa0, 'master-0', '198.51.100.2'), ref(0xa1, 'master-1', '198.51.100.3')],
    });
    const seen = await observe(context, fakeDeps(cluster), { assumeDown: [ID(0xa2)] });
    expect(cluster.calls).toEqual([`view ${['198.51.100.2', '198.51.100.3'].map(url).join(',')}`]);
    expect(seen.health.find((h) => h.id === ID(0xa2))?.healthy).toBe(false);
    expect(seen.statuses.has(url('198.51.100.4'))).toBe(false);
  });

  it('asks only members known by ID first when one assumed down is not known by URL', async () => {
    const cluster = new FakeCluster(three());
    const context = validatedContext(inventory, 'master-2', 'etcd-spare-0', { survivors: [ref(0xa0, 'master-0', '198.51.100.2')] });
    await observe(context, fakeDeps(cluster), { assumeDown: [ID(0xa2)] });
    expect(cluster.calls).toEqual([`view ${url('198.51.100.2')}`, `status ${url('198.51.100.3')}`]);
  });
});
