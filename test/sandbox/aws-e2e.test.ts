// End to end through the AWS adapters on real etcd: the whole replacement (runLocally with STEPS) runs
// with StepDeps from awsDeps(), whose SDK clients are aws-sdk-client-mock fakes that behave for real:
//
// - EC2 (one in-memory model): every sandbox host is an instance `i-<17 hex>` with the tags discovery
//   reads (cluster, roles, Name, hostname; spares carry the spare-pool tag instead), its own security
//   group, and a state derived from the host's power (a killed host is `stopped`). DescribeInstances
//   honours InstanceIds and the filters the adapters send (tag:*, instance-state-name,
//   instance.group-id), so Ec2Discovery really finds the cluster. Security groups start from what the
//   sandbox's nft stand-in actually admits; AuthorizeSecurityGroupIngress adds to the model (a
//   duplicate is InvalidPermission.Duplicate, as in EC2) and, once a host's group admits both 2379 and
//   2380 from the etcd group, calls the stand-in's allowEtcdPorts() for that host: the new member
//   becomes reachable on the etcd ports only through this path.
// - SSM: SendCommand runs the AWS-RunShellScript `commands` text with bash ON THE SANDBOX HOST mapped
//   to the instance id (hostExec, executionTimeout honoured) and returns at once, as SSM does;
//   GetCommandInvocation says InProgress until the script ends, then Success/Failed with ResponseCode
//   and output cut to 24,000/8,000 characters. A powered-off host is ConnectionLost in
//   DescribeInstanceInformation and a command sent to it ends Undeliverable (the others are Online).
// - S3: presigned URLs must work from the hosts, with curl. The honest stand-in is a real HTTP server
//   reachable from the hosts: SandboxArtifactStore's presigned-style server on the sandbox gateway.
//   S3ArtifactStore gets a `presign` that returns that server's URLs for the command's Bucket/Key (so
//   the store's key mapping, TTL checks and checksum guard all run); HeadObject/DeleteObject answer
//   from the files that server stored, reporting SSE-KMS with the configured key as a bucket with
//   default SSE-KMS encryption would (head() refuses anything else). Real S3 signing would need a
//   server that verifies SigV4, which proves nothing more about the product.
// - DynamoDB: the document client runs on test/support/aws/fakeDynamoTable.ts, the in-memory table with
//   conditional-write semantics that the lock contract and run store unit tests use.
//
// Then the same independent facts as the sandbox-path test (verifyReplaced), the run record in the
// fake table, and how many SSM commands the replacement sent and how many of them ran alone.

import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  AuthorizeSecurityGroupIngressCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  type Filter,
  type Instance,
  type IpPermission,
} from '@aws-sdk/client-ec2';
import { DeleteObjectCommand, HeadObjectCommand, ListObjectVersionsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CancelCommandCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  SendCommandCommand,
  SSMClient,
  type GetCommandInvocationResult,
} from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, describe, expect, it } from 'vitest';
import { awsDeps } from '../../functions/adapters/aws/deps.ts';
import { TABLE_SCHEMA } from '../../functions/adapters/aws/dynamoTable.ts';
import { permits } from '../../functions/adapters/aws/ec2SecurityGroups.ts';
import type { Presign } from '../../functions/adapters/aws/s3ArtifactStore.ts';
import { runKey } from '../../functions/adapters/aws/dynamoRunStore.ts';
import { SSM_STDERR_LIMIT, SSM_STDOUT_LIMIT } from '../../functions/adapters/aws/ssmHostRunner.ts';
import { SandboxArtifactStore } from '../../functions/adapters/sandbox/artifactServer.ts';
import { ScriptTimedOutError } from '../../functions/errors.ts';
import type { RunRecord } from '../../functions/ports.ts';
import { STEPS } from '../../functions/steps/index.ts';
import { newRunRecord, runLocally } from '../../functions/workflow/localRun.ts';
import { stepTimeline } from '../../functions/workflow/runView.ts';
import { DEFAULT_OPTIONS, type WorkflowContext } from '../../statemachine/context.ts';
import { allowEtcdPorts, describeEtcdPorts, failHost, hostExec, loadSandbox, sandboxDown, sandboxUp, type SandboxHost, type SandboxInfo } from '../../sandbox/index.ts';
import { readPower } from '../../sandbox/model.ts';
import { FakeDynamoTable } from '../support/aws/fakeDynamoTable.ts';
import { makeLeader, recordBefore, verifyReplaced } from '../support/verifyReplaced.ts';

