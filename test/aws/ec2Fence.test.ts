// The EC2 network fence against a stateful fake of the EC2 calls it makes: instances with network
// interfaces whose groups ModifyNetworkInterfaceAttribute really changes, so fence, unfence and their
// repeats are checked against what EC2 would hold afterwards.
import { mockClient } from 'aws-sdk-client-mock';
import {
  DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  ModifyNetworkInterfaceAttributeCommand,
  StopInstancesCommand,
  type IpPermission,
} from '@aws-sdk/client-ec2';
import { beforeEach, describe, expect, it } from 'vitest';
import { Ec2Fence, coversPort, stopInstance } from '../../functions/adapters/aws/ec2Fence.ts';
import { Ec2SecurityGroups } from '../../functions/adapters/aws/ec2SecurityGroups.ts';
import { HostUnreachableError, InvalidInputError } from '../../functions/errors.ts';
import type { Host } from '../../functions/ports.ts';

const QUARANTINE = 'sg-0f0f0f0f0f0f0f0f0';
const ETCD_SG = 'sg-0e7cd0000000000e1';
const HOST_SG = 'sg-0aaaaaaaaaaaaaaa1';
const OTHER_SG = 'sg-0bbbbbbbbbbbbbbb2';
const ENI_0 = 'eni-0000000000000000a';
const ENI_1 = 'eni-0000000000000000b';
const INSTANCE = 'i-0aaaaaaaaaaaaaaa1';
const host: Host = { name: 'master-1', hostname: 'ip-10-0-1-11.ec2.internal', ip: '10.0.1.11', roles: ['master', 'etcd'], instanceId: INSTANCE };

const ec2Mock = mockClient(EC2Client);
const ec2 = new EC2Client({ region: 'eu-west-1' });

/** What the fake EC2 holds: the instance's state and the groups of each of its interfaces. */
let world: { state: string; enis: Record<string, string[]>; quarantine: { IpPermissions: IpPermission[]; IpPermissionsEgress: IpPermission[] } | undefined };

function awsError(name: string): Error {
  return Object.assign(new Error(name), { name, $metadata: {} });
}

function fakeEc2(): void {
  ec2Mock.on(DescribeInstancesCommand).callsFake((input: { InstanceIds?: string[] }) => {
    if (!input.InstanceIds?.includes(INSTANCE)) throw awsError('InvalidInstanceID.NotFound');
    return {
      Reservations: [
        {
          Instances: [
            {
              InstanceId: INSTANCE,
              State: { Name: world.state },
              // The instance's own view is stale on purpose: the fence must read the interfaces.
              NetworkInterfaces: Object.keys(world.enis).map((NetworkInterfaceId) => ({ NetworkInterfaceId, Groups: [{ GroupId: HOST_SG }] })),
            },
          ],
        },
      ],
    };
  });
  ec2Mock.on(DescribeNetworkInterfacesCommand).callsFake((input: { NetworkInterfaceIds?: string[] }) => ({
    NetworkInterfaces: (input.NetworkInterfaceIds ?? []).map((id) => ({
      NetworkInterfaceId: id,
      Groups: (world.enis[id] ?? []).map((GroupId) => ({ GroupId })),
    })),
  }));
  ec2Mock.on(ModifyNetworkInterfaceAttributeCommand).callsFake((input: { NetworkInterfaceId?: string; Groups?: string[] }) => {
    const id = input.NetworkInterfaceId ?? '';
    if (!(id in world.enis)) throw awsError('InvalidNetworkInterfaceID.NotFound');
    if (!input.Groups || input.Groups.length === 0) throw awsError('InvalidParameterValue');
    world.enis[id] = [...input.Groups];
    return {};
  });
  ec2Mock.on(DescribeSecurityGroupsCommand).callsFake((input: { GroupIds?: string[] }) => {
    if (!input.GroupIds?.includes(QUARANTINE) || !world.quarantine) throw awsError('InvalidGroup.NotFound');
    return { SecurityGroups: [{ GroupId: QUARANTINE, ...world.quarantine }] };
  });
  ec2Mock.on(StopInstancesCommand).callsFake((input: { InstanceIds?: string[] }) => {
    const previous = world.state;
    world.state = 'stopping';
    return { StoppingInstances: [{ InstanceId: input.InstanceIds?.[0], PreviousState: { Name: previous }, CurrentState: { Name: 'stopping' } }] };
  });
}

