// The provisioning port on EC2: the replacement host a run launches when no spare is at hand.
//
// - find: the run's instance, by its tags `etcd-replace:run=<runId>` and `<spareTag>=<cluster>`, in any
//   state but terminated or shutting down;
// - provision: find, else RunInstances from the configured launch template (one instance, a ClientToken
//   derived from the run, so EC2 itself never launches twice for one run), in the failed host's subnet
//   (its Availability Zone follows) unless a subnet is configured, tagged on the instance and its
//   volumes with the spare tag (discovery then sees a spare of the cluster), the run tag,
//   `etcd-replace:launched-by` and a Name `etcd-new-<hash of the run>`. Then waits, boundedly, until it
//   runs, its SSM agent is Online, and it has a private IP and a hostname (discovery's rules, shared
//   with discovery.ts). Not ready in time: ReplacementNotReadyError, which the workflow retries;
//   cannot be launched (capacity, template, permission, limit): ProvisioningError;
// - release: terminates the run's instance, and only after reading back that it carries the run tag
//   and `etcd-replace:launched-by` (IAM allows TerminateInstances on no other instance either).

import { RunInstancesCommand, TerminateInstancesCommand, type EC2Client, type Instance, type RunInstancesCommandInput, type Tag } from '@aws-sdk/client-ec2';
import { DescribeInstanceInformationCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { errorMessage, errorName, ProvisioningError, ReplacementNotReadyError } from '../../errors.ts';
import type { ProvisionedHost, ProvisioningPort, ProvisionRequest } from '../../ports.ts';
import * as validate from '../../validate.ts';
import { DEFAULT_TAG_KEYS, describeInstances, hostnameOf, hostOfInstance, tagValue } from './discovery.ts';
import { LAUNCHED_BY_TAG, LAUNCHED_BY_VALUE, launchClientToken, launchedHostName, RUN_TAG } from './launchTags.ts';

/** The states in which a launched instance still exists for the run (terminated and shutting-down do not count). */
const EXISTING_STATES = ['pending', 'running', 'stopping', 'stopped'];

/** EC2 error codes that no retry of the same request can fix. */
const PERMANENT_LAUNCH_ERRORS = [
  /^InsufficientInstanceCapacity$/,
  /^InsufficientCapacity/,
  /^InstanceLimitExceeded$/,
  /^VcpuLimitExceeded$/,
  /^MaxSpotInstanceCountExceeded$/,
  /^InsufficientFreeAddressesInSubnet$/,
  /^InvalidLaunchTemplate/,
  /^InvalidAMIID/,
  /^InvalidSubnet/,
  /^InvalidParameter/,
  /^InvalidGroup/,
  /^InvalidKeyPair/,
  /^UnauthorizedOperation$/,
  /^AccessDenied/,
  /^IdempotentParameterMismatch$/,
  /^Unsupported/,
  /^OptInRequired$/,
];

/** The launch template, as the configuration names it: its ID or its name, and a version (`$Default`, `$Latest` or a number). */
export interface LaunchTemplateRef {
  id?: string;
  name?: string;
  version: string;
}

export interface Ec2ProvisioningConfig {
  ec2: EC2Client;
  ssm: SSMClient;
  /** The spare-pool tag key; its value is the cluster. Default as discovery's. */
  spareTagKey?: string;
  hostnameTagKey?: string;
  /** Absent: provision refuses with a ProvisioningError naming the configuration key; find and release still work. */
  launchTemplate?: LaunchTemplateRef;
  /** Launch here instead of the failed host's subnet. */
  subnetId?: string;
  /** The configuration key an operator sets the launch template with, for the error that says it is missing. */
  configKey?: string;
  /** How long one provision call waits for the instance to be ready. Default 60 s. */
  waitSeconds?: number;
  pollSeconds?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

function hasTag(instance: Instance, key: string, value: string): boolean {
  return tagValue(instance, key) === value;
}

function awsErrorCode(error: unknown): string {
  const e = error as { name?: string; Code?: string } | undefined;
  return e?.Code ?? e?.name ?? 'Error';
}

function isTransient(error: unknown): boolean {
  const e = error as { $retryable?: unknown; $metadata?: { httpStatusCode?: number }; name?: string } | undefined;
  if (e?.$retryable) return true;
  if ((e?.$metadata?.httpStatusCode ?? 0) >= 500) return true;
  return /Throttl|RequestLimitExceeded|TooManyRequests|ServiceUnavailable|InternalError|TimeoutError|ECONNRESET/.test(errorName(error));
}

export function describeTemplate(template: LaunchTemplateRef): string {
  return `${template.id ?? template.name ?? '?'} (version ${template.version})`;
}

export class Ec2Provisioning implements ProvisioningPort {
  readonly #ec2: EC2Client;
  readonly #ssm: SSMClient;
  readonly #spareTag: string;
  readonly #hostnameTag: string;
  readonly #config: Ec2ProvisioningConfig;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #now: () => number;

  constructor(config: Ec2ProvisioningConfig) {
    if (config.launchTemplate && !config.launchTemplate.id === !config.launchTemplate.name) {
      throw new ProvisioningError('the launch template must be named by its ID or by its name, not both and not neither');
    }
    this.#config = config;
    this.#ec2 = config.ec2;
    this.#ssm = config.ssm;
    this.#spareTag = config.spareTagKey ?? DEFAULT_TAG_KEYS.spare;
    this.#hostnameTag = config.hostnameTagKey ?? DEFAULT_TAG_KEYS.hostname;
    this.#sleep = config.sleep ?? ((ms) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    this.#now = config.now ?? (() => Date.now());
  }

  async find(runId: string, cluster: string): Promise<ProvisionedHost | null> {
    const instance = await this.#findInstance(validate.runId('runId', runId), validate.clusterName('cluster', cluster));
    if (!instance) return null;
    const id = instance.InstanceId as string;
    if (!instance.PrivateIpAddress || !hostnameOf(instance, this.#hostnameTag)) {
      throw new ReplacementNotReadyError(`${id}, launched by run ${runId}, is ${instance.State?.Name ?? 'in an unknown state'} and has no address yet`);
    }
    return { host: this.#hostOf(instance), id };
  }

  async provision(request: ProvisionRequest): Promise<ProvisionedHost> {
    const runId = validate.runId('runId', request.runId);
    const cluster = validate.clusterName('cluster', request.cluster);
    const existing = await this.#findInstance(runId, cluster);
    const id = existing?.InstanceId ?? (await this.#launch(runId, cluster, request));
    return this.#awaitReady(id, runId);
  }

  async release(runId: string, cluster: string): Promise<'released' | 'absent'> {
    const found = await this.#findInstance(validate.runId('runId', runId), validate.clusterName('cluster', cluster));
    if (!found) return 'absent';
    const id = found.InstanceId as string;
    // Read it back by ID and check its own tags: a filter that matched by mistake never terminates anything.
    const [instance] = await describeInstances(this.#ec2, { InstanceIds: [id] }, true);
    if (!instance || ['terminated', 'shutting-down'].includes(instance.State?.Name ?? '')) return 'absent';
    if (!hasTag(instance, RUN_TAG, runId) || !hasTag(instance, LAUNCHED_BY_TAG, LAUNCHED_BY_VALUE) || !hasTag(instance, this.#spareTag, cluster)) {
      throw new ProvisioningError(
        `instance ${id} does not carry ${RUN_TAG}=${runId}, ${LAUNCHED_BY_TAG}=${LAUNCHED_BY_VALUE} and ${this.#spareTag}=${cluster}: it was not launched by this run and is not terminated`,
      );
    }
    await this.#ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    return 'released';
  }

  /** The launched instance as a spare host, by discovery's rules. */
  #hostOf(instance: Instance): ProvisionedHost['host'] {
    try {
      return hostOfInstance(instance, ['spare'], this.#hostnameTag);
    } catch (error) {
      throw new ProvisioningError(`the launched host ${instance.InstanceId ?? '?'} cannot be used: ${errorMessage(error)}`, { cause: error });
    }
  }

  async #findInstance(runId: string, cluster: string): Promise<Instance | undefined> {
    const found = await describeInstances(this.#ec2, {
      Filters: [
        { Name: `tag:${RUN_TAG}`, Values: [runId] },
        { Name: `tag:${this.#spareTag}`, Values: [cluster] },
        { Name: 'instance-state-name', Values: EXISTING_STATES },
      ],
    });
    const time = (i: Instance) => (i.LaunchTime ? new Date(i.LaunchTime).getTime() : 0);
    return found
      .filter((i) => hasTag(i, RUN_TAG, runId) && EXISTING_STATES.includes(i.State?.Name ?? ''))
      .sort((a, b) => time(a) - time(b) || ((a.InstanceId ?? '') < (b.InstanceId ?? '') ? -1 : 1))[0];
  }

  async #launch(runId: string, cluster: string, request: ProvisionRequest): Promise<string> {
    const template = this.#config.launchTemplate;
    if (!template) {
      throw new ProvisioningError(
        `the deployment configuration has no launch template (${this.#config.configKey ?? 'replacementLaunchTemplate'}): no replacement host can be launched; name one there, or put a running spare into the pool (${this.#spareTag}=${cluster})`,
      );
    }
    const subnetId = this.#config.subnetId ?? (await this.#subnetOf(request.failedHost?.instanceId));
    const tags: Tag[] = [
      { Key: this.#spareTag, Value: cluster },
      { Key: RUN_TAG, Value: runId },
      { Key: LAUNCHED_BY_TAG, Value: LAUNCHED_BY_VALUE },
      { Key: 'Name', Value: launchedHostName(runId) },
    ];
    const input: RunInstancesCommandInput = {
      LaunchTemplate: { ...(template.id ? { LaunchTemplateId: template.id } : { LaunchTemplateName: template.name }), Version: template.version },
      MinCount: 1,
      MaxCount: 1,
      ClientToken: launchClientToken(cluster, runId),
      ...(subnetId ? { SubnetId: subnetId } : {}),
      TagSpecifications: [
        { ResourceType: 'instance', Tags: tags },
        { ResourceType: 'volume', Tags: tags },
      ],
    };
    let instance: Instance | undefined;
    try {
      instance = (await this.#ec2.send(new RunInstancesCommand(input))).Instances?.[0];
    } catch (error) {
      const code = awsErrorCode(error);
      const where = `from launch template ${describeTemplate(template)}${subnetId ? ` in subnet ${subnetId}` : ''}`;
      if (!PERMANENT_LAUNCH_ERRORS.some((p) => p.test(code)) && isTransient(error)) {
        // The same ClientToken on the next attempt returns the instance if this one was launched after all.
        throw new ReplacementNotReadyError(`the launch ${where} was not accepted yet (${code}: ${errorMessage(error)})`, { cause: error });
      }
      throw new ProvisioningError(`could not launch a replacement host ${where}: ${code}: ${errorMessage(error)}`, { cause: error });
    }
    const id = instance?.InstanceId;
    if (!id) throw new ProvisioningError(`RunInstances ${describeTemplate(template)} returned no instance`);
    return id;
  }

  /** The subnet of the failed member's instance, so the new member lands in its subnet and Availability Zone; undefined when it is not known (the template's own network settings then apply). */
  async #subnetOf(instanceId: string | undefined): Promise<string | undefined> {
    if (!instanceId) return undefined;
    const [instance] = await describeInstances(this.#ec2, { InstanceIds: [instanceId] }, true);
    return instance?.SubnetId || undefined;
  }

  async #awaitReady(id: string, runId: string): Promise<ProvisionedHost> {
    const deadline = this.#now() + (this.#config.waitSeconds ?? 60) * 1000;
    const pollMs = (this.#config.pollSeconds ?? 5) * 1000;
    let waitingFor = 'its description';
    for (;;) {
      const missing = await this.#notReady(id).catch((error: unknown) => {
        if (isTransient(error)) return `an answer from EC2 or SSM (${errorName(error)})`;
        throw error;
      });
      if (typeof missing !== 'string') return { host: this.#hostOf(missing), id };
      waitingFor = missing;
      if (this.#now() + pollMs > deadline) break;
      await this.#sleep(pollMs);
    }
    throw new ReplacementNotReadyError(`${id}, launched by run ${runId}, is not ready yet: waiting for ${waitingFor}`);
  }

  /** The instance when it is ready; else what it still waits for. ProvisioningError when it will never be ready. */
  async #notReady(id: string): Promise<Instance | string> {
    const [instance] = await describeInstances(this.#ec2, { InstanceIds: [id] }, true);
    if (!instance) return 'EC2 to list it';
    const state = instance.State?.Name ?? 'unknown';
    if (['shutting-down', 'terminated', 'stopping', 'stopped'].includes(state)) {
      throw new ProvisioningError(
        `${id}, the host this run launched, is ${state}${instance.StateReason?.Message ? ` (${instance.StateReason.Message})` : ''}: it will not become ready; start a new run (it launches another) after terminating it`,
      );
    }
    if (state !== 'running') return `state running (it is ${state})`;
    if (!instance.PrivateIpAddress) return 'a private IP address';
    if (!hostnameOf(instance, this.#hostnameTag)) return `a ${this.#hostnameTag} tag or a private DNS name`;
    const info = (
      await this.#ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [id] }] }))
    ).InstanceInformationList?.find((i) => i.InstanceId === id);
    if (!info) return 'its SSM agent to register';
    if (info.PingStatus !== 'Online') return `its SSM agent to be Online (it is ${info.PingStatus ?? 'unknown'})`;
    return instance;
  }
}
