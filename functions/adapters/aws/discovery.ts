// Discovery of a cluster's hosts from EC2 tags: the inventory a run works on.
//
// - cluster members: instances tagged `<clusterTagKey>=<cluster>` in any state but terminated (a stopped
//   or stopping member is still a member, and may be the failed one), except those tagged
//   `etcd-replace:replaced-by` (a run replaced them);
// - roles: the `<roleTagKey>` tag (default `openshift-role`), a comma list of master, etcd, ca,
//   installer, node; every member must carry it;
// - spare pool: RUNNING instances tagged `<spareTagKey>=<cluster>` that are not members; they join the
//   inventory with role `spare`, in pool order: earliest launch time first, then lowest instance id;
// - hostname: the `<hostnameTagKey>` tag (default `hostname`) when present, else PrivateDnsName; IP:
//   PrivateIpAddress; short name: the `Name` tag when it is a valid host name, else the hostname's first label;
// - the failed member, when the request names it by instance id (the alarm's InstanceId dimension), is a
//   member in any state, terminated or tagged replaced-by too, as long as it carries the cluster tag;
// - a replacement named by the instance id of a running instance outside the pool and the cluster is
//   added as a spare (forRequest);
// - an explicit inventory in the request replaces discovery entirely (no EC2 call).
// Which host is the failed member and which the replacement is resolved on this inventory by the first
// step of the workflow, ValidateInput.
// Missing tags, nothing found, or anything ambiguous (two CA hosts, a name shared by two hosts) is an
// InvalidInputError that says exactly what was found.

