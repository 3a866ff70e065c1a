// EC2 and SSM as the sandbox makes them: every sandbox host is an instance with the tags the deployed
// stack's discovery and IAM conditions read, its own security group (tagged with the cluster, as the
// docs ask of the new member's group), and a state from the host's power. Security-group ingress from
// the cluster's etcd group is the sandbox's nftables security group: Authorize and Revoke change the
// host's `etcd_allowed` set (sandbox/securityGroup.ts), so the new member becomes reachable on
// 2379/2380 only through EC2 calls. SSM Run Command runs each AWS-RunShellScript command with bash on
// the host mapped to the instance, accepted at once and collected with GetCommandInvocation; a
// powered-off host, and a partitioned one (its agent cannot reach the SSM endpoint on the machine, as the
// sandbox's partition cuts the machine off too), is ConnectionLost and a command sent to it ends Undeliverable.

import { randomBytes, randomUUID } from 'node:crypto';
import { describeEtcdPorts, failHost, fenceHost, hostExec, unfenceHost, type SandboxHost, type SandboxInfo } from '../sandbox/index.ts';
import { readPower } from '../sandbox/model.ts';
import { ScriptTimedOutError } from '../functions/errors.ts';
import { delay, NO_LATENCY, type LatencyModel } from './latency.ts';

const hex = (n: number) =>
  randomBytes(Math.ceil(n / 2))
    .toString('hex')
    .slice(0, n);

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = code;
  }
}

export interface IpRule {
  protocol: string;
  fromPort: number;
  toPort: number;
  sourceGroup: string;
  description?: string;
}

export interface Instance {
  id: string;
  host: SandboxHost;
  groupId: string;
  launchTime: Date;
  tags: Record<string, string>;
  groups: string[];
}

export interface Invocation {
  commandId: string;
  instanceId: string;
  host: string;
  comment: string;
  sentAt: number;
  requestedAt: Date;
  /** The SendCommand request as the caller sent it (its JSON), to check what travels in it. */
  request: string;
  answer?: { Status: string; StatusDetails: string; ResponseCode: number; StandardOutputContent: string; StandardErrorContent: string };
  /** When the script ended on the host (performance.now()). */
  endedAt?: number;
  /** When the caller first read the terminal status (GetCommandInvocation). */
  collectedAt?: number;
}

/** A change of a security group's ingress, and the hosts whose group it is. */
export interface IngressChange {
  action: 'authorize' | 'revoke';
  groupId: string;
  hosts: string[];
  rules: IpRule[];
}

/** What GetCommandInvocation returns inline. */
const STDOUT_LIMIT = 24_000;
const STDERR_LIMIT = 8_000;
const ETCD_PORTS = [2379, 2380];

export class SandboxCloud {
  readonly instances: Instance[] = [];
  readonly groups = new Map<string, { tags: Record<string, string>; rules: IpRule[]; noEgress?: boolean }>();
  /** Every change of a network interface's groups (the restore's network fence), in order. */
  readonly interfaceChanges: Array<{ instanceId: string; host: string; groups: string[]; fenced: boolean }> = [];
  /** Instances stopped through StopInstances (`fenceUnreachable: stop-instance`). */
  readonly stopped: string[] = [];
  readonly invocations: Invocation[] = [];
  /** Commands sent while another was running on any host, and that other one (counted as they are sent). */
  readonly overlapped = new Set<string>();
  readonly ingressChanges: IngressChange[] = [];
  readonly #inFlight = new Set<string>();
  /** What SSM adds to each command (latency.ts); the rehearsal sets it per run. */
  latency: LatencyModel = NO_LATENCY;
  /** Instances EC2 reports terminated (the rehearsal's `--state terminated`): their hosts are powered off. */
  readonly terminated = new Set<string>();
  readonly #createdAt = performance.now();

  private constructor(
    readonly sandbox: SandboxInfo,
    readonly tagKeys: { cluster: string; spare: string; role: string },
    readonly clusterName: string,
    readonly etcdGroupId: string,
    readonly region: string,
    readonly account: string,
  ) {}