const SCRIPTS_DIR = fileURLToPath(new URL('../../functions/scripts/', import.meta.url));
const REGION = 'eu-west-1';
const BUCKET = 'etcd-replace-artifacts';
const KMS_KEY_ARN = `arn:aws:kms:${REGION}:111122223333:key/0f3c2a1e-5b6d-4c7e-8f90-a1b2c3d4e5f6`;
const TABLE = 'etcd-replace';
const CLUSTER_TAG = 'KubernetesCluster';
const SPARE_TAG = 'etcd-replace-spare';
const ROLE_TAG = 'openshift-role';

const hex = (n: number) => randomBytes(Math.ceil(n / 2)).toString('hex').slice(0, n);
const ETCD_SG = `sg-${hex(17)}`;

const created: string[] = [];
afterAll(async () => {
  for (const name of created) await sandboxDown(name);
}, 120_000);

const awsError = (name: string, message: string, status = 400) => Object.assign(new Error(message), { name, Code: name, $metadata: { httpStatusCode: status } });

// ---------------------------------------------------------------------------------------------
// EC2: instances and security groups.

interface FakeInstance {
  host: SandboxHost;
  id: string;
  groupId: string;
  launchTime: Date;
}

class FakeEc2 {
  readonly groups = new Map<string, IpPermission[]>([[ETCD_SG, []]]);
  readonly authorizeCalls: Array<{ groupId: string; host: string; ports: string }> = [];

  constructor(
    private readonly sandbox: SandboxInfo,
    readonly instances: FakeInstance[],
  ) {}

  static async create(sandbox: SandboxInfo): Promise<FakeEc2> {
    const instances = sandbox.hosts.map((host, index) => ({
      host,
      id: `i-${hex(17)}`,
      groupId: `sg-${hex(17)}`,
      launchTime: new Date(Date.UTC(2030, 0, 1, 0, index)),
    }));
    const ec2 = new FakeEc2(sandbox, instances);
    // Each host's own group admits from the etcd group exactly what the nft stand-in admits now.
    for (const instance of instances) {
      const open = await describeEtcdPorts(sandbox, instance.host.name);
      ec2.groups.set(
        instance.groupId,
        open.map((port) => ({ IpProtocol: 'tcp', FromPort: port, ToPort: port, UserIdGroupPairs: [{ GroupId: ETCD_SG }] })),
      );
    }
    return ec2;
  }

  byId(id: string): FakeInstance | undefined {
    return this.instances.find((i) => i.id === id);
  }

  idOf(hostName: string): string {
    return this.instances.find((i) => i.host.name === hostName)!.id;
  }

  async describe(instance: FakeInstance): Promise<Instance> {
    const { host } = instance;
    const spare = host.roles.includes('spare');
    const power = await readPower(this.sandbox.stateDir, host.name);
    const groups = spare ? [instance.groupId] : [instance.groupId, ETCD_SG];
    const tags: Record<string, string> = spare
      ? { [SPARE_TAG]: this.sandbox.name, Name: host.name, hostname: host.hostname }
      : { [CLUSTER_TAG]: this.sandbox.name, [ROLE_TAG]: host.roles.join(','), Name: host.name, hostname: host.hostname };
    return {
      InstanceId: instance.id,
      State: power === 'off' ? { Code: 80, Name: 'stopped' } : { Code: 16, Name: 'running' },
      PrivateIpAddress: host.ip,
      PrivateDnsName: `ip-${host.ip.replace(/\./g, '-')}.${REGION}.compute.internal`,
      LaunchTime: instance.launchTime,
      Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
      SecurityGroups: groups.map((GroupId) => ({ GroupId })),
      NetworkInterfaces: [{ Attachment: { DeviceIndex: 0 }, Groups: groups.map((GroupId) => ({ GroupId })) }],
    };
  }