import { DescribeInstancesCommand, type DescribeInstancesCommandInput, type EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { errorName, InvalidInputError } from '../../errors.ts';
import type { Host, Inventory, Role } from '../../ports.ts';
import * as validate from '../../validate.ts';
import { REPLACED_BY_TAG } from './launchTags.ts';

const MEMBER_ROLES: readonly Role[] = ['master', 'etcd', 'ca', 'installer', 'node'];
/** Tag keys discovery reads when the configuration names none. */
export const DEFAULT_TAG_KEYS = { spare: 'etcd-replace-spare', role: 'openshift-role', hostname: 'hostname' } as const;
const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped', 'shutting-down'];

export interface Ec2DiscoveryConfig {
  ec2: EC2Client;
  /** Tag whose value is the cluster name, e.g. `KubernetesCluster`. */
  clusterTagKey: string;
  /** Tag whose value names the cluster a spare instance stands by for. Default `etcd-replace-spare`. */
  spareTagKey?: string;
  /** Default `openshift-role`. */
  roleTagKey?: string;
  /** Default `hostname`. */
  hostnameTagKey?: string;
}

export interface DiscoveryRequest {
  cluster: string;
  /** The failed member as the request names it; an instance id is included whatever the instance's state. */
  failed?: string;
  /** The replacement as the request names it; the instance id of a running non-member is added as a spare. */
  replacement?: string;
  /** Explicit hosts: used as given, no discovery. */
  inventory?: Inventory;
}

/** The value of an instance's tag, or undefined. */
export function tagValue(instance: Instance, key: string): string | undefined {
  return instance.Tags?.find((t) => t.Key === key)?.Value;
}
const tag = tagValue;

const HOST_NAME = /^[a-z][a-z0-9-]{0,62}$/;

/** The instance's hostname by discovery's rule: the hostname tag when present, else PrivateDnsName; lowercased, unchecked; undefined when neither. */
export function hostnameOf(instance: Instance, hostnameTagKey: string): string | undefined {
  const raw = (tag(instance, hostnameTagKey) ?? instance.PrivateDnsName ?? '').trim().toLowerCase();
  return raw === '' ? undefined : raw;
}

/** The instance's short name by discovery's rule: the Name tag when it is a valid host name, else the hostname's first label, else the instance ID. */
export function shortNameOf(instance: Instance, hostname: string | undefined): string {
  const nameTag = tag(instance, 'Name')?.trim().toLowerCase();
  const label = hostname?.split('.')[0];
  return nameTag && HOST_NAME.test(nameTag) ? nameTag : label && HOST_NAME.test(label) ? label : (instance.InstanceId ?? '');
}

/**
 * The host an instance is, by discovery's rules (hostnameOf, shortNameOf, PrivateIpAddress), with the
 * given roles. InvalidInputError when it has no hostname or no private IP address.
 */
export function hostOfInstance(instance: Instance, roles: Role[], hostnameTagKey: string): Host {
  const id = validate.instanceId('instanceId', instance.InstanceId);
  const rawHostname = hostnameOf(instance, hostnameTagKey);
  if (rawHostname === undefined) {
    throw new InvalidInputError('inventory', `instance ${id} has no ${hostnameTagKey} tag and no private DNS name`);
  }
  const hostname = validate.hostname(`instance ${id} hostname`, rawHostname);
  if (!instance.PrivateIpAddress) {
    throw new InvalidInputError(
      'inventory',
      `instance ${id} (${instance.State?.Name ?? 'unknown state'}) has no private IP address; pass an explicit inventory`,
    );
  }
  const ip = validate.ipv4(`instance ${id} ip`, instance.PrivateIpAddress);
  return { name: shortNameOf(instance, hostname), hostname, ip, roles, instanceId: id };
}

function describe(instance: Instance, host?: Host): string {
  return `${instance.InstanceId ?? '?'}${host ? ` (${host.name})` : ''}`;
}

function listed(hosts: Host[]): string {
  return hosts.map((h) => `${h.instanceId ?? h.name} (${h.name})`).join(', ');
}

/**
 * Every instance DescribeInstances answers for `input`, across pages. `missingIsEmpty`: an instance ID
 * that does not exist (any more) answers no instance instead of InvalidInstanceID.NotFound.
 */
export async function describeInstances(ec2: Pick<EC2Client, 'send'>, input: DescribeInstancesCommandInput, missingIsEmpty = false): Promise<Instance[]> {
  const instances: Instance[] = [];
  let token: string | undefined;
  do {
    let answer;
    try {
      answer = await ec2.send(new DescribeInstancesCommand({ ...input, ...(token ? { NextToken: token } : {}) }));
    } catch (error) {
      if (missingIsEmpty && errorName(error) === 'InvalidInstanceID.NotFound') return [];
      throw error;
    }
    for (const reservation of answer.Reservations ?? []) instances.push(...(reservation.Instances ?? []));
    token = answer.NextToken;
  } while (token);
  return instances;
}

export class Ec2Discovery {
  readonly #ec2: EC2Client;
  readonly #clusterTag: string;
  readonly #spareTag: string;
  readonly #roleTag: string;
  readonly #hostnameTag: string;

  constructor(config: Ec2DiscoveryConfig) {
    for (const [field, value] of Object.entries({
      clusterTagKey: config.clusterTagKey,
      spareTagKey: config.spareTagKey,
      roleTagKey: config.roleTagKey,
      hostnameTagKey: config.hostnameTagKey,
    })) {
      if (value !== undefined && !/^[A-Za-z0-9 _.:/=+@-]{1,128}$/.test(value)) throw new InvalidInputError(field, `${JSON.stringify(value)} is not a tag key`);
    }
    this.#ec2 = config.ec2;
    this.#clusterTag = config.clusterTagKey;
    this.#spareTag = config.spareTagKey ?? DEFAULT_TAG_KEYS.spare;
    this.#roleTag = config.roleTagKey ?? DEFAULT_TAG_KEYS.role;
    this.#hostnameTag = config.hostnameTagKey ?? DEFAULT_TAG_KEYS.hostname;
  }

  /** Members and running spares of the cluster (the failed member included when named by instance id, whatever its state). */
  async inventory(request: Omit<DiscoveryRequest, 'replacement'>): Promise<Inventory> {
    const cluster = validate.clusterName('cluster', request.cluster);
    if (request.inventory) return explicitInventory(cluster, request.inventory);
    const failedId = request.failed && /^i-/.test(request.failed.trim()) ? validate.instanceId('failed', request.failed.trim()) : undefined;
    const tagged = await describeInstances(this.#ec2, {
      Filters: [
        { Name: `tag:${this.#clusterTag}`, Values: [cluster] },
        { Name: 'instance-state-name', Values: LIVE_STATES },
      ],
    });
    // An instance a run replaced (the signal function tags it) is no member any more, unless named as the failed one.
    const members = tagged.filter((i) => tag(i, REPLACED_BY_TAG) === undefined || i.InstanceId === failedId);
    if (failedId && !members.some((i) => i.InstanceId === failedId)) {
      const [failed] = await describeInstances(this.#ec2, { InstanceIds: [failedId] }, true);
      if (failed) {
        if (tag(failed, this.#clusterTag) !== cluster) {
          throw new InvalidInputError('failed', `instance ${failedId} is not tagged ${this.#clusterTag}=${cluster}`);
        }
        members.push(failed);
      }
    }
    if (members.length === 0) {
      throw new InvalidInputError('cluster', `no instance is tagged ${this.#clusterTag}=${cluster}`);
    }
    const hosts = members.map((instance) => this.#memberHost(instance));
    checkRoles(cluster, hosts, this.#roleTag);

    const memberIds = new Set(members.map((i) => i.InstanceId));
    const spares = sortSpares(
      (
        await describeInstances(this.#ec2, {
          Filters: [
            { Name: `tag:${this.#spareTag}`, Values: [cluster] },
            { Name: 'instance-state-name', Values: ['running'] },
          ],
        })
      ).filter((i) => !memberIds.has(i.InstanceId) && tag(i, REPLACED_BY_TAG) === undefined),
    );
    const all = [...hosts, ...spares.map((instance) => this.#spareHost(instance))];
    assertUniqueNames(cluster, all);
    return { cluster, hosts: all };
  }

  /**
   * The inventory a run works on (StepDeps.resolveInventory): members and running spares, spares in pool
   * order so the first `spare` host is the one ValidateInput takes when no replacement is named. A
   * replacement named by the instance id of a running instance outside the pool (and outside the
   * cluster) is added as a spare, so ValidateInput finds it; anything else it names is left for
   * ValidateInput to match or refuse.
   */
  async forRequest(request: DiscoveryRequest): Promise<Inventory> {
    const inventory = await this.inventory(request);
    const text = request.replacement?.trim().toLowerCase();
    if (!request.inventory && text && /^i-/.test(text) && !inventory.hosts.some((h) => h.instanceId === text)) {
      inventory.hosts.push(await this.#explicitReplacement(validate.instanceId('replacement', text), inventory.cluster));
      assertUniqueNames(inventory.cluster, inventory.hosts);
    }
    return inventory;
  }

  async #explicitReplacement(id: string, cluster: string): Promise<Host> {
    const [instance] = await describeInstances(this.#ec2, { InstanceIds: [id] }, true);
    if (!instance) throw new InvalidInputError('replacement', `instance ${id} does not exist`);
    if (instance.State?.Name !== 'running')
      throw new InvalidInputError('replacement', `instance ${id} is ${instance.State?.Name ?? 'in an unknown state'}, not running`);
    if (tag(instance, this.#clusterTag) === cluster) throw new InvalidInputError('replacement', `instance ${id} is already a member of cluster ${cluster}`);
    return this.#spareHost(instance);
  }

  #baseHost(instance: Instance, roles: Role[]): Host {
    return hostOfInstance(instance, roles, this.#hostnameTag);
  }

  #memberHost(instance: Instance): Host {
    const value = tag(instance, this.#roleTag);
    if (value === undefined || value.trim() === '') {
      throw new InvalidInputError('inventory', `instance ${describe(instance)} has no ${this.#roleTag} tag (a comma list of ${MEMBER_ROLES.join(', ')})`);
    }
    const roles = parseRoles(value, `instance ${describe(instance)} tag ${this.#roleTag}`);
    return this.#baseHost(instance, roles);
  }

  #spareHost(instance: Instance): Host {
    return this.#baseHost(instance, ['spare']);
  }
}

export function parseRoles(value: string, where: string): Role[] {
  const roles: Role[] = [];
  for (const part of value.split(',')) {
    const role = part.trim().toLowerCase();
    if (role === '') continue;
    if (!(MEMBER_ROLES as readonly string[]).includes(role)) {
      throw new InvalidInputError('inventory', `${where}: unknown role ${JSON.stringify(role)} (expected ${MEMBER_ROLES.join(', ')})`);
    }
    if (!roles.includes(role as Role)) roles.push(role as Role);
  }
  if (roles.length === 0) throw new InvalidInputError('inventory', `${where} names no role`);
  return roles;
}

function sortSpares(instances: Instance[]): Instance[] {
  const time = (i: Instance) => (i.LaunchTime ? new Date(i.LaunchTime).getTime() : Number.MAX_SAFE_INTEGER);
  return [...instances].sort((a, b) => time(a) - time(b) || ((a.InstanceId ?? '') < (b.InstanceId ?? '') ? -1 : 1));
}

function checkRoles(cluster: string, hosts: Host[], roleTag: string): void {
  for (const role of ['ca', 'installer'] as const) {
    const found = hosts.filter((h) => h.roles.includes(role));
    if (found.length !== 1) {
      throw new InvalidInputError(
        'inventory',
        `cluster ${cluster}: expected exactly one instance with role ${role} in tag ${roleTag}, found ${found.length}${found.length ? `: ${listed(found)}` : ''}`,
      );
    }
  }
  for (const role of ['master', 'etcd'] as const) {
    if (!hosts.some((h) => h.roles.includes(role))) {
      throw new InvalidInputError('inventory', `cluster ${cluster}: no instance has role ${role} in tag ${roleTag}`);
    }
  }
}

function assertUniqueNames(cluster: string, hosts: Host[]): void {
  const seen = new Map<string, Host>();
  for (const host of hosts) {
    for (const key of [host.name, host.hostname, host.ip]) {
      const other = seen.get(key);
      if (other && other !== host) {
        throw new InvalidInputError('inventory', `cluster ${cluster}: ${listed([other, host])} share ${JSON.stringify(key)}`);
      }
      seen.set(key, host);
    }
  }
}

function explicitInventory(cluster: string, inventory: Inventory): Inventory {
  if (inventory.cluster !== cluster) {
    throw new InvalidInputError('inventory.cluster', `${JSON.stringify(inventory.cluster)} is not the requested cluster ${cluster}`);
  }
  if (!Array.isArray(inventory.hosts) || inventory.hosts.length === 0) throw new InvalidInputError('inventory.hosts', 'must list the hosts');
  const hosts = inventory.hosts.map((host, index): Host => {
    const field = `inventory.hosts[${index}]`;
    return {
      name: validate.hostName(`${field}.name`, host.name),
      hostname: validate.hostname(`${field}.hostname`, host.hostname),
      ip: validate.ipv4(`${field}.ip`, host.ip),
      roles: explicitRoles(host.roles, `${field}.roles`),
      ...(host.instanceId !== undefined ? { instanceId: validate.instanceId(`${field}.instanceId`, host.instanceId) } : {}),
    };
  });
  assertUniqueNames(cluster, hosts);
  checkRoles(
    cluster,
    hosts.filter((h) => !h.roles.includes('spare')),
    'roles',
  );
  return { cluster, hosts };
}

function explicitRoles(value: unknown, field: string): Role[] {
  if (!Array.isArray(value) || value.length === 0) throw new InvalidInputError(field, "must list the host's roles");
  const allowed: readonly string[] = [...MEMBER_ROLES, 'spare'];
  return value.map((role) => {
    if (typeof role !== 'string' || !allowed.includes(role))
      throw new InvalidInputError(field, `unknown role ${JSON.stringify(role)} (expected ${allowed.join(', ')})`);
    return role as Role;
  });
}
