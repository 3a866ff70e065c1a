import { mockClient } from 'aws-sdk-client-mock';
import { DescribeInstancesCommand, EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { beforeEach, describe, expect, it } from 'vitest';
import { Ec2Discovery, parseRoles } from '../../functions/adapters/aws/discovery.ts';
import { InvalidInputError } from '../../functions/errors.ts';
import type { Inventory } from '../../functions/ports.ts';
import { ValidateInput } from '../../functions/steps/ValidateInput.ts';
import type { StepDeps } from '../../functions/workflow/stepDeps.ts';
import type { ReplaceRequest } from '../../statemachine/context.ts';

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
    Tags: Object.entries({ [CLUSTER_TAG]: 'prod-a', ...(roles !== undefined ? { 'openshift-role': roles } : {}), ...tags }).map(([Key, Value]) => ({
      Key,
      Value,
    })),
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

/** ValidateInput over the inventory forRequest answers, as the AWS target wires them (StepDeps.resolveInventory). */
async function validated(request: Partial<ReplaceRequest>) {
  const deps = {
    now: () => new Date(),
    resolveInventory: (r: ReplaceRequest) =>
      discovery().forRequest({ cluster: r.cluster, failed: r.failed, ...(r.replacement !== undefined ? { replacement: r.replacement } : {}) }),
  } as unknown as StepDeps;
  const context = {
    runId: 'r-test-discovery',
    request: { cluster: 'prod-a', failed: 'master-2', startedBy: 'test', ...request },
    options: { graceSeconds: 1, learner: 'auto' as const },
  };
  return (await ValidateInput(context, deps)).output;
}

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
  describe('Method: inventory', () => {
    it('builds hosts from tags and instance data: members in any live state, then spares in pool order', async () => {
      cluster([M0, M1, M2, INST, N0]);
      const inventory = await discovery().inventory({ cluster: 'prod-a', failed: 'i-00000000000000002' });
      // The stopped failed member is a member already: no lookup by instance id.
      expect(ec2Mock.commandCalls(DescribeInstancesCommand).map((c) => c.args[0].input)).toEqual([memberFilter, spareFilter]);
      expect(inventory.cluster).toBe('prod-a');
      expect(inventory.hosts.map((h) => [h.name, h.hostname, h.ip, h.roles.join(','), h.instanceId])).toEqual([
        ['master-0', 'ip-10-0-1-10.eu-west-1.compute.internal', '10.0.1.10', 'master,etcd,ca', 'i-00000000000000000'],
        ['master-1', 'ip-10-0-1-11.eu-west-1.compute.internal', '10.0.1.11', 'master,etcd', 'i-00000000000000001'],
        ['master-2', 'ip-10-0-1-12.eu-west-1.compute.internal', '10.0.1.12', 'master,etcd', 'i-00000000000000002'],
        ['bastion', 'bastion.prod-a.example.com', '10.0.1.13', 'installer', 'i-00000000000000003'],
        ['ip-10-0-1-14', 'ip-10-0-1-14.eu-west-1.compute.internal', '10.0.1.14', 'node', 'i-00000000000000004'],
        // earliest launch time, then lowest instance id
        ['etcd-spare-0', 'ip-10-0-2-21.eu-west-1.compute.internal', '10.0.2.21', 'spare', 'i-0000000000000000b'],
        ['ip-10-0-2-22', 'ip-10-0-2-22.eu-west-1.compute.internal', '10.0.2.22', 'spare', 'i-0000000000000000c'],
        ['etcd-spare-1', 'ip-10-0-2-20.eu-west-1.compute.internal', '10.0.2.20', 'spare', 'i-0000000000000000a'],
      ]);
    });

    it('lists members and running spares without needing a failed member', async () => {
      cluster([M0, M1, INST], [S_LATE]);
      const inventory = await discovery().inventory({ cluster: 'prod-a' });
      expect(inventory.hosts.map((h) => h.name)).toEqual(['master-0', 'master-1', 'bastion', 'etcd-spare-1']);
    });

    it('leaves out an instance a run replaced (etcd-replace:replaced-by), member or spare, unless it is named as the failed one; an enrolled new member is a member, not a spare', async () => {
      const replaced = instance('i-0000000000000000e', '10.0.1.18', 'master,etcd', {
        tags: { Name: 'master-8', 'etcd-replace:replaced-by': 'r-earlier' },
        State: { Name: 'stopped' },
      });
      const enrolled = instance('i-0000000000000000d', '10.0.2.23', 'etcd', { tags: { Name: 'etcd-new-0a1b2c3d', 'etcd-replace-spare': 'prod-a' } });
      const replacedSpare = spare('i-0000000000000001a', '10.0.2.24', '2028-01-01T00:00:00Z', {
        Name: 'etcd-spare-9',
        'etcd-replace:replaced-by': 'r-earlier',
      });
      cluster([M0, M1, M2, INST, replaced, enrolled], [S_LATE, enrolled, replacedSpare]);
      const inventory = await discovery().inventory({ cluster: 'prod-a', failed: 'master-2' });
      expect(inventory.hosts.map((h) => `${h.name}:${h.roles.join(',')}`)).toEqual([
        'master-0:master,etcd,ca',
        'master-1:master,etcd',
        'master-2:master,etcd',
        'bastion:installer',
        'etcd-new-0a1b2c3d:etcd',
        'etcd-spare-1:spare',
      ]);
      const named = await discovery().inventory({ cluster: 'prod-a', failed: 'i-0000000000000000e' });
      expect(named.hosts.find((h) => h.instanceId === 'i-0000000000000000e')).toMatchObject({ name: 'master-8', roles: ['master', 'etcd'] });
      // Named as the failed one, the replaced instance is a member, not a spare: the pool is unchanged.
      expect(named.hosts.filter((h) => h.roles.includes('spare')).map((h) => h.name)).toEqual(['etcd-spare-1']);
    });

    it('follows NextToken pages', async () => {
      ec2Mock
        .on(DescribeInstancesCommand, memberFilter)
        .resolves({ Reservations: [{ Instances: [M0, M1] }], NextToken: 'page-2' })
        .on(DescribeInstancesCommand, { ...memberFilter, NextToken: 'page-2' })
        .resolves({ Reservations: [{ Instances: [M2] }, { Instances: [INST] }] })
        .on(DescribeInstancesCommand, spareFilter)
        .resolves({ Reservations: [{ Instances: [S_LATE] }] });
      const inventory = await discovery().inventory({ cluster: 'prod-a', failed: 'master-2' });
      expect(inventory.hosts.map((h) => h.name)).toEqual(['master-0', 'master-1', 'master-2', 'bastion', 'etcd-spare-1']);
      expect(ec2Mock.commandCalls(DescribeInstancesCommand)).toHaveLength(3);
    });

    it('includes a terminated failed member named by instance id when it still carries the cluster tag', async () => {
      const gone = instance('i-0000000000000000f', '10.0.1.19', 'master,etcd', { tags: { Name: 'master-9' }, State: { Name: 'terminated' } });
      cluster([M0, M1, INST]);
      ec2Mock.on(DescribeInstancesCommand, { InstanceIds: ['i-0000000000000000f'] }).resolves({ Reservations: [{ Instances: [gone] }] });
      const inventory = await discovery().inventory({ cluster: 'prod-a', failed: 'i-0000000000000000f' });
      expect(inventory.hosts.find((h) => h.instanceId === 'i-0000000000000000f')).toMatchObject({
        name: 'master-9',
        ip: '10.0.1.19',
        roles: ['master', 'etcd'],
      });
      expect(ec2Mock.commandCalls(DescribeInstancesCommand, { InstanceIds: ['i-0000000000000000f'] })).toHaveLength(1);
      // Named otherwise, a terminated instance is no member: no lookup, not in the inventory.
      ec2Mock.resetHistory();
      const byName = await discovery().inventory({ cluster: 'prod-a', failed: 'master-9' });
      expect(byName.hosts.map((h) => h.name)).not.toContain('master-9');
      expect(ec2Mock.commandCalls(DescribeInstancesCommand, { InstanceIds: ['i-0000000000000000f'] })).toHaveLength(0);
    });

    it('refuses a failed instance id of another cluster', async () => {
      cluster([M0, M1, INST]);
      ec2Mock.on(DescribeInstancesCommand, { InstanceIds: ['i-0000000000000000f'] }).resolves({
        Reservations: [{ Instances: [{ ...M1, InstanceId: 'i-0000000000000000f', Tags: [{ Key: CLUSTER_TAG, Value: 'prod-b' }] }] }],
      });
      await expect(discovery().inventory({ cluster: 'prod-a', failed: 'i-0000000000000000f' })).rejects.toThrow(
        'invalid failed: instance i-0000000000000000f is not tagged KubernetesCluster=prod-a',
      );
    });

    it('uses configured tag keys', async () => {
      const d = new Ec2Discovery({ ec2, clusterTagKey: 'cluster', spareTagKey: 'spare-for', roleTagKey: 'roles', hostnameTagKey: 'fqdn' });
      ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
      await expect(d.inventory({ cluster: 'prod-a' })).rejects.toThrow(/no instance is tagged cluster=prod-a/);
      expect(ec2Mock.commandCalls(DescribeInstancesCommand)[0]?.args[0].input.Filters?.[0]).toEqual({ Name: 'tag:cluster', Values: ['prod-a'] });
      expect(() => new Ec2Discovery({ ec2, clusterTagKey: 'bad\nkey' })).toThrow(InvalidInputError);
    });

    it('reads roles, hostname and spares from the configured tag keys', async () => {
      const d = new Ec2Discovery({ ec2, clusterTagKey: 'cluster', spareTagKey: 'spare-for', roleTagKey: 'roles', hostnameTagKey: 'fqdn' });
      const tagged = (id: string, ip: string, tags: Record<string, string>): Instance => ({
        InstanceId: id,
        PrivateIpAddress: ip,
        PrivateDnsName: `ip-${ip.replaceAll('.', '-')}.eu-west-1.compute.internal`,
        State: { Name: 'running' },
        Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
      });
      ec2Mock
        .on(DescribeInstancesCommand, { Filters: [{ Name: 'tag:cluster', Values: ['prod-a'] }, memberFilter.Filters[1]!] })
        .resolves({
          Reservations: [
            {
              Instances: [
                tagged('i-00000000000000000', '10.0.1.10', {
                  cluster: 'prod-a',
                  roles: 'master,etcd,ca,installer',
                  fqdn: 'm0.prod-a.example.com',
                  'openshift-role': 'node',
                }),
              ],
            },
          ],
        })
        .on(DescribeInstancesCommand, { Filters: [{ Name: 'tag:spare-for', Values: ['prod-a'] }, spareFilter.Filters[1]!] })
        .resolves({ Reservations: [{ Instances: [tagged('i-0000000000000000a', '10.0.2.20', { 'spare-for': 'prod-a' })] }] });
      const inventory = await d.inventory({ cluster: 'prod-a' });
      expect(inventory.hosts.map((h) => [h.name, h.hostname, h.roles.join(',')])).toEqual([
        ['m0', 'm0.prod-a.example.com', 'master,etcd,ca,installer'],
        ['ip-10-0-2-20', 'ip-10-0-2-20.eu-west-1.compute.internal', 'spare'],
      ]);
    });

    describe('errors', () => {
      it.each<[string, Instance[], Instance[], RegExp]>([
        ['no instance tagged', [], [], /no instance is tagged KubernetesCluster=prod-a/],
        [
          'a member without the role tag',
          [M0, M1, instance('i-00000000000000009', '10.0.1.19', undefined), INST],
          [],
          /instance i-00000000000000009 has no openshift-role tag/,
        ],
        [
          'two CA hosts',
          [
            M0,
            {
              ...M1,
              Tags: [
                { Key: CLUSTER_TAG, Value: 'prod-a' },
                { Key: 'openshift-role', Value: 'master,etcd,ca' },
                { Key: 'Name', Value: 'master-1' },
              ],
            },
            INST,
          ],
          [],
          /expected exactly one instance with role ca in tag openshift-role, found 2: i-00000000000000000 \(master-0\), i-00000000000000001 \(master-1\)/,
        ],
        ['no installer', [M0, M1], [], /exactly one instance with role installer .* found 0/],
        ['no etcd member', [instance('i-00000000000000000', '10.0.1.10', 'master,ca'), INST], [], /no instance has role etcd/],
        ['an unknown role', [instance('i-00000000000000000', '10.0.1.10', 'master,etcd,ca,dba'), INST], [], /unknown role "dba"/],
        [
          'a name that could mean two members',
          [
            M0,
            { ...M1, Tags: [...(M1.Tags ?? []).filter((t) => t.Key !== 'Name'), { Key: 'hostname', Value: 'master-0.prod-a.example.com' }] },
            instance('i-00000000000000005', '10.0.1.15', 'master', { tags: { Name: 'master-0x', hostname: 'master-0' } }),
            INST,
          ],
          [S_LATE],
          /cluster prod-a: i-00000000000000000 \(master-0\), i-00000000000000001 \(master-0\) share "master-0"/,
        ],
        [
          'a member without a private IP',
          [M0, { ...M1, PrivateIpAddress: undefined }, INST],
          [],
          /i-00000000000000001 \(running\) has no private IP address; pass an explicit inventory/,
        ],
        ['two hosts sharing an IP', [M0, { ...M1, PrivateIpAddress: '10.0.1.10' }, INST], [], /share "10.0.1.10"/],
        ["a spare sharing a member's IP", [M0, M1, INST], [{ ...S_LATE, PrivateIpAddress: '10.0.1.11' }], /share "10.0.1.11"/],
      ])('refuses %s with InvalidInputError', async (_what, members, spares, message) => {
        cluster(members, spares);
        const error = await discovery()
          .inventory({ cluster: 'prod-a', failed: 'master-0' })
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(InvalidInputError);
        expect((error as Error).message).toMatch(message);
      });

      it('needs a valid cluster name, before any EC2 call', async () => {
        await expect(discovery().inventory({ cluster: 'prod a', failed: 'master-0' })).rejects.toThrow(InvalidInputError);
        await expect(discovery().forRequest({ cluster: 'prod a', failed: 'master-0' })).rejects.toThrow(InvalidInputError);
        expect(ec2Mock.commandCalls(DescribeInstancesCommand)).toHaveLength(0);
      });
    });

    describe('explicit inventory', () => {
      const inventory: Inventory = {
        cluster: 'prod-a',
        hosts: [
          {
            name: 'master-0',
            hostname: 'master-0.example.com',
            ip: '10.0.1.10',
            roles: ['master', 'etcd', 'ca', 'installer'],
            instanceId: 'i-00000000000000000',
          },
          { name: 'master-1', hostname: 'master-1.example.com', ip: '10.0.1.11', roles: ['master', 'etcd'] },
          { name: 'spare-0', hostname: 'spare-0.example.com', ip: '10.0.2.20', roles: ['spare'] },
        ],
      };

      it('overrides discovery: no EC2 call, not even for a replacement named by instance id', async () => {
        await expect(discovery().inventory({ cluster: 'prod-a', failed: 'i-0000000000000000f', inventory })).resolves.toEqual(inventory);
        await expect(discovery().forRequest({ cluster: 'prod-a', failed: 'master-1', replacement: 'i-0000000000000000e', inventory })).resolves.toEqual(
          inventory,
        );
        expect(ec2Mock.commandCalls(DescribeInstancesCommand)).toHaveLength(0);
      });

      it('is validated like discovered hosts', async () => {
        const bad = (change: object) => ({ ...inventory, hosts: [{ ...inventory.hosts[0], ...change } as never, ...inventory.hosts.slice(1)] });
        await expect(discovery().inventory({ cluster: 'prod-a', failed: 'master-1', inventory: bad({ ip: '10.0.1.1; id' }) })).rejects.toThrow(
          InvalidInputError,
        );
        await expect(discovery().inventory({ cluster: 'prod-a', failed: 'master-1', inventory: bad({ roles: ['root'] }) })).rejects.toThrow(
          /unknown role "root"/,
        );
        await expect(discovery().inventory({ cluster: 'prod-b', failed: 'master-1', inventory })).rejects.toThrow(/not the requested cluster prod-b/);
        await expect(
          discovery().inventory({ cluster: 'prod-a', failed: 'master-1', inventory: { ...inventory, hosts: inventory.hosts.slice(1) } }),
        ).rejects.toThrow(/exactly one instance with role ca/);
        await expect(discovery().inventory({ cluster: 'prod-a', failed: 'master-1', inventory: bad({ ip: '10.0.1.11' }) })).rejects.toThrow(
          /share "10.0.1.11"/,
        );
      });
    });
  });

  describe('Method: forRequest', () => {
    it('lists spares in pool order, so the first spare is the replacement ValidateInput takes when none is named', async () => {
      cluster([M0, M1, M2, INST]);
      const inventory = await discovery().forRequest({ cluster: 'prod-a', failed: 'master-2' });
      expect(inventory.hosts.filter((h) => h.roles.includes('spare')).map((h) => h.instanceId)).toEqual([
        'i-0000000000000000b',
        'i-0000000000000000c',
        'i-0000000000000000a',
      ]);
      const output = await validated({ failed: 'master-2' });
      expect(output).toMatchObject({
        replacementChoice: 'spare',
        replacement: { instanceId: 'i-0000000000000000b' },
        failedHost: { instanceId: 'i-00000000000000002' },
      });
    });

    it('adds a replacement named by the instance id of a running non-member as a spare, which ValidateInput then finds', async () => {
      cluster([M0, M1, M2, INST]);
      const outsider = spare('i-0000000000000000e', '10.0.3.30', '2029-01-01T00:00:00Z', { Name: 'new-etcd' });
      ec2Mock.on(DescribeInstancesCommand, { InstanceIds: ['i-0000000000000000e'] }).resolves({ Reservations: [{ Instances: [outsider] }] });
      const inventory = await discovery().forRequest({ cluster: 'prod-a', failed: 'master-2', replacement: 'I-0000000000000000E ' });
      expect(inventory.hosts.at(-1)).toMatchObject({ name: 'new-etcd', ip: '10.0.3.30', roles: ['spare'], instanceId: 'i-0000000000000000e' });
      expect(inventory.hosts).toHaveLength(8);
      const output = await validated({ failed: 'master-2', replacement: 'i-0000000000000000e' });
      expect(output).toMatchObject({ replacementChoice: 'named', replacement: { name: 'new-etcd' } });
    });

    it('leaves any other replacement name, or an instance id already listed, to ValidateInput: no extra EC2 call', async () => {
      cluster([M0, M1, M2, INST]);
      for (const replacement of ['etcd-spare-1', 'etcd-spare-9', 'i-0000000000000000a', 'i-00000000000000000']) {
        ec2Mock.resetHistory();
        const inventory = await discovery().forRequest({ cluster: 'prod-a', failed: 'master-2', replacement });
        expect(inventory.hosts.map((h) => h.instanceId)).toEqual([
          'i-00000000000000000',
          'i-00000000000000001',
          'i-00000000000000002',
          'i-00000000000000003',
          'i-0000000000000000b',
          'i-0000000000000000c',
          'i-0000000000000000a',
        ]);
        expect(ec2Mock.commandCalls(DescribeInstancesCommand).map((c) => c.args[0].input)).toEqual([memberFilter, spareFilter]);
      }
      await expect(validated({ failed: 'master-2', replacement: 'etcd-spare-1' })).resolves.toMatchObject({
        replacementChoice: 'named',
        replacement: { instanceId: 'i-0000000000000000a' },
      });
    });

    it('refuses a replacement instance id that does not exist, is not running, or carries the cluster tag', async () => {
      cluster([M0, M1, INST]);
      ec2Mock.on(DescribeInstancesCommand, { InstanceIds: ['i-0000000000000000e'] }).resolves({
        Reservations: [{ Instances: [{ ...S_LATE, InstanceId: 'i-0000000000000000e', State: { Name: 'stopped' } }] }],
      });
      await expect(discovery().forRequest({ cluster: 'prod-a', failed: 'master-1', replacement: 'i-0000000000000000e' })).rejects.toThrow(
        'invalid replacement: instance i-0000000000000000e is stopped, not running',
      );
      ec2Mock.on(DescribeInstancesCommand, { InstanceIds: ['i-0000000000000000d'] }).resolves({ Reservations: [] });
      await expect(discovery().forRequest({ cluster: 'prod-a', failed: 'master-1', replacement: 'i-0000000000000000d' })).rejects.toThrow(
        'invalid replacement: instance i-0000000000000000d does not exist',
      );
      // A member a run replaced is no member of the inventory, but still no host to take a place.
      ec2Mock.on(DescribeInstancesCommand, { InstanceIds: ['i-0000000000000000f'] }).resolves({
        Reservations: [{ Instances: [instance('i-0000000000000000f', '10.0.1.19', 'master,etcd', { tags: { 'etcd-replace:replaced-by': 'r-earlier' } })] }],
      });
      await expect(discovery().forRequest({ cluster: 'prod-a', failed: 'master-1', replacement: 'i-0000000000000000f' })).rejects.toThrow(
        'invalid replacement: instance i-0000000000000000f is already a member of cluster prod-a',
      );
    });
  });
});