  static async create(options: {
    sandbox: SandboxInfo;
    clusterName: string;
    tagKeys: { cluster: string; spare: string; role?: string };
    etcdGroupId: string;
    /** Instance IDs to use for named hosts (the configuration's members); others get fresh ones. */
    instanceIds?: Record<string, string>;
    region: string;
    account: string;
  }): Promise<SandboxCloud> {
    const { sandbox } = options;
    const cloud = new SandboxCloud(
      sandbox,
      { role: 'openshift-role', ...options.tagKeys },
      options.clusterName,
      options.etcdGroupId,
      options.region,
      options.account,
    );
    cloud.groups.set(options.etcdGroupId, { tags: { [cloud.tagKeys.cluster]: options.clusterName, Name: 'etcd' }, rules: [] });
    sandbox.hosts.forEach((host, index) => {
      const spare = host.roles.includes('spare');
      const member = host.roles.includes('etcd');
      const groupId = `sg-${hex(17)}`;
      const tags: Record<string, string> = spare
        ? { [cloud.tagKeys.spare]: options.clusterName, Name: host.name, hostname: host.hostname }
        : { [cloud.tagKeys.cluster]: options.clusterName, [cloud.tagKeys.role]: host.roles.join(','), Name: host.name, hostname: host.hostname };
      cloud.instances.push({
        id: options.instanceIds?.[host.name] ?? `i-${hex(17)}`,
        host,
        groupId,
        launchTime: new Date(Date.UTC(2030, 0, 1, 0, index)),
        tags,
        groups: member ? [groupId, options.etcdGroupId] : [groupId],
      });
      cloud.groups.set(groupId, { tags: { [cloud.tagKeys.cluster]: options.clusterName, Name: host.name }, rules: [] });
    });
    // Each host's own group admits from the etcd group what the sandbox's nft security group admits now.
    for (const instance of cloud.instances) {
      const open = await describeEtcdPorts(sandbox, instance.host.name);
      cloud.groups
        .get(instance.groupId)!
        .rules.push(...open.map((port) => ({ protocol: 'tcp', fromPort: port, toPort: port, sourceGroup: options.etcdGroupId })));
    }
    return cloud;
  }

  byId(id: string): Instance | undefined {
    return this.instances.find((i) => i.id === id);
  }

  idOf(hostName: string): string {
    const found = this.instances.find((i) => i.host.name === hostName);
    if (!found) throw new Error(`no instance for ${hostName}`);
    return found.id;
  }

  async state(instance: Instance): Promise<{ code: number; name: string }> {
    if (this.terminated.has(instance.id)) return { code: 48, name: 'terminated' };
    return (await readPower(this.sandbox.stateDir, instance.host.name)) === 'off' ? { code: 80, name: 'stopped' } : { code: 16, name: 'running' };
  }

  // EC2 ---------------------------------------------------------------------------------------

  async describeInstances(
    ids: string[],
    filters: Array<{ name: string; values: string[] }>,
  ): Promise<Array<Instance & { state: { code: number; name: string } }>> {
    for (const id of ids) if (!this.byId(id)) throw new ApiError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
    const out = [];
    for (const instance of this.instances) {
      if (ids.length > 0 && !ids.includes(instance.id)) continue;
      const state = await this.state(instance);
      const ok = filters.every(({ name, values }) => {
        if (name.startsWith('tag:')) return values.includes(instance.tags[name.slice(4)] ?? '\u0000');
        if (name === 'instance-state-name') return values.includes(state.name);
        if (name === 'instance.group-id') return instance.groups.some((g) => values.includes(g));
        if (name === 'instance-id') return values.includes(instance.id);
        throw new ApiError('InvalidParameterValue', `The filter '${name}' is invalid`);
      });
      if (ok) out.push({ ...instance, state });
    }
    return out;
  }

  describeSecurityGroups(ids: string[]): Array<{ groupId: string; tags: Record<string, string>; rules: IpRule[]; noEgress?: boolean }> {
    const list = ids.length > 0 ? ids : [...this.groups.keys()];
    for (const id of list) if (!this.groups.has(id)) throw new ApiError('InvalidGroup.NotFound', `The security group '${id}' does not exist`);
    return list.map((groupId) => ({ groupId, ...structuredClone(this.groups.get(groupId)!) }));
  }

  groupTags(groupId: string): Record<string, string> {
    const group = this.groups.get(groupId);
    if (!group) throw new ApiError('InvalidGroup.NotFound', `The security group '${groupId}' does not exist`);
    return group.tags;
  }