const fence = () => new Ec2Fence({ ec2, quarantineSecurityGroupId: QUARANTINE });
const modifies = () => ec2Mock.commandCalls(ModifyNetworkInterfaceAttributeCommand).map((c) => [c.args[0].input.NetworkInterfaceId, c.args[0].input.Groups]);

beforeEach(() => {
  ec2Mock.reset();
  world = {
    state: 'running',
    enis: { [ENI_0]: [HOST_SG, ETCD_SG], [ENI_1]: [OTHER_SG] },
    quarantine: { IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/16' }] }], IpPermissionsEgress: [] },
  };
  fakeEc2();
});

describe('Function: coversPort', () => {
  it.each<[IpPermission, number, boolean]>([
    [{ IpProtocol: '-1' }, 2379, true],
    [{ IpProtocol: 'tcp', FromPort: 2379, ToPort: 2380 }, 2380, true],
    [{ IpProtocol: '6', FromPort: 2380, ToPort: 2380 }, 2380, true],
    [{ IpProtocol: 'tcp', FromPort: 0, ToPort: 65535 }, 2379, true],
    [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22 }, 2379, false],
    [{ IpProtocol: 'tcp', FromPort: 2381, ToPort: 2400 }, 2380, false],
    [{ IpProtocol: 'udp', FromPort: 2379, ToPort: 2380 }, 2379, false],
  ])('%j covers tcp %i: %s', (permission, port, expected) => {
    expect(coversPort(permission, port)).toBe(expected);
  });
});

