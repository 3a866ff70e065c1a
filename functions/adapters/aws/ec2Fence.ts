// The network fence on EC2: a quarantine security group (the config's; no rule of it may let TCP 2379 or
// 2380 in or out) takes the place of every group on each network interface of the instance, so nothing
// reaches the member's etcd and its etcd reaches nothing, whatever the instance does when it boots again.
// It works on a stopped instance (its interfaces keep their groups). The groups each interface had are
// returned for the run record, and unfence puts back exactly those. Every change is preceded by a
// describe: an interface that has the quarantine group alone is fenced already and left as it is.
//
// Note: EC2 keeps tracked connections that were open when the groups changed until they end (security
// groups are stateful); a member that runs while it is fenced is stopped too (stopInstance) where the
// config says `fenceUnreachable: stop-instance`.

import {
  DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSecurityGroupsCommand,
  ModifyNetworkInterfaceAttributeCommand,
  StopInstancesCommand,
  type EC2Client,
  type Instance,
  type IpPermission,
} from '@aws-sdk/client-ec2';
import { HostUnreachableError, InvalidInputError } from '../../errors.ts';
import type { FencePrevious, FenceState, Host } from '../../ports.ts';
import { instanceId as validInstanceId } from '../../validate.ts';

const SG_ID = /^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
const ENI_ID = /^eni-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
const FENCED_PORTS = [2379, 2380] as const;
/** Instance states in which the instance never runs again: nothing to fence or stop. */
const GONE = ['shutting-down', 'terminated'];

export interface Ec2FenceConfig {
  ec2: EC2Client;
  /** The quarantine security group: no rule lets TCP 2379/2380 in or out. */
  quarantineSecurityGroupId: string;
}

export function validSecurityGroupId(field: string, value: string): string {
  if (!SG_ID.test(value)) throw new InvalidInputError(field, `${JSON.stringify(value)} is not a security group id`);
  return value;
}

/** Whether a permission (ingress or egress) lets TCP `port` through, from or to anything. */
export function coversPort(permission: IpPermission, port: number): boolean {
  const protocol = permission.IpProtocol;
  if (protocol === '-1') return true;
  if (protocol !== 'tcp' && protocol !== '6') return false;
  const from = permission.FromPort ?? -1;
  const to = permission.ToPort ?? -1;
  return from === -1 || (from <= port && port <= to);
}

function errorCode(error: unknown): string {
  if (error && typeof error === 'object') {
    const e = error as { name?: unknown; Code?: unknown };
    if (typeof e.Code === 'string') return e.Code;
    if (typeof e.name === 'string') return e.name;
  }
  return '';
}

/** Validates a `previous` that comes back from the run record before any of it reaches EC2. */
function validPrevious(previous: FencePrevious): FencePrevious {
  if (!previous || typeof previous !== 'object' || !previous.groups || typeof previous.groups !== 'object') {
    throw new InvalidInputError('previous', 'must be {groups: {eni-…: [sg-…, …]}}');
  }
  for (const [eni, groups] of Object.entries(previous.groups)) {
    if (!ENI_ID.test(eni)) throw new InvalidInputError('previous', `${JSON.stringify(eni)} is not a network interface id`);
    if (!Array.isArray(groups) || groups.length === 0) throw new InvalidInputError('previous', `${eni}: no security groups to put back`);
    for (const group of groups) validSecurityGroupId('previous', String(group));
  }
  return previous;
}

/** The host's instance (DescribeInstances); HostUnreachableError when it does not exist. */
export async function describeInstance(ec2: EC2Client, host: Host): Promise<Instance> {
  if (!host.instanceId) throw new InvalidInputError('host.instanceId', `host ${host.name} has no EC2 instance id`);
  const id = validInstanceId('host.instanceId', host.instanceId);
  let answer;
  try {
    answer = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  } catch (error) {
    if (errorCode(error) === 'InvalidInstanceID.NotFound') throw new HostUnreachableError(`instance ${id} does not exist`, { cause: error });
    throw error;
  }
  const instance = answer.Reservations?.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === id);
  if (!instance) throw new HostUnreachableError(`instance ${id} (${host.name}) does not exist`);
  return instance;
}

/**
 * Stops the host's instance (StopInstances, `Force` when asked: no chance to flush its disks, for an
 * instance that does not answer); one stopping, stopped or gone is left as it is. For the config's
 * `fenceUnreachable: stop-instance`.
 */
export async function stopInstance(ec2: EC2Client, host: Host, options: { force?: boolean } = {}): Promise<{ changed: boolean; state: string }> {
  const instance = await describeInstance(ec2, host);
  const state = instance.State?.Name ?? '';
  if (['stopping', 'stopped', ...GONE].includes(state)) return { changed: false, state };
  const id = instance.InstanceId ?? '';
  const answer = await ec2.send(new StopInstancesCommand({ InstanceIds: [id], ...(options.force ? { Force: true } : {}) }));
  const now = answer.StoppingInstances?.find((i) => i.InstanceId === id)?.CurrentState?.Name ?? 'stopping';
  return { changed: true, state: now };
}

