// One EtcdClusterPort contract, two adapters, one real sandbox: etcdctl run on the members through
// the sandbox host runner, and the etcd3 client from the machine with the sandbox's client identity.

import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe } from 'vitest';

import { etcd3Factory } from '../../functions/adapters/etcd3Client.ts';
import { etcdctlFactory } from '../../functions/adapters/etcdctl.ts';
import { SandboxHostRunner } from '../../functions/adapters/sandbox/hostRunner.ts';
import type { EtcdClusterFactory } from '../../functions/ports.ts';
import { sandboxDown, sandboxUp, type SandboxInfo } from '../../sandbox/index.ts';
import { etcdMembershipContract } from '../support/etcdMembershipContract.ts';

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

describe.each(adapters)('EtcdClusterPort contract: %s', (_label, factory) => {
  etcdMembershipContract({
    sandbox: () => {
      if (!sandbox) throw new Error('the sandbox did not come up');
      return sandbox;
    },
    factory,
  });
});
