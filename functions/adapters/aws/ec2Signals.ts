// EC2's own failure signals for the cluster's etcd members.
//
// onStateChange: an "EC2 Instance State-change Notification" (stopping, stopped, shutting-down,
// terminated). EventBridge cannot match on tags, so the rule sends every instance's event here and this
// reads the instance: a member of this cluster is an instance tagged `<clusterTag>=<cluster>` whose role
// tag names `etcd` (discovery.ts's rules: a failed host must be an etcd member). Any other instance, or a
// member tagged `etcd-replace:maintenance` (a person stops it on purpose) or `etcd-replace:replaced-by`
// (a run has replaced it already), is ignored. For a member it starts the replacement with the request
// the alarm rule builds (`failed`: the instance ID, as the alarm rule names it: discovery finds the
// instance in any state, a terminated one too; `startedBy`: `ec2:<instance ID>:<state>`; `evidence`: the
// signal, final for the states of `finalStates`, default `terminated`; no `replacement`, so the run
// takes a spare of the pool or launches one), under the CLI's default execution name (the member's host name): the several events of one failure (stopping, then stopped; an
// at-least-once redelivery) start one execution.
//
// onRunSucceeded: after a run that replaced members (one, several, or a restore's re-added members;
// statemachine/membershipChanges.ts), tags each replaced instance
// `etcd-replace:replaced-by=<run ID>` (so its later stop or termination starts nothing, and discovery no
// longer counts it a member), enrols each new member's instance (a spare of the pool, or launched for
// the run) as an etcd member of the cluster (`<clusterTag>=<cluster>`, `<roleTag>=etcd`: its own later
// stop starts a replacement, and no later run takes it for a spare), and keeps a
// status-check alarm (statusAlarms.ts) on every etcd member the configuration does not list yet: the
// cluster's tagged members and the run's new member. A run-time alarm goes when its instance is gone or
// replaced; the stack's own alarms are never touched.

