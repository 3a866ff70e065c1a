// One EtcdClusterPort contract, two adapters, one real sandbox: etcdctl run on the members through
// the sandbox host runner, and the etcd3 client from the machine with the sandbox's client identity.

import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { etcd3Factory } from '../../functions/adapters/etcd3Client.ts';
import { EtcdctlMembership, etcdctlFactory } from '../../functions/adapters/etcdctl.ts';
import { SandboxHostRunner } from '../../functions/adapters/sandbox/hostRunner.ts';
import { HostUnreachableError, InvalidInputError } from '../../functions/errors.ts';
import type { EtcdClusterFactory } from '../../functions/ports.ts';
import { defaultEtcdVersion, failHost, sandboxDown, sandboxUp, type SandboxInfo } from '../../sandbox/index.ts';
import { etcdMembershipContract, viewWithFailedMemberContract } from '../support/etcdMembershipContract.ts';

const name = `t-memb-${randomBytes(3).toString('hex')}`;
let sandbox: SandboxInfo | undefined;

beforeAll(async () => {
  sandbox = await sandboxUp({ name, members: 3, spares: 1, nodes: 0, dataMb: 1 });
});

afterAll(async () => {
  await sandboxDown(name);
});

const adapters: Array<[string, (s: SandboxInfo) => EtcdClusterFactory]> = [
  ['etcdctl on the members through the host runner', (s) => etcdctlFactory(new SandboxHostRunner(s), s.hosts.filter((h) => h.roles.includes('etcd')))],
  ['etcd3 client over TLS', (s) => etcd3Factory(s.client)],
];
/** The member the last part of this file fails: its etcd stopped, then its host powered off. */
const FAILED = 'master-2';
/**
 * What etcdctl's observe says of a powered-off member's endpoint without waiting for etcdctl's timeout:
 * the survivors report their raft connection to it broken (or, once ARP gave up, no route).
 */
const POWERED_OFF_IN_VIEW: Record<string, RegExp> = {
  'etcdctl on the members through the host runner': defaultEtcdVersion().version.startsWith('3.2.')
    ? // etcd 3.2 publishes no etcd_network_active_peers: etcdctl's own timeout tells, unless ARP already gave up.
      /^no route to host \(TCP probe\)$|context deadline exceeded/
    : /^member [0-9a-f]{16}: 2 surviving member\(s\) report their peer connection to it inactive|^no route to host \(TCP probe\)$/,
};
/** What each adapter says of an endpoint where nothing listens. */
const REFUSED: Record<string, RegExp> = {
  'etcdctl on the members through the host runner': /^connection refused \(TCP probe\)$/,
  'etcd3 client over TLS': /ECONNREFUSED/,
};

describe.each(adapters)('EtcdClusterPort contract: %s', (_label, factory) => {
  etcdMembershipContract({
    sandbox: () => {
      if (!sandbox) throw new Error('the sandbox did not come up');
      return sandbox;
    },
    factory,
  });
});

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

// Last: these break FAILED for good.
describe('EtcdClusterPort with one member down', () => {
  const context = (factory: (s: SandboxInfo) => EtcdClusterFactory, downError: RegExp, viewDownError?: RegExp) => ({
    sandbox: () => {
      if (!sandbox) throw new Error('the sandbox did not come up');
      return sandbox;
    },
    factory,
    downError,
    ...(viewDownError ? { viewDownError } : {}),
    failed: () => {
      const host = sandbox?.hosts.find((h) => h.name === FAILED);
      if (!host) throw new Error(`the sandbox lacks ${FAILED}`);
      return `https://${host.ip}:2379`;
    },
  });

  describe('its etcd stopped (nothing listens on its client port)', () => {
    beforeAll(async () => {
      await failHost(name, FAILED, 'etcd');
    });
    describe.each(adapters)('%s', (label, factory) => {
      viewWithFailedMemberContract(context(factory, REFUSED[label] ?? /refused/i));
    });
  });

  describe('its host powered off', () => {
    beforeAll(async () => {
      await failHost(name, FAILED, 'kill');
    });
    describe.each(adapters)('%s', (label, factory) => {
      viewWithFailedMemberContract(context(factory, /\S/, POWERED_OFF_IN_VIEW[label]));
    });
  });
});
