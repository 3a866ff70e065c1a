// One EtcdClusterPort contract, two adapters, one real sandbox: etcdctl run on the members through
// the sandbox host runner, and the etcd3 client from the machine with the sandbox's client identity.
// The same contract runs on etcd 3.4 (learners) in test/sandbox/learner/.

import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { EtcdctlMembership } from '../../functions/adapters/etcdctl.ts';
import { SandboxHostRunner } from '../../sandbox/adapters/hostRunner.ts';
import { HostUnreachableError, InvalidInputError } from '../../functions/errors.ts';
import { failHost, sandboxDown, sandboxUp, type SandboxInfo } from '../../sandbox/index.ts';
import { adaptersContract, memberDownContract } from '../support/etcdMembershipContract.ts';

const name = `t-memb-${randomBytes(3).toString('hex')}`;
let sandbox: SandboxInfo | undefined;

beforeAll(async () => {
  sandbox = await sandboxUp({ name, members: 3, spares: 1, nodes: 0, dataMb: 1 });
});

afterAll(async () => {
  await sandboxDown(name);
});

const current = (): SandboxInfo => {
  if (!sandbox) throw new Error('the sandbox did not come up');
  return sandbox;
};

adaptersContract(current);

// After the contract (it powers off the spare host, which the contract only names in a peer URL).
describe('Class: EtcdctlMembership on the sandbox', () => {
  const hosts = () => {
    if (!sandbox) throw new Error('the sandbox did not come up');
    const spare = sandbox.hosts.find((h) => h.roles.includes('spare'));
    const master = sandbox.hosts.find((h) => h.name === 'master-1');
    if (!spare || !master) throw new Error('the sandbox lacks a spare or master-1');
    return { sandbox, spare, master };
  };

  it('runs etcdctl on the first reachable via host, skipping powered-off ones', async () => {
    const { sandbox: s, spare, master } = hosts();
    await failHost(name, spare.name, 'kill');
    const etcd = new EtcdctlMembership(new SandboxHostRunner(s), [spare, master], s.client.endpoints);
    expect(await etcd.memberList()).toHaveLength(3);
  });

  it('throws HostUnreachableError when no via host can run anything', async () => {
    const { sandbox: s, spare } = hosts();
    const etcd = new EtcdctlMembership(new SandboxHostRunner(s), [spare], s.client.endpoints);
    const error = await etcd.memberList().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HostUnreachableError);
    expect((error as Error).message).toContain(spare.name);
  });

  it('refuses a peer URL off the peer port before running anything', async () => {
    const { sandbox: s, master } = hosts();
    const etcd = new EtcdctlMembership(new SandboxHostRunner(s), [master], s.client.endpoints);
    await expect(etcd.addMember(`https://${master.ip}:2379`, { learner: true })).rejects.toThrow(InvalidInputError);
    await expect(etcd.removeMember('$(reboot)')).rejects.toThrow(InvalidInputError);
    expect(await etcd.memberList()).toHaveLength(3);
  });
});

// Last: these break master-2 for good.
memberDownContract(current, 'master-2');