export class Ec2Fence {
  readonly #ec2: EC2Client;
  readonly #quarantine: string;

  constructor(config: Ec2FenceConfig) {
    this.#ec2 = config.ec2;
    this.#quarantine = validSecurityGroupId('quarantineSecurityGroupId', config.quarantineSecurityGroupId);
  }

  async describeFence(host: Host): Promise<FenceState> {
    const instance = await this.#instance(host);
    if (GONE.includes(instance.State?.Name ?? ''))
      return { fenced: true, groups: {}, reason: `instance ${instance.InstanceId ?? ''} is ${instance.State?.Name ?? ''}` };
    const groups = await this.#interfaceGroups(instance);
    const open = Object.keys(groups).filter((eni) => !this.#isQuarantined(groups[eni] ?? []));
    return {
      fenced: Object.keys(groups).length > 0 && open.length === 0,
      groups,
      ...(open.length > 0 ? { reason: `not in the quarantine group alone: ${open.join(', ')}` } : {}),
      ...(Object.keys(groups).length === 0 ? { reason: `instance ${instance.InstanceId ?? ''} has no network interface` } : {}),
    };
  }

  async fence(host: Host): Promise<{ changed: boolean; previous?: FencePrevious }> {
    const instance = await this.#instance(host);
    if (GONE.includes(instance.State?.Name ?? '')) return { changed: false };
    const groups = await this.#interfaceGroups(instance);
    const toFence = Object.keys(groups)
      .sort()
      .filter((eni) => !this.#isQuarantined(groups[eni] ?? []));
    if (toFence.length === 0) return { changed: false };
    await this.#checkQuarantineGroup();
    const previous: FencePrevious = { groups: {} };
    for (const eni of toFence) {
      previous.groups[eni] = [...(groups[eni] ?? [])];
      await this.#setGroups(eni, [this.#quarantine]);
    }
    return { changed: true, previous };
  }

  async unfence(host: Host, previous?: FencePrevious): Promise<{ changed: boolean }> {
    const known = previous === undefined ? undefined : validPrevious(previous);
    const instance = await this.#instance(host);
    if (GONE.includes(instance.State?.Name ?? '')) return { changed: false };
    const groups = await this.#interfaceGroups(instance);
    const fenced = Object.keys(groups).filter((eni) => this.#isQuarantined(groups[eni] ?? []));
    if (fenced.length === 0) return { changed: false };
    const unknown = fenced.filter((eni) => known?.groups[eni] === undefined);
    if (unknown.length > 0) {
      throw new InvalidInputError(
        'previous',
        `${host.name} (${instance.InstanceId ?? ''}): the groups ${unknown.join(', ')} had before the fence are not known; nothing was changed`,
      );
    }
    for (const eni of fenced) await this.#setGroups(eni, known?.groups[eni] ?? []);
    return { changed: true };
  }

  stopInstance(host: Host, options: { force?: boolean } = {}): Promise<{ changed: boolean; state: string }> {
    return stopInstance(this.#ec2, host, options);
  }

  #isQuarantined(groups: string[]): boolean {
    return groups.length === 1 && groups[0] === this.#quarantine;
  }

  async #setGroups(eni: string, groups: string[]): Promise<void> {
    await this.#ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: eni, Groups: groups }));
  }

  /** The quarantine group must close 2379/2380 both ways: a rule of it that lets either through is refused. */
  async #checkQuarantineGroup(): Promise<void> {
    const answer = await this.#ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [this.#quarantine] }));
    const group = answer.SecurityGroups?.find((g) => g.GroupId === this.#quarantine);
    if (!group) throw new InvalidInputError('quarantineSecurityGroupId', `${this.#quarantine} does not exist`);
    const leaks: string[] = [];
    for (const [direction, permissions] of [
      ['inbound', group.IpPermissions ?? []],
      ['outbound', group.IpPermissionsEgress ?? []],
    ] as const) {
      for (const port of FENCED_PORTS) if (permissions.some((p) => coversPort(p, port))) leaks.push(`${direction} ${port}`);
    }
    if (leaks.length > 0) {
      throw new InvalidInputError(
        'quarantineSecurityGroupId',
        `${this.#quarantine} lets tcp through (${leaks.join(', ')}): a quarantine group must have no such rule`,
      );
    }
  }

  #instance(host: Host): Promise<Instance> {
    return describeInstance(this.#ec2, host);
  }

  /** Each network interface attached to the instance, with its groups now (DescribeNetworkInterfaces: not the instance's cached view). */
  async #interfaceGroups(instance: Instance): Promise<Record<string, string[]>> {
    const ids = (instance.NetworkInterfaces ?? []).map((eni) => eni.NetworkInterfaceId).filter((id): id is string => typeof id === 'string');
    if (ids.length === 0) return {};
    const answer = await this.#ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: ids }));
    const out: Record<string, string[]> = {};
    for (const eni of answer.NetworkInterfaces ?? []) {
      if (!eni.NetworkInterfaceId) continue;
      out[eni.NetworkInterfaceId] = (eni.Groups ?? []).map((g) => g.GroupId).filter((g): g is string => typeof g === 'string');
    }
    return out;
  }
}
