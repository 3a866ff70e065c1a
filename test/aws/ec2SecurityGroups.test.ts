import { mockClient } from 'aws-sdk-client-mock';
import {
  AuthorizeSecurityGroupIngressCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  RevokeSecurityGroupIngressCommand,
  type IpPermission,
} from '@aws-sdk/client-ec2';
import { beforeEach, describe, expect, it } from 'vitest';
import { Ec2SecurityGroups, permits } from '../../functions/adapters/aws/ec2SecurityGroups.ts';
import { HostUnreachableError, InvalidInputError } from '../../functions/errors.ts';
import type { Host } from '../../functions/ports.ts';

const ETCD_SG = 'sg-0e7cd0000000000e1';
const HOST_SG = 'sg-0aaaaaaaaaaaaaaa1';
const OTHER_SG = 'sg-0bbbbbbbbbbbbbbb2';
const INSTANCE = 'i-0aaaaaaaaaaaaaaa1';
const host: Host = { name: 'etcd-spare-0', hostname: 'ip-10-0-1-20.ec2.internal', ip: '10.0.1.20', roles: ['spare'], instanceId: INSTANCE };

const ec2Mock = mockClient(EC2Client);
const ec2 = new EC2Client({ region: 'eu-west-1' });

function awsError(name: string): Error {
  return Object.assign(new Error(name), { name, $metadata: {} });
}

function instanceWith(groups: string[]): void {
  ec2Mock.on(DescribeInstancesCommand, { InstanceIds: [INSTANCE] }).resolves({
    Reservations: [
      {
        Instances: [
          {
            InstanceId: INSTANCE,
            SecurityGroups: groups.map((GroupId) => ({ GroupId })),
            NetworkInterfaces: [{ Attachment: { DeviceIndex: 0 }, Groups: groups.map((GroupId) => ({ GroupId })) }],
          },
        ],
      },
    ],
  });
}

const rule = (port: number, source = ETCD_SG): IpPermission => ({
  IpProtocol: 'tcp',
  FromPort: port,
  ToPort: port,
  UserIdGroupPairs: [{ GroupId: source }],
});

function groupRules(rules: Record<string, IpPermission[]>): void {
  ec2Mock.on(DescribeSecurityGroupsCommand).callsFake((input: { GroupIds?: string[] }) => ({
    SecurityGroups: (input.GroupIds ?? []).map((GroupId) => ({ GroupId, IpPermissions: rules[GroupId] ?? [] })),
  }));
}

const adapter = (over: { targetSecurityGroupId?: string } = {}) => new Ec2SecurityGroups({ ec2, etcdSecurityGroupId: ETCD_SG, ...over });

beforeEach(() => {
  ec2Mock.reset();
});

describe('Function: permits', () => {
  it.each<[IpPermission, number, boolean]>([
    [rule(2379), 2379, true],
    [rule(2379), 2380, false],
    [{ IpProtocol: 'tcp', FromPort: 2379, ToPort: 2380, UserIdGroupPairs: [{ GroupId: ETCD_SG }] }, 2380, true],
    [{ IpProtocol: '-1', UserIdGroupPairs: [{ GroupId: ETCD_SG }] }, 2380, true],
    [{ IpProtocol: 'udp', FromPort: 2379, ToPort: 2379, UserIdGroupPairs: [{ GroupId: ETCD_SG }] }, 2379, false],
    [rule(2379, OTHER_SG), 2379, false],
    [{ IpProtocol: 'tcp', FromPort: 2379, ToPort: 2379, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }, 2379, false],
  ])('%j lets %i in from the etcd group: %s', (permission, port, expected) => {
    expect(permits(permission, port, ETCD_SG)).toBe(expected);
  });
});