  async describeInstances(input: { InstanceIds?: string[]; Filters?: Filter[] }) {
    for (const id of input.InstanceIds ?? []) {
      if (!this.byId(id)) throw awsError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
    }
    const all = await Promise.all(this.instances.filter((i) => !input.InstanceIds || input.InstanceIds.includes(i.id)).map((i) => this.describe(i)));
    const found = all.filter((instance) =>
      (input.Filters ?? []).every((filter) => {
        const values = filter.Values ?? [];
        const name = filter.Name ?? '';
        if (name.startsWith('tag:')) return values.includes(instance.Tags?.find((t) => t.Key === name.slice(4))?.Value ?? '\u0000');
        if (name === 'instance-state-name') return values.includes(instance.State?.Name ?? '');
        if (name === 'instance.group-id') return (instance.SecurityGroups ?? []).some((g) => values.includes(g.GroupId ?? ''));
        throw new Error(`fake EC2: unsupported filter ${name}`);
      }),
    );
    return { Reservations: found.length ? [{ Instances: found }] : [] };
  }

  describeSecurityGroups(input: { GroupIds?: string[] }) {
    const ids = input.GroupIds ?? [...this.groups.keys()];
    for (const id of ids) if (!this.groups.has(id)) throw awsError('InvalidGroup.NotFound', `The security group '${id}' does not exist`);
    return { SecurityGroups: ids.map((GroupId) => ({ GroupId, IpPermissions: structuredClone(this.groups.get(GroupId)!) })) };
  }

  async authorize(input: { GroupId?: string; IpPermissions?: IpPermission[] }) {
    const groupId = input.GroupId ?? '';
    const rules = this.groups.get(groupId);
    if (!rules) throw awsError('InvalidGroup.NotFound', `The security group '${groupId}' does not exist`);
    for (const p of input.IpPermissions ?? []) {
      const source = p.UserIdGroupPairs?.[0]?.GroupId;
      if (p.IpRanges?.length || p.Ipv6Ranges?.length || !source) throw new Error('fake EC2: the adapter must authorize from a source group only');
      const duplicate = rules.some(
        (r) => r.IpProtocol === p.IpProtocol && r.FromPort === p.FromPort && r.ToPort === p.ToPort && r.UserIdGroupPairs?.some((g) => g.GroupId === source),
      );
      if (duplicate) throw awsError('InvalidPermission.Duplicate', `the specified rule "peer: ${source}, TCP, from port: ${p.FromPort}, to port: ${p.ToPort}, ALLOW" already exists`);
    }
    rules.push(...structuredClone(input.IpPermissions ?? []));
    // The stand-in opens both ports together: open it once the group admits both from the etcd group.
    for (const instance of this.instances.filter((i) => i.groupId === groupId)) {
      this.authorizeCalls.push({ groupId, host: instance.host.name, ports: (input.IpPermissions ?? []).map((p) => `${p.FromPort}-${p.ToPort}`).join(',') });
      if ([2379, 2380].every((port) => rules.some((r) => permits(r, port, ETCD_SG)))) await allowEtcdPorts(this.sandbox, instance.host.name);
    }
    return { Return: true };
  }
}

// ---------------------------------------------------------------------------------------------
// SSM: Run Command on the sandbox hosts.

interface Invocation {
  commandId: string;
  instanceId: string;
  host: string;
  script: string;
  sentAt: number;
  endedAt?: number;
  /** When the runner saw the terminal status (GetCommandInvocation). */
  collectedAt?: number;
  answer?: GetCommandInvocationResult;
}

const cut = (text: string, limit: number) => (text.length > limit ? text.slice(0, limit) : text);

class FakeSsm {
  readonly invocations: Invocation[] = [];
  /** Online count of commands that overlapped another one (second counting method). */
  readonly overlapped = new Set<string>();
  #inFlight = new Set<string>();

  constructor(
    private readonly sandbox: SandboxInfo,
    private readonly ec2: FakeEc2,
  ) {}

