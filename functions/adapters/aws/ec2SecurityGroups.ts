// SecurityGroupPort over EC2 security groups. Ports 2379 (client) and 2380 (peer) are opened into the new
// member from the cluster's etcd security group as the SOURCE group: never from a CIDR, never 0.0.0.0/0.
// Every change is preceded by a describe, and a permission that already exists is success.
// The fence (a quarantine group in place of the instance's groups) and stopping an instance are
// Ec2Fence's (ec2Fence.ts), given the config's quarantine group.

import {
  AuthorizeSecurityGroupIngressCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  RevokeSecurityGroupIngressCommand,
  type EC2Client,
  type Instance,
  type IpPermission,
} from '@aws-sdk/client-ec2';
import { HostUnreachableError, InvalidInputError } from '../../errors.ts';
import type { FencePrevious, FenceState, Host, SecurityGroupPort } from '../../ports.ts';
import { Ec2Fence, stopInstance } from './ec2Fence.ts';
import { instanceId as validInstanceId } from '../../validate.ts';

export const ETCD_PORTS = [2379, 2380] as const;
const PORT_PURPOSE: Record<number, string> = { 2379: 'etcd client', 2380: 'etcd peer' };
const SG_ID = /^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

export interface Ec2SecurityGroupsConfig {
  ec2: EC2Client;
  /** The cluster's etcd security group: the source of the rules. */
  etcdSecurityGroupId: string;
  /** Group to add rules to; default: the first group of the instance's primary network interface. */
  targetSecurityGroupId?: string;
  /** The quarantine group the fence puts in place of an instance's groups (no rule lets 2379/2380 in or out). */
  quarantineSecurityGroupId?: string;
}

function errorCode(error: unknown): string {
  if (error && typeof error === 'object') {
    const e = error as { name?: unknown; Code?: unknown };
    if (typeof e.Code === 'string') return e.Code;
    if (typeof e.name === 'string') return e.name;
  }
  return '';
}

/** Whether a permission lets TCP `port` in from `sourceGroupId`. */
export function permits(permission: IpPermission, port: number, sourceGroupId: string): boolean {
  const protocol = permission.IpProtocol;
  if (protocol !== 'tcp' && protocol !== '6' && protocol !== '-1') return false;
  if (protocol !== '-1') {
    const from = permission.FromPort ?? -1;
    const to = permission.ToPort ?? -1;
    if (!(from === -1 || (from <= port && port <= to))) return false;
  }
  return (permission.UserIdGroupPairs ?? []).some((pair) => pair.GroupId === sourceGroupId);
}

export class Ec2SecurityGroups implements SecurityGroupPort {
  readonly #ec2: EC2Client;
  readonly #source: string;
  readonly #target: string | undefined;
  readonly #fence: Ec2Fence | undefined;

  constructor(config: Ec2SecurityGroupsConfig) {
    if (!SG_ID.test(config.etcdSecurityGroupId)) {
      throw new InvalidInputError('etcdSecurityGroupId', `${JSON.stringify(config.etcdSecurityGroupId)} is not a security group id`);
    }
    if (config.targetSecurityGroupId !== undefined && !SG_ID.test(config.targetSecurityGroupId)) {
      throw new InvalidInputError('targetSecurityGroupId', `${JSON.stringify(config.targetSecurityGroupId)} is not a security group id`);
    }
    this.#ec2 = config.ec2;
    this.#source = config.etcdSecurityGroupId;
    this.#target = config.targetSecurityGroupId;
    this.#fence =
      config.quarantineSecurityGroupId === undefined
        ? undefined
        : new Ec2Fence({ ec2: config.ec2, quarantineSecurityGroupId: config.quarantineSecurityGroupId });
  }

  // async: a target without a quarantine group rejects (InvalidInputError) rather than throwing before a promise exists.
  async fence(host: Host): Promise<{ changed: boolean; previous?: FencePrevious }> {
    return this.#fencing().fence(host);
  }

  async unfence(host: Host, previous?: FencePrevious): Promise<{ changed: boolean }> {
    return this.#fencing().unfence(host, previous);
  }

  async describeFence(host: Host): Promise<FenceState> {
    return this.#fencing().describeFence(host);
  }

