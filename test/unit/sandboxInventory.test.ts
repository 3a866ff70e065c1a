// The sandbox's inventory (sandbox/adapters/deps.ts, inventoryOfSandbox): a host `up` built as
// a spare, or a run launched, that is a member now by any identity is an etcd host and no longer in the
// spare pool, as AWS enrols a run's new member with the etcd role; every other host keeps its roles.
// When no etcd answers a member list, what the sandbox's succeeded runs changed, oldest first, says which
// hosts hold members (statemachine/membershipChanges.ts), as AWS's tags do.

import { describe, expect, it } from 'vitest';
import { inventoryOfSandbox } from '../../sandbox/adapters/deps.ts';
import type { EtcdMember, Host } from '../../functions/ports.ts';
import type { MembershipChanges } from '../../statemachine/membershipChanges.ts';
import type { SandboxHost, SandboxInfo } from '../../sandbox/index.ts';

const sandboxHost = (name: string, ip: string, roles: SandboxHost['roles']): SandboxHost => ({
  name,
  hostname: `${name}.sandbox.test`,
  ip,
  roles,
  netns: `er-lab-${name}`,
  up: true,
  state: 'running',
});
const sandbox = {
  name: 'lab',
  hosts: [
    sandboxHost('master-0', '198.51.100.2', ['master', 'etcd', 'ca', 'installer']),
    sandboxHost('master-1', '198.51.100.3', ['master', 'etcd']),
    sandboxHost('master-2', '198.51.100.4', ['master', 'etcd']),
    sandboxHost('etcd-spare-0', '198.51.100.5', ['spare']),
    sandboxHost('etcd-spare-1', '198.51.100.6', ['spare']),
    sandboxHost('node-0', '198.51.100.7', ['node']),
  ],
} as unknown as SandboxInfo;
const member = (id: string, name: string, ip: string): EtcdMember => ({
  id,
  name,
  peerURLs: [`https://${ip}:2380`],
  clientURLs: name ? [`https://${ip}:2379`] : [],
  isLearner: false,
});
const rolesOf = (members: EtcdMember[]) => Object.fromEntries(inventoryOfSandbox(sandbox, members).hosts.map((h) => [h.name, h.roles]));

describe('Function: inventoryOfSandbox', () => {
  it("keeps sandbox.json's roles when no member list is given", () => {
    expect(rolesOf([])).toMatchObject({ 'etcd-spare-0': ['spare'], 'etcd-spare-1': ['spare'], 'master-2': ['master', 'etcd'] });
  });

  it('counts a spare that is a member an etcd host, by name, by peer URL, or added and not started yet', () => {
    const started = [member('a0', 'master-0.sandbox.test', '198.51.100.2'), member('b0', 'etcd-spare-0.sandbox.test', '198.51.100.5')];
    expect(rolesOf(started)).toMatchObject({ 'etcd-spare-0': ['etcd'], 'etcd-spare-1': ['spare'], 'node-0': ['node'] });
    expect(rolesOf([member('b1', '', '198.51.100.6')])).toMatchObject({ 'etcd-spare-0': ['spare'], 'etcd-spare-1': ['etcd'] });
  });

  it('never changes a host that is no spare: a removed master keeps its roles', () => {
    expect(rolesOf([member('a0', 'master-0.sandbox.test', '198.51.100.2')])).toMatchObject({
      'master-1': ['master', 'etcd'],
      'master-2': ['master', 'etcd'],
      'node-0': ['node'],
    });
  });
});

describe('Function: inventoryOfSandbox, with no member list, from what succeeded runs changed', () => {
  const host = (name: string): Host => sandbox.hosts.find((h) => h.name === name)!;
  const change = (left: string[], joined: string[]): MembershipChanges => ({ left: left.map(host), joined: joined.map(host) });
  const recorded = (changes: MembershipChanges[], members: EtcdMember[] = []) =>
    Object.fromEntries(inventoryOfSandbox(sandbox, members, changes).hosts.map((h) => [h.name, h.roles]));

  it('a spare a run added a member on is an etcd host; a master whose member a run replaced is no etcd host, still a master', () => {
    expect(recorded([change(['master-2'], ['etcd-spare-0'])])).toMatchObject({
      'master-2': ['master'],
      'etcd-spare-0': ['etcd'],
      'etcd-spare-1': ['spare'],
      'master-0': ['master', 'etcd', 'ca', 'installer'],
    });
  });

  it('applies the runs in order: a host replaced, then added again by a later run, is an etcd host; a former spare replaced is left out', () => {
    const roles = recorded([change(['master-2'], ['etcd-spare-0']), change(['etcd-spare-0'], ['master-2', 'etcd-spare-1'])]);
    expect(roles).toMatchObject({ 'master-2': ['master', 'etcd'], 'etcd-spare-1': ['etcd'] });
    // etcd-spare-0, a spare made a member and then replaced, has no role left: it is no host of the cluster.
    expect(roles).not.toHaveProperty('etcd-spare-0');
  });

  it('a member list, when one answers, decides alone: the records are not read into it', () => {
    const roles = recorded([change(['master-2'], ['etcd-spare-0'])], [member('a0', 'master-0.sandbox.test', '198.51.100.2')]);
    expect(roles).toMatchObject({ 'master-2': ['master', 'etcd'], 'etcd-spare-0': ['spare'] });
  });
});