  async describeInstanceInformation(input: { Filters?: Array<{ Key?: string; Values?: string[] }> }) {
    const ids = input.Filters?.find((f) => f.Key === 'InstanceIds')?.Values;
    const list = [];
    for (const instance of this.ec2.instances.filter((i) => !ids || ids.includes(i.id))) {
      const power = await readPower(this.sandbox.stateDir, instance.host.name);
      list.push({ InstanceId: instance.id, PingStatus: power === 'off' ? 'ConnectionLost' : 'Online', PlatformType: 'Linux', ResourceType: 'EC2Instance', ComputerName: instance.host.hostname });
    }
    return { InstanceInformationList: list };
  }

  async sendCommand(input: { DocumentName?: string; InstanceIds?: string[]; Comment?: string; Parameters?: Record<string, string[]> }) {
    if (input.DocumentName !== 'AWS-RunShellScript') throw awsError('InvalidDocument', `document ${input.DocumentName ?? ''} is not AWS-RunShellScript`);
    const [instanceId, ...more] = input.InstanceIds ?? [];
    const instance = instanceId ? this.ec2.byId(instanceId) : undefined;
    if (!instance || more.length) throw awsError('InvalidInstanceId', 'Instances not in a valid state for account');
    const commands = input.Parameters?.['commands'];
    if (!commands?.length) throw awsError('InvalidParameters', 'commands is required');
    const executionTimeout = Number(input.Parameters?.['executionTimeout']?.[0] ?? 3600);
    const invocation: Invocation = {
      commandId: randomUUID(),
      instanceId: instance.id,
      host: instance.host.name,
      script: (input.Comment ?? '').replace(/^etcd-replace /, '').split(' ')[0] ?? '',
      sentAt: performance.now(),
    };
    this.invocations.push(invocation);
    if (this.#inFlight.size > 0) {
      this.overlapped.add(invocation.commandId);
      for (const id of this.#inFlight) this.overlapped.add(id);
    }
    this.#inFlight.add(invocation.commandId);
    const finish = (answer: GetCommandInvocationResult) => {
      invocation.endedAt = performance.now();
      invocation.answer = { CommandId: invocation.commandId, InstanceId: instance.id, DocumentName: 'AWS-RunShellScript', ...answer };
      this.#inFlight.delete(invocation.commandId);
    };
    if ((await readPower(this.sandbox.stateDir, instance.host.name)) === 'off') {
      // A stopped instance's agent never picks the command up: Undeliverable.
      finish({ Status: 'Failed', StatusDetails: 'Undeliverable', ResponseCode: -1, StandardOutputContent: '', StandardErrorContent: '' });
    } else {
      // The agent runs the commands with a shell on the host; the command is accepted before it runs.
      hostExec(this.sandbox, instance.host.name, ['bash', '-c', commands.join('\n')], { timeoutMs: executionTimeout * 1000 }).then(
        (r) =>
          finish({
            Status: r.exitCode === 0 ? 'Success' : 'Failed',
            StatusDetails: r.exitCode === 0 ? 'Success' : 'Failed',
            ResponseCode: r.exitCode,
            StandardOutputContent: cut(r.stdout, SSM_STDOUT_LIMIT),
            StandardErrorContent: cut(r.stderr, SSM_STDERR_LIMIT),
          }),
        (error: unknown) =>
          finish(
            error instanceof ScriptTimedOutError
              ? { Status: 'TimedOut', StatusDetails: 'ExecutionTimedOut', ResponseCode: -1, StandardOutputContent: '', StandardErrorContent: '' }
              : { Status: 'Failed', StatusDetails: 'Undeliverable', ResponseCode: -1, StandardOutputContent: '', StandardErrorContent: String(error) },
          ),
      );
    }
    return { Command: { CommandId: invocation.commandId, DocumentName: 'AWS-RunShellScript', InstanceIds: [instance.id], Status: 'Pending' } };
  }

  getCommandInvocation(input: { CommandId?: string; InstanceId?: string }): GetCommandInvocationResult {
    const invocation = this.invocations.find((i) => i.commandId === input.CommandId && i.instanceId === input.InstanceId);
    if (!invocation) throw awsError('InvocationDoesNotExist', 'An error occurred (InvocationDoesNotExist)');
    if (!invocation.answer) return { CommandId: invocation.commandId, InstanceId: invocation.instanceId, Status: 'InProgress', StatusDetails: 'InProgress', ResponseCode: -1 };
    invocation.collectedAt ??= performance.now();
    return invocation.answer;
  }
}

/** Commands whose interval overlaps no other command's interval. */
function alone(invocations: Invocation[], end: (i: Invocation) => number): Invocation[] {
  return invocations.filter((a) => invocations.every((b) => b === a || end(b) <= a.sentAt || b.sentAt >= end(a)));
}

// ---------------------------------------------------------------------------------------------
// S3: objects are the files of a presigned-URL server on the sandbox gateway.

function fakeS3(s3: S3Client, server: SandboxArtifactStore) {
  const s3Mock = mockClient(s3);
  s3Mock.onAnyCommand().rejects(new Error('fake S3: unexpected command'));
  const file = (input: { Bucket?: string; Key?: string }) => {
    if (input.Bucket !== BUCKET) throw awsError('NoSuchBucket', `no bucket ${input.Bucket ?? ''}`, 404);
    return path.join(server.dir, input.Key ?? '');
  };
  s3Mock.on(HeadObjectCommand).callsFake(async (input: { Bucket?: string; Key?: string }) => {
    try {
      const info = await stat(file(input));
      return { ContentLength: info.size, LastModified: info.mtime, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: KMS_KEY_ARN };
    } catch {
      throw awsError('NotFound', 'Not Found', 404);
    }
  });
  // A versioned bucket: one current version per file, listed as S3 lists it; deleting it deletes the file.
  s3Mock.on(ListObjectVersionsCommand).callsFake(async (input: { Bucket?: string; Prefix?: string }) => {
    const exists = await stat(file({ Bucket: input.Bucket, Key: input.Prefix })).then(() => true, () => false);
    return { IsTruncated: false, Versions: exists ? [{ Key: input.Prefix, VersionId: 'v1', IsLatest: true }] : [] };
  });
  s3Mock.on(DeleteObjectCommand).callsFake(async (input: { Bucket?: string; Key?: string }) => {
    await unlink(file(input)).catch(() => undefined);
    return {};
  });
  const presign: Presign = async (_client, command, { expiresIn }) => {
    if (command.input.Bucket !== BUCKET) throw new Error(`fake S3: presign for bucket ${command.input.Bucket ?? ''}`);
    const key = command.input.Key ?? '';
    return command instanceof PutObjectCommand ? server.uploadUrl(key, expiresIn) : server.downloadUrl(key, expiresIn);
  };
  return { s3Mock, presign };
}

// ---------------------------------------------------------------------------------------------

describe('Workflow: replace a failed member through the AWS adapters (SSM, EC2, S3, DynamoDB fakes on the sandbox)', () => {
  it('replaces the powered-off leader of a 3-member cluster, discovered from EC2 tags', async () => {
    const name = `t-aws-${hex(6)}`;
    created.push(name);
    const sandbox = await sandboxUp({ name, members: 3, spares: 1, nodes: 1, dataMb: 4 });
    await makeLeader(sandbox, 'master-2');
    const before = await recordBefore(sandbox);
    await failHost(name, 'master-2', 'kill');
    const info = await loadSandbox(name);

    const ec2 = await FakeEc2.create(info);
    const ssm = new FakeSsm(info, ec2);
    const artifactServer = new SandboxArtifactStore({ dir: path.join(info.stateDir, 'aws-s3', BUCKET), host: info.gateway });
    await mkdir(artifactServer.dir, { recursive: true });
    await artifactServer.start();
    try {
      const clients = {
        ssm: new SSMClient({ region: REGION }),
        ec2: new EC2Client({ region: REGION }),
        s3: new S3Client({ region: REGION, requestChecksumCalculation: 'WHEN_REQUIRED' }),
        doc: DynamoDBDocumentClient.from(new DynamoDBClient({ region: REGION })),
      };
      const ssmMock = mockClient(clients.ssm);
      ssmMock.onAnyCommand().rejects(new Error('fake SSM: unexpected command'));
      ssmMock.on(DescribeInstanceInformationCommand).callsFake((input) => ssm.describeInstanceInformation(input));
      ssmMock.on(SendCommandCommand).callsFake((input) => ssm.sendCommand(input));
      ssmMock.on(GetCommandInvocationCommand).callsFake((input) => ssm.getCommandInvocation(input));
      ssmMock.on(CancelCommandCommand).resolves({});
      const ec2Mock = mockClient(clients.ec2);
      ec2Mock.onAnyCommand().rejects(new Error('fake EC2: unexpected command'));
      ec2Mock.on(DescribeInstancesCommand).callsFake((input) => ec2.describeInstances(input));
      ec2Mock.on(DescribeSecurityGroupsCommand).callsFake((input) => ec2.describeSecurityGroups(input));
      ec2Mock.on(AuthorizeSecurityGroupIngressCommand).callsFake((input) => ec2.authorize(input));
      const { s3Mock, presign } = fakeS3(clients.s3, artifactServer);
      const docMock = mockClient(clients.doc);
      docMock.onAnyCommand().rejects(new Error('fake DynamoDB: unexpected command'));
      const table = new FakeDynamoTable({
        indexes: Object.fromEntries(Object.values(TABLE_SCHEMA.indexes).map((i) => [i.name, { partitionKey: i.partitionKey, sortKey: i.sortKey }])),
      });
      table.attach(docMock);

      const sent: string[] = [];
      const deps = await awsDeps(
        { AWS_REGION: REGION, BUCKET, KMS_KEY_ID: KMS_KEY_ARN, TABLE, ETCD_SG_ID: ETCD_SG, CLUSTER_TAG_KEY: CLUSTER_TAG, SCRIPTS_DIR, ARTIFACT_PREFIX: 'etcd-replace/' },
        clients,
        { presign, log: () => {}, onCommand: (e) => sent.push(e.commandId) },
      );

      const failedId = ec2.idOf('master-2');
      const context: WorkflowContext = {
        runId: `r-aws-${hex(6)}`,
        // The alarm's InstanceId dimension names the failed member; no inventory: discovery by tags.
        request: { cluster: name, failed: failedId, replacement: 'etcd-spare-0', startedBy: 'alarm:etcd-member-down' },
        options: { ...DEFAULT_OPTIONS, graceSeconds: 0 },
      };
      const record = newRunRecord(context, 'aws', new Date());
      await deps.runs.save(record);
      const ended = await runLocally(record, { deps, steps: STEPS, runs: deps.runs, target: 'aws' });

      const timeline = stepTimeline(ended);
      console.log(timeline.map((s) => `${s.name.padEnd(24)} ${s.status.padEnd(9)} x${s.attempts} ${s.detail ?? s.error?.message ?? ''}`).join('\n'));
      expect(ended.reason).toBeUndefined();
      expect(ended.outcome).toBe('succeeded');
      const status = Object.fromEntries(timeline.map((s) => [s.name, s.status]));
      // A learner (then its promotion) where every member runs etcd 3.4 or later; OpenShift 3.11's 3.2: the plain add.
      const learner = !/^3\.[23]\./.test(info.etcdVersion);
      expect(status).toMatchObject({ RemoveFailedMember: 'succeeded', AddMember: 'succeeded', OpenEtcdPorts: 'succeeded', PromoteNewMember: learner ? 'succeeded' : 'skipped', BackUpFailedMemberData: 'skipped', CompensateNewMember: 'skipped' });

      // Discovery found the hosts by tags, with instance ids, and the failed member by its id.
      const ctx = ended.context as unknown as WorkflowContext;
      expect(ctx.failedHost).toMatchObject({ name: 'master-2', instanceId: failedId });
      expect(ctx.replacement).toMatchObject({ name: 'etcd-spare-0', instanceId: ec2.idOf('etcd-spare-0'), roles: ['spare'] });
      expect(ctx.inventory?.hosts.map((h) => h.name).sort()).toEqual(info.hosts.map((h) => h.name).sort());

      // The run record in the table, read back through the store and raw.
      const stored = (await deps.runs.get(context.runId)) as RunRecord;
      expect(stored.outcome).toBe('succeeded');
      expect(stored.target).toBe('aws');
      expect(table.items.get(JSON.stringify([runKey(context.runId).pk, 'run']))).toMatchObject({ outcome: 'succeeded', state: 'Succeeded', cluster: name });
      // The lock was released.
      expect([...table.items.values()].filter((i) => String(i['pk']).startsWith('lock#'))).toEqual([]);

      // EC2: ports opened only on the replacement, from the etcd security group; the stand-in agrees.
      expect(new Set(ec2.authorizeCalls.map((c) => c.host))).toEqual(new Set(['etcd-spare-0']));
      expect(await describeEtcdPorts(info, 'etcd-spare-0')).toEqual([2379, 2380]);

      // S3: the snapshot and the certificate bundle went through presigned URLs into the bucket.
      expect(s3Mock.commandCalls(HeadObjectCommand).length).toBeGreaterThan(0);
      expect(ctx.snapshotKey && (await deps.artifacts.head(ctx.snapshotKey))?.size).toBeGreaterThan(0);

      // SSM: no request carries a signed URL or key material; the URLs went sealed to one-time host keys.
      const requests = ssmMock.commandCalls(SendCommandCommand).map((c) => JSON.stringify(c.args[0].input));
      expect(requests.filter((r) => /sig=[0-9a-f]{16}|X-Amz-Signature|PRIVATE KEY/.test(r))).toEqual([]);
      expect(requests.filter((r) => r.includes('OneTimeKey for StartNewMember')).length).toBeGreaterThan(0);
      expect(requests.filter((r) => r.includes('openssl pkeyutl -decrypt')).length).toBeGreaterThanOrEqual(4);

      // SSM: nothing was ever sent to the powered-off host (it is ConnectionLost), every command ended.
      const commands = ssm.invocations;
      expect(commands.every((c) => c.host !== 'master-2' && c.answer && c.collectedAt !== undefined)).toBe(true);
      // Every command sent was reported once by the runner; steps send some side by side, whose
      // SendCommand answers may come back in either order.
      expect(commands.map((c) => c.commandId).sort()).toEqual([...sent].sort());
      expect(ssmMock.commandCalls(SendCommandCommand).length).toBe(commands.length);
      expect(deps.runner.commandsSent).toBe(commands.length);
      // Sequential: ran while no other command was in flight. Method 1: on the hosts (send → script
      // exit), offline pairwise; method 2: online, counting commands sent while another was running;
      // method 3: as the runner saw them (send → terminal GetCommandInvocation).
      const sequentialOnHosts = alone(commands, (c) => c.endedAt!).length;
      const sequentialOnline = commands.length - ssm.overlapped.size;
      const sequentialForRunner = alone(commands, (c) => c.collectedAt!).length;
      const perScript = Object.entries(
        commands.reduce<Record<string, number>>((acc, c) => ({ ...acc, [c.script]: (acc[c.script] ?? 0) + 1 }), {}),
      ).map(([s, n]) => `${s} ${n}`);
      console.log(
        `SSM commands: ${commands.length} sent, ${sequentialOnHosts} sequential (on the hosts; online count ${sequentialOnline}, as the runner saw them ${sequentialForRunner}); by script: ${perScript.join(', ')}; concurrent: ${commands.filter((c) => ssm.overlapped.has(c.commandId)).map((c) => `${c.script}@${c.host}`).join(', ')}`,
      );
      expect(commands.length).toBeGreaterThan(0);
      expect(sequentialOnHosts).toBeGreaterThan(0);
      expect(sequentialOnline).toBe(sequentialOnHosts);
      expect(sequentialForRunner).toBe(sequentialOnHosts);

      // The same independent facts as the sandbox path.
      await verifyReplaced(await loadSandbox(name), 'master-2', 'etcd-spare-0', before);
    } finally {
      await artifactServer.close();
    }
  });
});