  /** StopInstances (ec2Fence.ts): for `fenceUnreachable: stop-instance`. Needs no quarantine group. */
  async stopHost(host: Host): Promise<{ changed: boolean }> {
    const { changed } = await stopInstance(this.#ec2, host);
    return { changed };
  }

  #fencing(): Ec2Fence {
    if (!this.#fence) throw new InvalidInputError('quarantineSecurityGroupId', 'no quarantine security group is configured: the fence needs one');
    return this.#fence;
  }

  async describeEtcdPorts(host: Host): Promise<number[]> {
    const instance = await this.#instance(host);
    return this.#allowedPorts(groupIds(instance));
  }

  async allowEtcdPorts(host: Host): Promise<{ changed: boolean }> {
    const instance = await this.#instance(host);
    const allowed = await this.#allowedPorts(groupIds(instance));
    const missing = ETCD_PORTS.filter((port) => !allowed.includes(port));
    if (missing.length === 0) return { changed: false };
    const target = this.#targetGroup(instance, host);
    let changed = false;
    // One call per port: a duplicate fails the whole call, so a port added by a racing attempt must not
    // stop the other one being added.
    for (const port of missing) {
      try {
        await this.#ec2.send(
          new AuthorizeSecurityGroupIngressCommand({
            GroupId: target,
            IpPermissions: [
              {
                IpProtocol: 'tcp',
                FromPort: port,
                ToPort: port,
                UserIdGroupPairs: [{ GroupId: this.#source, Description: `${PORT_PURPOSE[port]} (etcd-replace)` }],
              },
            ],
          }),
        );
        changed = true;
      } catch (error) {
        if (errorCode(error) !== 'InvalidPermission.Duplicate') throw error;
      }
    }
    return { changed };
  }

  /**
   * Removes 2379/2380-from-the-etcd-group rules from the failed host's own group, but only when nothing
   * else needs them: the group is not the etcd group itself and no other live instance uses it.
   */
  async revokeEtcdPorts(host: Host): Promise<{ changed: boolean; reason?: string }> {
    const instance = await this.#instance(host);
    const target = this.#targetGroup(instance, host);
    if (target === this.#source) return { changed: false, reason: `${target} is the etcd security group itself` };
    const others = await this.#otherInstancesUsing(target, instance.InstanceId ?? '');
    if (others.length > 0) return { changed: false, reason: `${target} is also used by ${others.join(', ')}` };
    const allowed = await this.#allowedPorts([target]);
    let changed = false;
    for (const port of ETCD_PORTS.filter((p) => allowed.includes(p))) {
      try {
        await this.#ec2.send(
          new RevokeSecurityGroupIngressCommand({
            GroupId: target,
            IpPermissions: [{ IpProtocol: 'tcp', FromPort: port, ToPort: port, UserIdGroupPairs: [{ GroupId: this.#source }] }],
          }),
        );
        changed = true;
      } catch (error) {
        if (errorCode(error) !== 'InvalidPermission.NotFound') throw error;
      }
    }
    return { changed };
  }

  async #instance(host: Host): Promise<Instance> {
    if (!host.instanceId) throw new InvalidInputError('host.instanceId', `host ${host.name} has no EC2 instance id`);
    const id = validInstanceId('host.instanceId', host.instanceId);
    let answer;
    try {
      answer = await this.#ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    } catch (error) {
      if (errorCode(error) === 'InvalidInstanceID.NotFound') throw new HostUnreachableError(`instance ${id} does not exist`, { cause: error });
      throw error;
    }
    const instance = answer.Reservations?.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === id);
    if (!instance) throw new HostUnreachableError(`instance ${id} (${host.name}) does not exist`);
    return instance;
  }

  #targetGroup(instance: Instance, host: Host): string {
    if (this.#target) return this.#target;
    const primary = (instance.NetworkInterfaces ?? []).find((eni) => eni.Attachment?.DeviceIndex === 0);
    const group = primary?.Groups?.[0]?.GroupId ?? instance.SecurityGroups?.[0]?.GroupId;
    if (!group) throw new InvalidInputError('host', `instance ${instance.InstanceId ?? '?'} (${host.name}) has no security group`);
    return group;
  }

  async #allowedPorts(groups: string[]): Promise<number[]> {
    if (groups.length === 0) return [];
    const answer = await this.#ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: groups }));
    const permissions = (answer.SecurityGroups ?? []).flatMap((group) => group.IpPermissions ?? []);
    return ETCD_PORTS.filter((port) => permissions.some((permission) => permits(permission, port, this.#source)));
  }

  async #otherInstancesUsing(groupId: string, self: string): Promise<string[]> {
    const ids: string[] = [];
    let token: string | undefined;
    do {
      const answer = await this.#ec2.send(
        new DescribeInstancesCommand({
          Filters: [
            { Name: 'instance.group-id', Values: [groupId] },
            { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
          ],
          NextToken: token,
        }),
      );
      for (const instance of answer.Reservations?.flatMap((r) => r.Instances ?? []) ?? []) {
        if (instance.InstanceId && instance.InstanceId !== self) ids.push(instance.InstanceId);
      }
      token = answer.NextToken;
    } while (token);
    return ids;
  }
}

function groupIds(instance: Instance): string[] {
  const ids = new Set<string>();
  for (const group of instance.SecurityGroups ?? []) if (group.GroupId) ids.add(group.GroupId);
  for (const eni of instance.NetworkInterfaces ?? []) for (const group of eni.Groups ?? []) if (group.GroupId) ids.add(group.GroupId);
  return [...ids];
}