describe('Class: Ec2Fence', () => {
  it('refuses a quarantine group id that is not one', () => {
    expect(() => new Ec2Fence({ ec2, quarantineSecurityGroupId: 'default' })).toThrow(InvalidInputError);
  });

  describe('Method: fence', () => {
    it("puts the quarantine group alone in place of each interface's groups and returns the groups each had", async () => {
      await expect(fence().describeFence(host)).resolves.toMatchObject({ fenced: false, groups: { [ENI_0]: [HOST_SG, ETCD_SG], [ENI_1]: [OTHER_SG] } });
      const result = await fence().fence(host);
      expect(result).toEqual({ changed: true, previous: { groups: { [ENI_0]: [HOST_SG, ETCD_SG], [ENI_1]: [OTHER_SG] } } });
      expect(world.enis).toEqual({ [ENI_0]: [QUARANTINE], [ENI_1]: [QUARANTINE] });
      expect(modifies()).toEqual([
        [ENI_0, [QUARANTINE]],
        [ENI_1, [QUARANTINE]],
      ]);
      await expect(fence().describeFence(host)).resolves.toEqual({ fenced: true, groups: { [ENI_0]: [QUARANTINE], [ENI_1]: [QUARANTINE] } });
      expect(JSON.parse(JSON.stringify(result))).toEqual(result); // the run record keeps it as JSON
    });

    it('changes nothing on a repeat, and returns no previous (the first call kept it)', async () => {
      await fence().fence(host);
      ec2Mock.resetHistory();
      await expect(fence().fence(host)).resolves.toEqual({ changed: false });
      expect(modifies()).toEqual([]);
      expect(world.enis).toEqual({ [ENI_0]: [QUARANTINE], [ENI_1]: [QUARANTINE] });
    });

    it('finishes a fence cut short: only the interface not yet fenced changes', async () => {
      world.enis[ENI_0] = [QUARANTINE];
      await expect(fence().fence(host)).resolves.toEqual({ changed: true, previous: { groups: { [ENI_1]: [OTHER_SG] } } });
      expect(modifies()).toEqual([[ENI_1, [QUARANTINE]]]);
    });

    it('fences an interface that has the quarantine group beside others: only the quarantine group alone is a fence', async () => {
      world.enis = { [ENI_0]: [QUARANTINE, HOST_SG] };
      await expect(fence().describeFence(host)).resolves.toMatchObject({ fenced: false, reason: `not in the quarantine group alone: ${ENI_0}` });
      await expect(fence().fence(host)).resolves.toEqual({ changed: true, previous: { groups: { [ENI_0]: [QUARANTINE, HOST_SG] } } });
      expect(world.enis).toEqual({ [ENI_0]: [QUARANTINE] });
    });

    it.each(['stopped', 'stopping', 'pending'])('works while the instance is %s', async (state) => {
      world.state = state;
      await expect(fence().fence(host)).resolves.toMatchObject({ changed: true });
      expect(world.enis).toEqual({ [ENI_0]: [QUARANTINE], [ENI_1]: [QUARANTINE] });
      expect(world.state).toBe(state);
      expect(ec2Mock.commandCalls(StopInstancesCommand)).toHaveLength(0);
    });

    it('leaves a terminated instance alone and describes it as fenced, with the reason', async () => {
      world.state = 'terminated';
      await expect(fence().fence(host)).resolves.toEqual({ changed: false });
      expect(modifies()).toEqual([]);
      await expect(fence().describeFence(host)).resolves.toEqual({ fenced: true, groups: {}, reason: `instance ${INSTANCE} is terminated` });
    });

    it.each<[string, { IpPermissions: IpPermission[]; IpPermissionsEgress: IpPermission[] }, string]>([
      [
        'inbound 2379',
        { IpPermissions: [{ IpProtocol: 'tcp', FromPort: 2379, ToPort: 2379, IpRanges: [{ CidrIp: '10.0.0.0/16' }] }], IpPermissionsEgress: [] },
        'inbound 2379',
      ],
      [
        'all outbound (the default egress rule)',
        { IpPermissions: [], IpPermissionsEgress: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] },
        'outbound 2379, outbound 2380',
      ],
    ])('refuses a quarantine group that lets %s through, changing nothing', async (_case, rules, leak) => {
      world.quarantine = rules;
      const before = structuredClone(world.enis);
      await expect(fence().fence(host)).rejects.toThrow(new RegExp(`${QUARANTINE} lets tcp through \\(${leak}\\)`));
      await expect(fence().fence(host)).rejects.toBeInstanceOf(InvalidInputError);
      expect(modifies()).toEqual([]);
      expect(world.enis).toEqual(before);
    });

    it('refuses a quarantine group that does not exist, changing nothing', async () => {
      world.quarantine = undefined;
      await expect(fence().fence(host)).rejects.toThrow('InvalidGroup.NotFound');
      expect(modifies()).toEqual([]);
    });

    it('throws HostUnreachableError for an instance that does not exist, and needs an instance id', async () => {
      await expect(fence().fence({ ...host, instanceId: 'i-0ccccccccccccccc3' })).rejects.toBeInstanceOf(HostUnreachableError);
      const { instanceId: _omit, ...noId } = host;
      await expect(fence().fence(noId)).rejects.toBeInstanceOf(InvalidInputError);
      await expect(fence().fence({ ...host, instanceId: 'i-1; reboot' })).rejects.toBeInstanceOf(InvalidInputError);
      expect(modifies()).toEqual([]);
    });
  });

  describe('Method: unfence', () => {
    it('puts back exactly the groups each interface had, in their order, and a repeat changes nothing', async () => {
      const { previous } = await fence().fence(host);
      ec2Mock.resetHistory();
      await expect(fence().unfence(host, previous)).resolves.toEqual({ changed: true });
      expect(world.enis).toEqual({ [ENI_0]: [HOST_SG, ETCD_SG], [ENI_1]: [OTHER_SG] });
      expect(modifies()).toEqual([
        [ENI_0, [HOST_SG, ETCD_SG]],
        [ENI_1, [OTHER_SG]],
      ]);
      ec2Mock.resetHistory();
      await expect(fence().unfence(host, previous)).resolves.toEqual({ changed: false });
      expect(modifies()).toEqual([]);
      await expect(fence().describeFence(host)).resolves.toMatchObject({ fenced: false });
    });

    it('works while the instance is stopped', async () => {
      const { previous } = await fence().fence(host);
      world.state = 'stopped';
      await expect(fence().unfence(host, previous)).resolves.toEqual({ changed: true });
      expect(world.enis).toEqual({ [ENI_0]: [HOST_SG, ETCD_SG], [ENI_1]: [OTHER_SG] });
    });

    it('refuses, changing nothing, when the groups of a fenced interface are not known', async () => {
      await fence().fence(host);
      ec2Mock.resetHistory();
      await expect(fence().unfence(host)).rejects.toThrow(/the groups eni-0000000000000000a, eni-0000000000000000b had before the fence are not known/);
      await expect(fence().unfence(host, { groups: { [ENI_0]: [HOST_SG] } })).rejects.toThrow(/the groups eni-0000000000000000b had/);
      expect(modifies()).toEqual([]);
      expect(world.enis).toEqual({ [ENI_0]: [QUARANTINE], [ENI_1]: [QUARANTINE] });
    });

    it.each<[string, unknown]>([
      ['an interface id that is not one', { groups: { 'eni-x; rm -rf /': [HOST_SG] } }],
      ['a group id that is not one', { groups: { [ENI_0]: ['sg-nothex!'] } }],
      ['an empty list of groups', { groups: { [ENI_0]: [] } }],
      ['no groups at all', { nope: true }],
    ])('refuses a previous with %s before any EC2 call', async (_case, previous) => {
      await expect(fence().unfence(host, previous as never)).rejects.toBeInstanceOf(InvalidInputError);
      expect(ec2Mock.calls()).toHaveLength(0);
    });

    it('changes nothing on an instance that was never fenced', async () => {
      await expect(fence().unfence(host)).resolves.toEqual({ changed: false });
      expect(modifies()).toEqual([]);
    });
  });

  describe('Function: stopInstance', () => {
    it('stops a running instance, with Force only when asked, and leaves a stopping, stopped or gone one', async () => {
      await expect(stopInstance(ec2, host, { force: true })).resolves.toEqual({ changed: true, state: 'stopping' });
      expect(ec2Mock.commandCalls(StopInstancesCommand)[0]?.args[0].input).toEqual({ InstanceIds: [INSTANCE], Force: true });
      await expect(stopInstance(ec2, host)).resolves.toEqual({ changed: false, state: 'stopping' });
      for (const state of ['stopped', 'terminated', 'shutting-down']) {
        world.state = state;
        await expect(stopInstance(ec2, host)).resolves.toEqual({ changed: false, state });
      }
      expect(ec2Mock.commandCalls(StopInstancesCommand)).toHaveLength(1);
      world.state = 'running';
      await stopInstance(ec2, host);
      expect(ec2Mock.commandCalls(StopInstancesCommand)[1]?.args[0].input).toEqual({ InstanceIds: [INSTANCE] });
    });
  });
});