  async authorize(groupId: string, rules: IpRule[]): Promise<void> {
    const group = this.groups.get(groupId);
    if (!group) throw new ApiError('InvalidGroup.NotFound', `The security group '${groupId}' does not exist`);
    for (const r of rules) {
      if (!this.groups.has(r.sourceGroup)) throw new ApiError('InvalidGroup.NotFound', `The security group '${r.sourceGroup}' does not exist`);
      if (group.rules.some((x) => x.protocol === r.protocol && x.fromPort === r.fromPort && x.toPort === r.toPort && x.sourceGroup === r.sourceGroup)) {
        throw new ApiError(
          'InvalidPermission.Duplicate',
          `the specified rule "peer: ${r.sourceGroup}, TCP, from port: ${r.fromPort}, to port: ${r.toPort}, ALLOW" already exists`,
        );
      }
    }
    group.rules.push(...rules);
    this.ingressChanges.push({ action: 'authorize', groupId, hosts: this.#hostsOf(groupId), rules });
    await this.#syncFirewall(groupId);
  }

  async revoke(groupId: string, rules: IpRule[]): Promise<void> {
    const group = this.groups.get(groupId);
    if (!group) throw new ApiError('InvalidGroup.NotFound', `The security group '${groupId}' does not exist`);
    for (const r of rules) {
      const at = group.rules.findIndex(
        (x) => x.protocol === r.protocol && x.fromPort === r.fromPort && x.toPort === r.toPort && x.sourceGroup === r.sourceGroup,
      );
      if (at < 0) throw new ApiError('InvalidPermission.NotFound', 'The specified rule does not exist in this security group.');
      group.rules.splice(at, 1);
    }
    this.ingressChanges.push({ action: 'revoke', groupId, hosts: this.#hostsOf(groupId), rules });
    await this.#syncFirewall(groupId);
  }

  #hostsOf(groupId: string): string[] {
    return this.instances.filter((i) => i.groups.includes(groupId)).map((i) => i.host.name);
  }

  /** Each etcd port is in the host's nft set exactly when its group admits it from the etcd group. */
  async #syncFirewall(groupId: string): Promise<void> {
    const rules = this.groups.get(groupId)!.rules;
    for (const instance of this.instances.filter((i) => i.groupId === groupId)) {
      const open = await describeEtcdPorts(this.sandbox, instance.host.name);
      for (const port of ETCD_PORTS) {
        const admitted = rules.some(
          (r) => (r.protocol === 'tcp' || r.protocol === '-1') && r.fromPort <= port && port <= r.toPort && r.sourceGroup === this.etcdGroupId,
        );
        if (admitted === open.includes(port)) continue;
        const verb = admitted ? 'add' : 'delete';
        const r = await hostExec(this.sandbox, instance.host.name, ['nft', verb, 'element', 'inet', 'sandbox_sg', 'etcd_allowed', `{ ${port} }`], {
          timeoutMs: 10_000,
        });
        if (r.exitCode !== 0) throw new Error(`nft ${verb} ${port} on ${instance.host.name}: ${r.stderr}`);
      }
    }
  }

  /** A group the stack creates (the restore's quarantine group): its tags, no inbound rule, no outbound rule when `noEgress`. */
  addGroup(groupId: string, tags: Record<string, string>, noEgress: boolean): void {
    this.groups.set(groupId, { tags, rules: [], noEgress });
  }

  /** The instance's one network interface (`eni-` and its instance ID's digits), as DescribeInstances names it. */
  byInterface(eni: string): Instance {
    const found = this.instances.find((i) => `eni-${i.id.slice(2)}` === eni);
    if (!found) throw new ApiError('InvalidNetworkInterfaceID.NotFound', `The networkInterface ID '${eni}' does not exist`);
    return found;
  }

  /**
   * ModifyNetworkInterfaceAttribute's Groups: the interface's groups replaced. The sandbox's fence (an nft
   * table closing 2379/2380 both ways) holds exactly while no group of the host lets traffic out: the
   * quarantine group alone. Its ingress follows from its groups as before.
   */
  async setInterfaceGroups(eni: string, groups: string[]): Promise<void> {
    const instance = this.byInterface(eni);
    if (groups.length === 0) throw new ApiError('MissingParameter', 'The request must contain the parameter groupId');
    for (const g of groups) if (!this.groups.has(g)) throw new ApiError('InvalidGroup.NotFound', `The security group '${g}' does not exist`);
    instance.groups = [...groups];
    const fenced = groups.every((g) => this.groups.get(g)!.noEgress === true);
    if (fenced) await fenceHost(this.sandbox, instance.host.name);
    else await unfenceHost(this.sandbox, instance.host.name);
    this.interfaceChanges.push({ instanceId: instance.id, host: instance.host.name, groups: [...groups], fenced });
  }

  /** StopInstances: the host powered off, as a stopped instance is (its disk, and so its data, kept). */
  async stopInstance(id: string): Promise<{ previous: { code: number; name: string } }> {
    const instance = this.byId(id);
    if (!instance) throw new ApiError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
    const previous = await this.state(instance);
    if (previous.name === 'running') {
      await failHost(this.sandbox.name, instance.host.name, 'kill');
      this.stopped.push(id);
    }
    return { previous };
  }

  // SSM ---------------------------------------------------------------------------------------

  /** The host's SSM agent cannot reach the service: the host is powered off, or partitioned from the machine. */
  async #agentCutOff(host: string): Promise<boolean> {
    return (await readPower(this.sandbox.stateDir, host)) !== 'running';
  }

  async instanceInformation(ids: string[] | undefined): Promise<Array<Record<string, unknown>>> {
    const list = [];
    for (const instance of this.instances.filter((i) => !ids || ids.includes(i.id))) {
      const lost = await this.#agentCutOff(instance.host.name);
      list.push({
        InstanceId: instance.id,
        PingStatus: lost ? 'ConnectionLost' : 'Online',
        PlatformType: 'Linux',
        PlatformName: 'Red Hat Enterprise Linux Server',
        ResourceType: 'EC2Instance',
        ComputerName: instance.host.hostname,
        IPAddress: instance.host.ip,
        AgentVersion: '3.3.1611.0',
        IsLatestVersion: false,
        LastPingDateTime: Date.now() / 1000,
      });
    }
    return list;
  }

  async sendCommand(input: { instanceId: string; commands: string[]; executionTimeout: number; comment: string; request: string }): Promise<Invocation> {
    const instance = this.byId(input.instanceId);
    if (!instance) throw new ApiError('InvalidInstanceId', 'Instances [[' + input.instanceId + ']] not in a valid state for account ' + this.account);
    const invocation: Invocation = {
      commandId: randomUUID(),
      instanceId: instance.id,
      host: instance.host.name,
      comment: input.comment,
      request: input.request,
      sentAt: performance.now(),
      requestedAt: new Date(),
    };
    this.invocations.push(invocation);
    if (this.#inFlight.size > 0) {
      this.overlapped.add(invocation.commandId);
      for (const id of this.#inFlight) this.overlapped.add(id);
    }
    this.#inFlight.add(invocation.commandId);
    // SSM's own time (latency.ts): delivery to the agent before the script starts, the agent's reply and
    // the service's record of it after the script ends; until then GetCommandInvocation says InProgress.
    const { ssmMs, agentPollMs } = this.latency;
    const finish = (answer: NonNullable<Invocation['answer']>) => {
      invocation.endedAt = performance.now();
      void delay(ssmMs / 2).then(() => {
        invocation.answer = answer;
        this.#inFlight.delete(invocation.commandId);
      });
    };
    const delivered = async () => {
      if (agentPollMs > 0) await delay(agentPollMs - ((performance.now() - this.#createdAt) % agentPollMs));
      await delay(ssmMs / 2);
    };
    if (await this.#agentCutOff(instance.host.name)) {
      finish({ Status: 'Failed', StatusDetails: 'Undeliverable', ResponseCode: -1, StandardOutputContent: '', StandardErrorContent: '' });
    } else {
      void delivered().then(() =>
        hostExec(this.sandbox, instance.host.name, ['bash', '-c', input.commands.join('\n')], { timeoutMs: input.executionTimeout * 1000 }).then(
          (r) =>
            finish({
              Status: r.exitCode === 0 ? 'Success' : 'Failed',
              StatusDetails: r.exitCode === 0 ? 'Success' : 'Failed',
              ResponseCode: r.exitCode,
              StandardOutputContent: r.stdout.slice(0, STDOUT_LIMIT),
              StandardErrorContent: r.stderr.slice(0, STDERR_LIMIT),
            }),
          (error: unknown) =>
            finish(
              error instanceof ScriptTimedOutError
                ? { Status: 'TimedOut', StatusDetails: 'ExecutionTimedOut', ResponseCode: -1, StandardOutputContent: '', StandardErrorContent: '' }
                : { Status: 'Failed', StatusDetails: 'Undeliverable', ResponseCode: -1, StandardOutputContent: '', StandardErrorContent: String(error) },
            ),
        ),
      );
    }
    return invocation;
  }

  /** GetCommandInvocation: the invocation, marked collected once its caller has seen it end. */
  invocation(commandId: string, instanceId: string): Invocation {
    const found = this.invocations.find((i) => i.commandId === commandId && i.instanceId === instanceId);
    if (!found) throw new ApiError('InvocationDoesNotExist', '');
    if (found.answer) found.collectedAt ??= performance.now();
    return found;
  }

  /** Commands still running on the hosts (none should be left when the run has ended). */
  running(): Invocation[] {
    return this.invocations.filter((i) => !i.answer);
  }
}
