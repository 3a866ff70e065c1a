import { mockClient } from 'aws-sdk-client-mock';
import { DescribeInstancesCommand, EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { beforeEach, describe, expect, it } from 'vitest';
import { Ec2Discovery, parseRoles } from '../../functions/adapters/aws/discovery.ts';
import { InvalidInputError } from '../../functions/errors.ts';
import type { Inventory } from '../../functions/ports.ts';

const ec2Mock = mockClient(EC2Client);
const ec2 = new EC2Client({ region: 'eu-west-1' });
const CLUSTER_TAG = 'KubernetesCluster';

function instance(id: string, ip: string, roles: string | undefined, extra: Partial<Instance> & { tags?: Record<string, string> } = {}): Instance {
  const { tags = {}, ...rest } = extra;
  const last = ip.split('.').pop();
  return {
    InstanceId: id,
    PrivateIpAddress: ip,
    PrivateDnsName: `ip-10-0-1-${last}.eu-west-1.compute.internal`,
    State: { Name: 'running' },
    Tags: Object.entries({ [CLUSTER_TAG]: 'prod-a', ...(roles !== undefined ? { 'openshift-role': roles } : {}), ...tags }).map(([Key, Value]) => ({ Key, Value })),
    ...rest,
  };
}

const M0 = instance('i-00000000000000000', '10.0.1.10', 'master,etcd,ca', { tags: { Name: 'master-0' } });
const M1 = instance('i-00000000000000001', '10.0.1.11', 'master,etcd', { tags: { Name: 'master-1' } });
const M2 = instance('i-00000000000000002', '10.0.1.12', 'master, etcd', { tags: { Name: 'master-2' }, State: { Name: 'stopped' } });
const INST = instance('i-00000000000000003', '10.0.1.13', 'installer', { tags: { Name: 'bastion', hostname: 'bastion.prod-a.example.com' } });
const N0 = instance('i-00000000000000004', '10.0.1.14', 'node');
const spare = (id: string, ip: string, launched: string, tags: Record<string, string> = {}): Instance => ({
  InstanceId: id,
  PrivateIpAddress: ip,
  PrivateDnsName: `ip-10-0-2-${ip.split('.').pop()}.eu-west-1.compute.internal`,
  State: { Name: 'running' },
  LaunchTime: new Date(launched),
  Tags: Object.entries({ 'etcd-replace-spare': 'prod-a', ...tags }).map(([Key, Value]) => ({ Key, Value })),
});
const S_LATE = spare('i-0000000000000000a', '10.0.2.20', '2029-06-01T00:00:00Z', { Name: 'etcd-spare-1' });
const S_EARLY_B = spare('i-0000000000000000c', '10.0.2.22', '2029-01-01T00:00:00Z');
const S_EARLY_A = spare('i-0000000000000000b', '10.0.2.21', '2029-01-01T00:00:00Z', { Name: 'etcd-spare-0' });

const memberFilter = {
  Filters: [
    { Name: `tag:${CLUSTER_TAG}`, Values: ['prod-a'] },
    { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'] },
  ],
};
const spareFilter = {
  Filters: [
    { Name: 'tag:etcd-replace-spare', Values: ['prod-a'] },
    { Name: 'instance-state-name', Values: ['running'] },
  ],
};

function cluster(members: Instance[], spares: Instance[] = [S_LATE, S_EARLY_B, S_EARLY_A]): void {
  ec2Mock.on(DescribeInstancesCommand, memberFilter).resolves({ Reservations: [{ Instances: members }] });
  ec2Mock.on(DescribeInstancesCommand, spareFilter).resolves({ Reservations: [{ Instances: spares }] });
}

const discovery = () => new Ec2Discovery({ ec2, clusterTagKey: CLUSTER_TAG });

beforeEach(() => {
  ec2Mock.reset();
});

describe('Function: parseRoles', () => {
  it('reads a comma list, trimming and deduplicating, and refuses unknown roles', () => {
    expect(parseRoles(' master, etcd ,ca,etcd', 'x')).toEqual(['master', 'etcd', 'ca']);
    expect(() => parseRoles('master,dba', 'x')).toThrow(/unknown role "dba"/);
    expect(() => parseRoles(' , ', 'x')).toThrow(/names no role/);
  });
});

describe('Class: Ec2Discovery', () => {
  describe('Method: discover', () => {
    it('builds hosts from tags and instance data, with the failed member and the first-launched spare', async () => {
      cluster([M0, M1, M2, INST, N0]);
      const found = await discovery().discover({ cluster: 'prod-a', failed: 'i-00000000000000002' });
      expect(ec2Mock.commandCalls(DescribeInstancesCommand).map((c) => c.args[0].input)).toEqual([memberFilter, spareFilter]);
      expect(found.cluster).toBe('prod-a');
      expect(found.hosts.map((h) => [h.name, h.hostname, h.ip, h.roles.join(','), h.instanceId])).toEqual([
        ['master-0', 'ip-10-0-1-10.eu-west-1.compute.internal', '10.0.1.10', 'master,etcd,ca', 'i-00000000000000000'],
        ['master-1', 'ip-10-0-1-11.eu-west-1.compute.internal', '10.0.1.11', 'master,etcd', 'i-00000000000000001'],
        ['master-2', 'ip-10-0-1-12.eu-west-1.compute.internal', '10.0.1.12', 'master,etcd', 'i-00000000000000002'],
        ['bastion', 'bastion.prod-a.example.com', '10.0.1.13', 'installer', 'i-00000000000000003'],
        ['ip-10-0-1-14', 'ip-10-0-1-14.eu-west-1.compute.internal', '10.0.1.14', 'node', 'i-00000000000000004'],
        ['etcd-spare-0', 'ip-10-0-2-21.eu-west-1.compute.internal', '10.0.2.21', 'spare', 'i-0000000000000000b'],
        ['ip-10-0-2-22', 'ip-10-0-2-22.eu-west-1.compute.internal', '10.0.2.22', 'spare', 'i-0000000000000000c'],
        ['etcd-spare-1', 'ip-10-0-2-20.eu-west-1.compute.internal', '10.0.2.20', 'spare', 'i-0000000000000000a'],
      ]);
      expect(found.failedHost.name).toBe('master-2');
      // earliest launch time, then lowest instance id
      expect(found.replacement.instanceId).toBe('i-0000000000000000b');
    });

    it('leaves out an instance a run replaced (etcd-replace:replaced-by), member or spare, unless it is named as the failed one; an enrolled new member is a member, not a spare', async () => {
      const replaced = instance('i-0000000000000000e', '10.0.1.18', 'master,etcd', { tags: { Name: 'master-8', 'etcd-replace:replaced-by': 'r-earlier' }, State: { Name: 'stopped' } });
      const enrolled = instance('i-0000000000000000d', '10.0.2.23', 'etcd', { tags: { Name: 'etcd-new-0a1b2c3d', 'etcd-replace-spare': 'prod-a' } });
      const replacedSpare = spare('i-0000000000000001a', '10.0.2.24', '2028-01-01T00:00:00Z', { Name: 'etcd-spare-9', 'etcd-replace:replaced-by': 'r-earlier' });
      cluster([M0, M1, M2, INST, replaced, enrolled], [S_LATE, enrolled, replacedSpare]);
      const found = await discovery().discover({ cluster: 'prod-a', failed: 'master-2' });
      expect(found.hosts.map((h) => `${h.name}:${h.roles.join(',')}`)).toEqual(['master-0:master,etcd,ca', 'master-1:master,etcd', 'master-2:master,etcd', 'bastion:installer', 'etcd-new-0a1b2c3d:etcd', 'etcd-spare-1:spare']);
      expect(found.replacement.name).toBe('etcd-spare-1');
      const named = await discovery().discover({ cluster: 'prod-a', failed: 'i-0000000000000000e' });
      expect(named.failedHost).toMatchObject({ name: 'master-8', instanceId: 'i-0000000000000000e' });
    });

    it('finds the failed member by hostname, IP or name', async () => {
      cluster([M0, M1, M2, INST]);
      for (const failed of ['ip-10-0-1-11.eu-west-1.compute.internal', '10.0.1.11', 'master-1', 'MASTER-1']) {
        await expect(discovery().discover({ cluster: 'prod-a', failed })).resolves.toMatchObject({ failedHost: { instanceId: 'i-00000000000000001' } });
      }
    });

    it('follows NextToken pages', async () => {
      ec2Mock
        .on(DescribeInstancesCommand, memberFilter)
        .resolves({ Reservations: [{ Instances: [M0, M1] }], NextToken: 'page-2' })
        .on(DescribeInstancesCommand, { ...memberFilter, NextToken: 'page-2' })
        .resolves({ Reservations: [{ Instances: [M2] }, { Instances: [INST] }] })
        .on(DescribeInstancesCommand, spareFilter)
        .resolves({ Reservations: [{ Instances: [S_LATE] }] });
      const found = await discovery().discover({ cluster: 'prod-a', failed: 'master-2' });
      expect(found.hosts).toHaveLength(5);
      expect(found.replacement.name).toBe('etcd-spare-1');
    });

    it('finds a terminated failed member by instance id when it still carries the cluster tag', async () => {
      const gone = instance('i-0000000000000000f', '10.0.1.19', 'master,etcd', { tags: { Name: 'master-9' }, State: { Name: 'terminated' } });
      cluster([M0, M1, INST]);
      ec2Mock.on(DescribeInstancesCommand, { InstanceIds: ['i-0000000000000000f'] }).resolves({ Reservations: [{ Instances: [gone] }] });
      const found = await discovery().discover({ cluster: 'prod-a', failed: 'i-0000000000000000f' });
      expect(found.failedHost).toMatchObject({ name: 'master-9', ip: '10.0.1.19' });
    });

    it('refuses an instance id of another cluster', async () => {
      cluster([M0, M1, INST]);
      ec2Mock.on(DescribeInstancesCommand, { InstanceIds: ['i-0000000000000000f'] }).resolves({
        Reservations: [{ Instances: [{ ...M1, InstanceId: 'i-0000000000000000f', Tags: [{ Key: CLUSTER_TAG, Value: 'prod-b' }] }] }],
      });
      await expect(discovery().discover({ cluster: 'prod-a', failed: 'i-0000000000000000f' })).rejects.toThrow(
        'invalid failed: instance i-0000000000000000f is not tagged KubernetesCluster=prod-a',
      );
    });

    it('uses an explicit replacement from the spare pool, or any running non-member by instance id', async () => {
      cluster([M0, M1, M2, INST]);
      await expect(discovery().discover({ cluster: 'prod-a', failed: 'master-2', replacement: 'etcd-spare-1' })).resolves.toMatchObject({
        replacement: { instanceId: 'i-0000000000000000a', roles: ['spare'] },
      });
      const outsider = spare('i-0000000000000000e', '10.0.3.30', '2029-01-01T00:00:00Z', { Name: 'new-etcd' });
      ec2Mock.on(DescribeInstancesCommand, { InstanceIds: ['i-0000000000000000e'] }).resolves({ Reservations: [{ Instances: [outsider] }] });
      const found = await discovery().discover({ cluster: 'prod-a', failed: 'master-2', replacement: 'i-0000000000000000e' });
      expect(found.replacement).toMatchObject({ name: 'new-etcd', roles: ['spare'] });
      expect(found.hosts.map((h) => h.name)).toContain('new-etcd');
    });

    describe('errors', () => {
      it.each<[string, Instance[], Instance[], Record<string, string>, RegExp]>([
        ['no instance tagged', [], [], { failed: 'master-0' }, /no instance is tagged KubernetesCluster=prod-a/],
        [
          'a member without the role tag',
          [M0, M1, instance('i-00000000000000009', '10.0.1.19', undefined), INST],
          [],
          { failed: 'master-0' },
          /instance i-00000000000000009 has no openshift-role tag/,
        ],
        ['two CA hosts', [M0, { ...M1, Tags: [{ Key: CLUSTER_TAG, Value: 'prod-a' }, { Key: 'openshift-role', Value: 'master,etcd,ca' }, { Key: 'Name', Value: 'master-1' }] }, INST], [], { failed: 'master-0' }, /expected exactly one instance with role ca in tag openshift-role, found 2: i-00000000000000000 \(master-0\), i-00000000000000001 \(master-1\)/],
        ['no installer', [M0, M1], [], { failed: 'master-0' }, /exactly one instance with role installer .* found 0/],
        ['no etcd member', [instance('i-00000000000000000', '10.0.1.10', 'master,ca'), INST], [], { failed: 'master-0' }, /no instance has role etcd/],
        ['an unknown role', [instance('i-00000000000000000', '10.0.1.10', 'master,etcd,ca,dba'), INST], [], { failed: 'x' }, /unknown role "dba"/],
        ['a failed member nobody matches', [M0, M1, INST], [S_LATE], { failed: 'master-7' }, /no member of cluster prod-a is "master-7"/],
        [
          'a name that could mean two members (caught before matching the failed one)',
          [M0, { ...M1, Tags: [...(M1.Tags ?? []).filter((t) => t.Key !== 'Name'), { Key: 'hostname', Value: 'master-0.prod-a.example.com' }] }, instance('i-00000000000000005', '10.0.1.15', 'master', { tags: { Name: 'master-0x', hostname: 'master-0' } }), INST],
          [S_LATE],
          { failed: 'master-0' },
          /cluster prod-a: i-00000000000000000 \(master-0\), i-00000000000000001 \(master-0\) share "master-0"/,
        ],
        ['a failed host that is not an etcd member', [M0, M1, INST], [S_LATE], { failed: 'bastion' }, /bastion is not an etcd member/],
        ['an empty spare pool', [M0, M1, INST], [], { failed: 'master-1' }, /no running instance is tagged etcd-replace-spare=prod-a \(the spare pool is empty\)/],
        ['a replacement that is a member', [M0, M1, INST], [S_LATE], { failed: 'master-1', replacement: 'master-0' }, /master-0 is already a member of cluster prod-a, not a spare/],
        ['a replacement nobody matches', [M0, M1, INST], [S_LATE], { failed: 'master-1', replacement: 'etcd-spare-9' }, /no spare of cluster prod-a is "etcd-spare-9"/],
        ['a member without a private IP', [M0, { ...M1, PrivateIpAddress: undefined }, INST], [], { failed: 'master-0' }, /i-00000000000000001 \(running\) has no private IP address; pass an explicit inventory/],
        ['two hosts sharing an IP', [M0, { ...M1, PrivateIpAddress: '10.0.1.10' }, INST], [], { failed: 'master-0' }, /share "10.0.1.10"/],
      ])('refuses %s with InvalidInputError', async (_what, members, spares, request, message) => {
        cluster(members, spares);
        const error = await discovery().discover({ cluster: 'prod-a', failed: '', ...request }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(InvalidInputError);
        expect((error as Error).message).toMatch(message);
      });

      it('refuses an explicit replacement instance that is not running', async () => {
        cluster([M0, M1, INST]);
        ec2Mock.on(DescribeInstancesCommand, { InstanceIds: ['i-0000000000000000e'] }).resolves({
          Reservations: [{ Instances: [{ ...S_LATE, InstanceId: 'i-0000000000000000e', State: { Name: 'stopped' } }] }],
        });
        await expect(discovery().discover({ cluster: 'prod-a', failed: 'master-1', replacement: 'i-0000000000000000e' })).rejects.toThrow(/is stopped, not running/);
      });

      it('needs a failed member and a valid cluster name', async () => {
        await expect(discovery().discover({ cluster: 'prod-a', failed: ' ' })).rejects.toThrow(InvalidInputError);
        await expect(discovery().discover({ cluster: 'prod a', failed: 'x' })).rejects.toThrow(InvalidInputError);
        expect(ec2Mock.commandCalls(DescribeInstancesCommand)).toHaveLength(0);
      });
    });

    describe('explicit inventory', () => {
      const inventory: Inventory = {
        cluster: 'prod-a',
        hosts: [
          { name: 'master-0', hostname: 'master-0.example.com', ip: '10.0.1.10', roles: ['master', 'etcd', 'ca', 'installer'], instanceId: 'i-00000000000000000' },
          { name: 'master-1', hostname: 'master-1.example.com', ip: '10.0.1.11', roles: ['master', 'etcd'] },
          { name: 'spare-0', hostname: 'spare-0.example.com', ip: '10.0.2.20', roles: ['spare'] },
        ],
      };

      it('overrides discovery: no EC2 call', async () => {
        const found = await discovery().discover({ cluster: 'prod-a', failed: 'master-1', inventory });
        expect(found.failedHost.name).toBe('master-1');
        expect(found.replacement.name).toBe('spare-0');
        expect(found.hosts).toEqual(inventory.hosts);
        expect(ec2Mock.commandCalls(DescribeInstancesCommand)).toHaveLength(0);
      });

      it('is validated like discovered hosts', async () => {
        const bad = (change: object) => ({ ...inventory, hosts: [{ ...inventory.hosts[0], ...change } as never, ...inventory.hosts.slice(1)] });
        await expect(discovery().discover({ cluster: 'prod-a', failed: 'master-1', inventory: bad({ ip: '10.0.1.1; id' }) })).rejects.toThrow(InvalidInputError);
        await expect(discovery().discover({ cluster: 'prod-a', failed: 'master-1', inventory: bad({ roles: ['root'] }) })).rejects.toThrow(/unknown role "root"/);
        await expect(discovery().discover({ cluster: 'prod-b', failed: 'master-1', inventory })).rejects.toThrow(/not the requested cluster prod-b/);
        await expect(discovery().discover({ cluster: 'prod-a', failed: 'master-1', inventory: { ...inventory, hosts: inventory.hosts.slice(1) } })).rejects.toThrow(
          /exactly one instance with role ca/,
        );
      });
    });
  });

  describe('Method: forRequest', () => {
    it('lists spares in pool order, so the first spare is the one discover() would choose', async () => {
      cluster([M0, M1, M2, INST]);
      const inventory = await discovery().forRequest({ cluster: 'prod-a', failed: 'master-2' });
      expect(inventory.hosts.filter((h) => h.roles.includes('spare')).map((h) => h.instanceId)).toEqual(['i-0000000000000000b', 'i-0000000000000000c', 'i-0000000000000000a']);
      const chosen = await discovery().discover({ cluster: 'prod-a', failed: 'master-2' });
      expect(chosen.replacement.instanceId).toBe('i-0000000000000000b');
    });

    it('adds a replacement named by the instance id of a running non-member, and leaves other names to ValidateInput', async () => {
      cluster([M0, M1, M2, INST]);
      const outsider = spare('i-0000000000000000e', '10.0.3.30', '2029-01-01T00:00:00Z', { Name: 'new-etcd' });
      ec2Mock.on(DescribeInstancesCommand, { InstanceIds: ['i-0000000000000000e'] }).resolves({ Reservations: [{ Instances: [outsider] }] });
      const withOutsider = await discovery().forRequest({ cluster: 'prod-a', failed: 'master-2', replacement: 'i-0000000000000000e' });
      expect(withOutsider.hosts.find((h) => h.instanceId === 'i-0000000000000000e')).toMatchObject({ name: 'new-etcd', roles: ['spare'] });
      const calls = ec2Mock.commandCalls(DescribeInstancesCommand).length;
      const named = await discovery().forRequest({ cluster: 'prod-a', failed: 'master-2', replacement: 'etcd-spare-9' });
      expect(named.hosts).toHaveLength(7);
      expect(ec2Mock.commandCalls(DescribeInstancesCommand).length - calls).toBe(2);
      const before = ec2Mock.commandCalls(DescribeInstancesCommand).length;
      const pooled = await discovery().forRequest({ cluster: 'prod-a', failed: 'master-2', replacement: 'i-0000000000000000a' });
      expect(pooled.hosts.filter((h) => h.instanceId === 'i-0000000000000000a')).toHaveLength(1);
      expect(ec2Mock.commandCalls(DescribeInstancesCommand).length - before).toBe(2);
    });
  });

  describe('Method: inventory', () => {
    it('lists members and running spares without needing a failed member', async () => {
      cluster([M0, M1, INST], [S_LATE]);
      const inventory = await discovery().inventory({ cluster: 'prod-a' });
      expect(inventory.hosts.map((h) => h.name)).toEqual(['master-0', 'master-1', 'bastion', 'etcd-spare-1']);
    });

    it('uses configured tag keys', async () => {
      const d = new Ec2Discovery({ ec2, clusterTagKey: 'cluster', spareTagKey: 'spare-for', roleTagKey: 'roles', hostnameTagKey: 'fqdn' });
      ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
      await expect(d.inventory({ cluster: 'prod-a' })).rejects.toThrow(/no instance is tagged cluster=prod-a/);
      expect(ec2Mock.commandCalls(DescribeInstancesCommand)[0]?.args[0].input.Filters?.[0]).toEqual({ Name: 'tag:cluster', Values: ['prod-a'] });
      expect(() => new Ec2Discovery({ ec2, clusterTagKey: 'bad\nkey' })).toThrow(InvalidInputError);
    });
  });
});