describe('Class: Ec2SecurityGroups (the fence through the SecurityGroupPort)', () => {
  it('fences and unfences with the configured quarantine group, and stops the host', async () => {
    const port = new Ec2SecurityGroups({ ec2, etcdSecurityGroupId: ETCD_SG, quarantineSecurityGroupId: QUARANTINE });
    const { previous } = await port.fence(host);
    await expect(port.describeFence(host)).resolves.toMatchObject({ fenced: true });
    await expect(port.unfence(host, previous)).resolves.toEqual({ changed: true });
    expect(world.enis).toEqual({ [ENI_0]: [HOST_SG, ETCD_SG], [ENI_1]: [OTHER_SG] });
    await expect(port.stopHost(host)).resolves.toEqual({ changed: true });
    await expect(port.stopHost(host)).resolves.toEqual({ changed: false });
  });

  it('refuses to fence without a quarantine group (a rejected promise, never a throw before one), changing nothing, but still stops a host', async () => {
    const port = new Ec2SecurityGroups({ ec2, etcdSecurityGroupId: ETCD_SG });
    await expect(port.fence(host)).rejects.toThrow(/no quarantine security group is configured/);
    await expect(port.describeFence(host)).rejects.toThrow(InvalidInputError);
    await expect(port.unfence(host)).rejects.toThrow(InvalidInputError);
    expect(ec2Mock.calls()).toHaveLength(0);
    await expect(port.stopHost(host)).resolves.toEqual({ changed: true });
  });
});