import { CreateTagsCommand, type EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { errorName } from '../../errors.ts';
import type { Host } from '../../ports.ts';
import * as validate from '../../validate.ts';
import { runIdFromExecutionName } from '../../handlers/event.ts';
import type { WorkflowContext } from '../../../statemachine/context.ts';
import { membershipChanges } from '../../../statemachine/membershipChanges.ts';
import { DEFAULT_TAG_KEYS, describeInstances, hostnameOf, parseRoles, shortNameOf, tagValue } from './discovery.ts';
import { defaultExecutionName } from './executions.ts';
import { REPLACED_BY_TAG } from './launchTags.ts';
import { WatchedStatusAlarms, type WatchedMember } from './statusAlarms.ts';

/** A person marks a member so while stopping it on purpose: its state changes start nothing. */
export const MAINTENANCE_TAG = 'etcd-replace:maintenance';
/** The states that mean a member is going away. */
export const FAILURE_STATES = ['stopping', 'stopped', 'shutting-down', 'terminated'] as const;

const MEMBER_STATES = ['pending', 'running', 'stopping', 'stopped'];

export interface Ec2SignalsConfig {
  ec2: Pick<EC2Client, 'send'>;
  sfn: Pick<SFNClient, 'send'>;
  cloudwatch: Pick<CloudWatchClient, 'send'>;
  cluster: string;
  clusterTagKey: string;
  roleTagKey?: string;
  hostnameTagKey?: string;
  stateMachineArn: string;
  /** The grace window of runs these signals start (the alarm rule's alarmGraceSeconds). */
  graceSeconds: number;
  /** The states that are final evidence (default `terminated`): the run confirms the failure without the grace window's wait. */
  finalStates?: readonly string[];
  /** Instance IDs of the configured members: the stack watches them itself. */
  configuredMembers: readonly string[];
  statusCheckMinutes: number;
  now?: () => Date;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

export type SignalOutcome =
  | { action: 'started'; executionName: string; executionArn: string; failed: string; instanceId: string }
  | { action: 'duplicate'; executionName: string; failed: string; instanceId: string }
  | { action: 'ignored'; reason: string; instanceId?: string };

export interface StateChangeDetail {
  'instance-id'?: unknown;
  state?: unknown;
}

export interface ExecutionSucceededDetail {
  name?: string;
  status?: string;
  output?: string | null;
}

export interface WatchOutcome {
  put: string[];
  deleted: string[];
  /** The replaced members' instances, tagged replaced-by. */
  tagged?: string[];
  /** The new members' instances, tagged as etcd members of the cluster. */
  enrolled?: string[];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function hostOf(value: unknown): Host | undefined {
  return isObject(value) && typeof value['name'] === 'string' && typeof value['instanceId'] === 'string' ? (value as unknown as Host) : undefined;
}

export class Ec2Signals {
  readonly #c: Ec2SignalsConfig;
  readonly #roleTag: string;
  readonly #hostnameTag: string;
  readonly #alarms: WatchedStatusAlarms;

  constructor(config: Ec2SignalsConfig) {
    this.#c = config;
    this.#roleTag = config.roleTagKey ?? DEFAULT_TAG_KEYS.role;
    this.#hostnameTag = config.hostnameTagKey ?? DEFAULT_TAG_KEYS.hostname;
    this.#alarms = new WatchedStatusAlarms({ cloudwatch: config.cloudwatch, cluster: config.cluster, minutes: config.statusCheckMinutes });
  }

  async onStateChange(detail: StateChangeDetail): Promise<SignalOutcome> {
    const state = String(detail.state ?? '');
    const raw = detail['instance-id'];
    if (typeof raw !== 'string' || !/^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/.test(raw)) return { action: 'ignored', reason: 'the event names no instance' };
    const instanceId = raw;
    if (!(FAILURE_STATES as readonly string[]).includes(state)) return { action: 'ignored', reason: `state ${state} is no failure`, instanceId };
    const [instance] = await describeInstances(this.#c.ec2, { InstanceIds: [instanceId] }, true);
    if (!instance) return { action: 'ignored', reason: 'EC2 does not list the instance', instanceId };
    const why = this.#notAWatchedMember(instance);
    if (why) return { action: 'ignored', reason: why, instanceId };

    const { cluster } = this.#c;
    const failed = shortNameOf(instance, hostnameOf(instance, this.#hostnameTag));
    const now = (this.#c.now ?? (() => new Date()))();
    const final = (this.#c.finalStates ?? ['terminated']).includes(state);
    const evidence = { signal: 'ec2-state-change', state, at: now.toISOString(), instanceId, ...(final ? { final } : {}) };
    const request = {
      cluster,
      failed: instanceId,
      startedBy: `ec2:${instanceId}:${state}`,
      evidence,
      options: { graceSeconds: this.#c.graceSeconds, learner: 'auto' },
    };
    const executionName = defaultExecutionName({ cluster, failed }, now);
    try {
      const out = await this.#c.sfn.send(
        new StartExecutionCommand({ stateMachineArn: this.#c.stateMachineArn, name: executionName, input: JSON.stringify(request) }),
      );
      return { action: 'started', executionName, executionArn: out.executionArn ?? '', failed, instanceId };
    } catch (error) {
      // The same failure seen again (stopping, then stopped; a redelivered event), or started already by the CLI.
      if (errorName(error) === 'ExecutionAlreadyExists') return { action: 'duplicate', executionName, failed, instanceId };
      throw error;
    }
  }

  async onRunSucceeded(detail: ExecutionSucceededDetail): Promise<WatchOutcome> {
    let context: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(detail.output ?? '{}');
      if (isObject(parsed)) context = parsed;
    } catch {
      // no output (larger than the event carries): the tagged members are still watched
    }
    // Every member the run replaced or added: one, each of several, or a restore's re-added members.
    const changes = membershipChanges(context as unknown as WorkflowContext);
    // A restore's forced or restored host was a member already (tagged so): only new ones are enrolled.
    const joined = changes.joined.flatMap((h) => hostOf(h) ?? []).filter((h) => !h.roles.includes('etcd'));
    const removed = changes.left.flatMap((h) => hostOf(h) ?? []);
    const tagged: string[] = [];
    const enrolled: string[] = [];
    if (detail.name) {
      const replacedBy = [{ Key: REPLACED_BY_TAG, Value: runIdFromExecutionName(detail.name) }];
      for (const h of removed) if (await this.#tag(h.instanceId!, replacedBy, 'the replaced instance')) tagged.push(h.instanceId!);
    }
    const membership = [
      { Key: this.#c.clusterTagKey, Value: this.#c.cluster },
      { Key: this.#roleTag, Value: 'etcd' },
    ];
    for (const h of joined) if (await this.#tag(h.instanceId!, membership, 'the new member as a member of the cluster')) enrolled.push(h.instanceId!);
    const { put, deleted } = await this.watchMembers({ joined, removed });
    return { put, deleted, ...(tagged.length > 0 ? { tagged } : {}), ...(enrolled.length > 0 ? { enrolled } : {}) };
  }

  /** Puts a status-check alarm on every unconfigured etcd member, and deletes those of instances gone or replaced. */
  async watchMembers(run: { joined?: Host[]; removed?: Host[] } = {}): Promise<{ put: string[]; deleted: string[] }> {
    const configured = new Set(this.#c.configuredMembers);
    const removedIds = new Set((run.removed ?? []).map((h) => h.instanceId));
    const members = await describeInstances(
      this.#c.ec2,
      {
        Filters: [
          { Name: `tag:${this.#c.clusterTagKey}`, Values: [this.#c.cluster] },
          { Name: 'instance-state-name', Values: MEMBER_STATES },
        ],
      },
      true,
    );
    const watched = new Map<string, WatchedMember>();
    for (const instance of members) {
      if (this.#notAWatchedMember(instance, { ignoreMaintenance: true }) || !instance.InstanceId) continue;
      watched.set(instance.InstanceId, { instanceId: instance.InstanceId, name: shortNameOf(instance, hostnameOf(instance, this.#hostnameTag)) });
    }
    for (const h of run.joined ?? [])
      if (h.instanceId) watched.set(h.instanceId, { instanceId: h.instanceId, name: validate.hostName('replacement.name', h.name) });
    for (const id of [...watched.keys()]) if (configured.has(id) || removedIds.has(id)) watched.delete(id);

    const existing = await this.#alarms.list();
    const put: string[] = [];
    for (const member of watched.values()) if (!existing.has(member.instanceId)) put.push(await this.#alarms.put(member));

    const candidates = [...existing].filter(([id]) => !watched.has(id));
    const alive = new Set(
      candidates.length === 0
        ? []
        : (await describeInstances(this.#c.ec2, { Filters: [{ Name: 'instance-id', Values: candidates.map(([id]) => id) }] }, true))
            .filter((i) => MEMBER_STATES.includes(i.State?.Name ?? ''))
            .map((i) => i.InstanceId),
    );
    // Kept: an instance that still runs but carries no member tags (a new member of an earlier run).
    const deleted = candidates.filter(([id]) => removedIds.has(id) || configured.has(id) || !alive.has(id)).map(([, name]) => name);
    await this.#alarms.delete(deleted);
    return { put, deleted };
  }

  /** Why the instance is no etcd member this function watches; undefined when it is one. */
  #notAWatchedMember(instance: Instance, options: { ignoreMaintenance?: boolean } = {}): string | undefined {
    const { cluster, clusterTagKey } = this.#c;
    if (tagValue(instance, clusterTagKey) !== cluster) return `not tagged ${clusterTagKey}=${cluster}`;
    let roles: string[];
    try {
      roles = parseRoles(tagValue(instance, this.#roleTag) ?? '', `instance ${instance.InstanceId ?? '?'} tag ${this.#roleTag}`);
    } catch {
      return `no valid ${this.#roleTag} tag`;
    }
    if (!roles.includes('etcd')) return `not an etcd member (roles ${roles.join(', ')})`;
    if (tagValue(instance, REPLACED_BY_TAG) !== undefined) return `replaced already (${REPLACED_BY_TAG}=${tagValue(instance, REPLACED_BY_TAG)})`;
    if (!options.ignoreMaintenance && tagValue(instance, MAINTENANCE_TAG) !== undefined) return `under maintenance (${MAINTENANCE_TAG})`;
    return undefined;
  }

  /**
   * Tags one instance; false (logged) when EC2 refuses: the instance is gone, or is not one IAM lets this
   * function tag (a replaced member only among the cluster's instances, a new member only among its spares).
   */
  async #tag(instanceId: string, tags: Array<{ Key: string; Value: string }>, what: string): Promise<boolean> {
    try {
      await this.#c.ec2.send(new CreateTagsCommand({ Resources: [instanceId], Tags: tags }));
      return true;
    } catch (error) {
      this.#c.log?.(`could not tag ${what}`, { instanceId, error: errorName(error) });
      return false;
    }
  }
}