describe('Class: Ec2SecurityGroups', () => {
  describe('Method: describeEtcdPorts', () => {
    it('reads every group of the instance and reports the ports open from the etcd group', async () => {
      instanceWith([HOST_SG, OTHER_SG]);
      groupRules({ [HOST_SG]: [rule(2380)], [OTHER_SG]: [rule(2379, OTHER_SG)] });
      await expect(adapter().describeEtcdPorts(host)).resolves.toEqual([2380]);
      expect(ec2Mock.commandCalls(DescribeSecurityGroupsCommand)[0]?.args[0].input).toEqual({ GroupIds: [HOST_SG, OTHER_SG] });
    });

    it('counts a self-referencing etcd group the host is a member of', async () => {
      instanceWith([ETCD_SG]);
      groupRules({ [ETCD_SG]: [rule(2379), rule(2380)] });
      await expect(adapter().describeEtcdPorts(host)).resolves.toEqual([2379, 2380]);
    });

    it('throws HostUnreachableError for an instance that does not exist', async () => {
      ec2Mock.on(DescribeInstancesCommand).rejects(awsError('InvalidInstanceID.NotFound'));
      await expect(adapter().describeEtcdPorts(host)).rejects.toThrow(HostUnreachableError);
    });

    it('needs an instance id', async () => {
      const { instanceId: _omit, ...noId } = host;
      await expect(adapter().describeEtcdPorts(noId)).rejects.toThrow(InvalidInputError);
    });
  });

  describe('Method: allowEtcdPorts', () => {
    it('describes first and authorizes only the missing port, from the etcd group, on the primary group', async () => {
      instanceWith([HOST_SG]);
      groupRules({ [HOST_SG]: [rule(2379)] });
      ec2Mock.on(AuthorizeSecurityGroupIngressCommand).resolves({ Return: true });
      await expect(adapter().allowEtcdPorts(host)).resolves.toEqual({ changed: true });
      const calls = ec2Mock.commandCalls(AuthorizeSecurityGroupIngressCommand);
      expect(calls).toHaveLength(1);
      expect(calls[0]?.args[0].input).toEqual({
        GroupId: HOST_SG,
        IpPermissions: [{ IpProtocol: 'tcp', FromPort: 2380, ToPort: 2380, UserIdGroupPairs: [{ GroupId: ETCD_SG, Description: 'etcd peer (etcd-replace)' }] }],
      });
      expect(JSON.stringify(calls[0]?.args[0].input)).not.toContain('0.0.0.0/0');
      expect(ec2Mock.calls().map((c) => c.args[0].constructor.name)).toEqual([
        'DescribeInstancesCommand',
        'DescribeSecurityGroupsCommand',
        'AuthorizeSecurityGroupIngressCommand',
      ]);
    });

    it('changes nothing when both ports are already open', async () => {
      instanceWith([HOST_SG]);
      groupRules({ [HOST_SG]: [{ IpProtocol: 'tcp', FromPort: 2379, ToPort: 2380, UserIdGroupPairs: [{ GroupId: ETCD_SG }] }] });
      await expect(adapter().allowEtcdPorts(host)).resolves.toEqual({ changed: false });
      expect(ec2Mock.commandCalls(AuthorizeSecurityGroupIngressCommand)).toHaveLength(0);
    });

    it('treats InvalidPermission.Duplicate as success and still adds the other port', async () => {
      instanceWith([HOST_SG]);
      groupRules({});
      ec2Mock.on(AuthorizeSecurityGroupIngressCommand).rejectsOnce(awsError('InvalidPermission.Duplicate')).resolves({ Return: true });
      await expect(adapter().allowEtcdPorts(host)).resolves.toEqual({ changed: true });
      expect(ec2Mock.commandCalls(AuthorizeSecurityGroupIngressCommand).map((c) => c.args[0].input.IpPermissions?.[0]?.FromPort)).toEqual([2379, 2380]);
    });

    it('reports no change when every authorize was a duplicate', async () => {
      instanceWith([HOST_SG]);
      groupRules({});
      ec2Mock.on(AuthorizeSecurityGroupIngressCommand).rejects(awsError('InvalidPermission.Duplicate'));
      await expect(adapter().allowEtcdPorts(host)).resolves.toEqual({ changed: false });
    });

    it('passes other EC2 errors on', async () => {
      instanceWith([HOST_SG]);
      groupRules({});
      ec2Mock.on(AuthorizeSecurityGroupIngressCommand).rejects(awsError('RulesPerSecurityGroupLimitExceeded'));
      await expect(adapter().allowEtcdPorts(host)).rejects.toThrow('RulesPerSecurityGroupLimitExceeded');
    });

    it('uses the configured target group', async () => {
      instanceWith([HOST_SG]);
      groupRules({});
      ec2Mock.on(AuthorizeSecurityGroupIngressCommand).resolves({ Return: true });
      await adapter({ targetSecurityGroupId: OTHER_SG }).allowEtcdPorts(host);
      expect(ec2Mock.commandCalls(AuthorizeSecurityGroupIngressCommand).every((c) => c.args[0].input.GroupId === OTHER_SG)).toBe(true);
    });
  });

  describe('Method: revokeEtcdPorts', () => {
    it('revokes the rules from a group only the failed host used', async () => {
      instanceWith([HOST_SG]);
      ec2Mock
        .on(DescribeInstancesCommand, {
          Filters: [
            { Name: 'instance.group-id', Values: [HOST_SG] },
            { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
          ],
        })
        .resolves({
          Reservations: [{ Instances: [{ InstanceId: INSTANCE }] }],
        });
      groupRules({ [HOST_SG]: [rule(2379), rule(2380)] });
      ec2Mock.on(RevokeSecurityGroupIngressCommand).resolvesOnce({ Return: true }).rejects(awsError('InvalidPermission.NotFound'));
      await expect(adapter().revokeEtcdPorts(host)).resolves.toEqual({ changed: true });
      expect(ec2Mock.commandCalls(RevokeSecurityGroupIngressCommand)[0]?.args[0].input).toEqual({
        GroupId: HOST_SG,
        IpPermissions: [{ IpProtocol: 'tcp', FromPort: 2379, ToPort: 2379, UserIdGroupPairs: [{ GroupId: ETCD_SG }] }],
      });
    });

    it('leaves a group other instances use', async () => {
      instanceWith([HOST_SG]);
      ec2Mock
        .on(DescribeInstancesCommand, {
          Filters: [
            { Name: 'instance.group-id', Values: [HOST_SG] },
            { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
          ],
        })
        .resolves({
          Reservations: [{ Instances: [{ InstanceId: INSTANCE }, { InstanceId: 'i-0ccccccccccccccc3' }] }],
        });
      await expect(adapter().revokeEtcdPorts(host)).resolves.toEqual({ changed: false, reason: `${HOST_SG} is also used by i-0ccccccccccccccc3` });
      expect(ec2Mock.commandCalls(RevokeSecurityGroupIngressCommand)).toHaveLength(0);
    });

    it('never touches the etcd group itself', async () => {
      instanceWith([ETCD_SG]);
      await expect(adapter().revokeEtcdPorts(host)).resolves.toMatchObject({ changed: false });
      expect(ec2Mock.commandCalls(RevokeSecurityGroupIngressCommand)).toHaveLength(0);
    });
  });

  describe('Method: constructor', () => {
    it('refuses something that is not a security group id', () => {
      expect(() => new Ec2SecurityGroups({ ec2, etcdSecurityGroupId: '0.0.0.0/0' })).toThrow(InvalidInputError);
      expect(() => new Ec2SecurityGroups({ ec2, etcdSecurityGroupId: ETCD_SG, targetSecurityGroupId: 'default' })).toThrow(InvalidInputError);
    });
  });
});
