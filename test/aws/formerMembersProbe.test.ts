// The health probe's fence of returned former members (functions/handlers/formerMembers.ts) over a faked
// EC2 (the quarantine group of the network fence), S3 (the artifact bucket) and CloudWatch, the host scripts
// answered by the fake runner: a former member that powered on again is fenced on the host once and
// published (FormerMemberFenced), the members and a powered-off former member are left, and without the
// quarantine group or the bucket it is off.

import { mockClient } from 'aws-sdk-client-mock';
import { DescribeInstancesCommand, DescribeNetworkInterfacesCommand, EC2Client, ModifyNetworkInterfaceAttributeCommand } from '@aws-sdk/client-ec2';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { MetricDatum } from '@aws-sdk/client-cloudwatch';
import { beforeEach, describe, expect, it } from 'vitest';
import { HostUnreachableError } from '../../functions/errors.ts';
import type { Host } from '../../functions/ports.ts';
import { FORMER_MEMBER_FENCE_FAILED_METRIC, FORMER_MEMBER_FENCED_METRIC, formerMemberFenceFromEnv } from '../../functions/handlers/formerMembers.ts';
import { formerFenceId } from '../../functions/cluster/returnedHosts.ts';
import { FakeRunner } from '../support/fakeRunner.ts';

const QUARANTINE = 'sg-0f0f0f0f0f0f0f0f0';
const HOST_SG = 'sg-0aaaaaaaaaaaaaaa1';
const KMS = 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555';
const hosts: Host[] = ['master-0', 'master-1', 'master-2'].map((name, i) => ({
  name,
  hostname: `${name}.ocp.example.internal`,
  ip: `10.0.1.${10 + i}`,
  instanceId: `i-0123456789abcdef${i}`,
  roles: ['etcd'],
}));
/** After a restore from master-2, with master-1 re-added: master-0 is the former member left fenced. */
const members = [
  { ID: 0xa2, name: 'master-2.ocp.example.internal', peerURLs: ['https://10.0.1.12:2380'], clientURLs: ['https://10.0.1.12:2379'] },
  { ID: 0xc1, name: 'master-1.ocp.example.internal', peerURLs: ['https://10.0.1.11:2380'], clientURLs: ['https://10.0.1.11:2379'] },
];
const FENCE_ID = formerFenceId(members.map((m) => ({ id: m.ID.toString(16).padStart(16, '0') })));

const ec2Mock = mockClient(EC2Client);
const s3Mock = mockClient(S3Client);
const ec2 = new EC2Client({ region: 'eu-west-1' });
const s3 = new S3Client({
  region: 'eu-west-1',
  requestChecksumCalculation: 'WHEN_REQUIRED',
  credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'unit-test-secret' },
});

let stored: Map<string, number>;
let master0: 'on' | 'off' | 'stopped';

function fakeAws(): void {
  ec2Mock.on(DescribeInstancesCommand).callsFake((input: { InstanceIds?: string[] }) => {
    const id = input.InstanceIds?.[0] ?? '';
    return {
      Reservations: [{ Instances: [{ InstanceId: id, State: { Name: 'running' }, NetworkInterfaces: [{ NetworkInterfaceId: `eni-${id.slice(2)}` }] }] }],
    };
  });
  ec2Mock.on(DescribeNetworkInterfacesCommand).callsFake((input: { NetworkInterfaceIds?: string[] }) => ({
    NetworkInterfaces: (input.NetworkInterfaceIds ?? []).map((id) => ({
      NetworkInterfaceId: id,
      Groups: [{ GroupId: id === `eni-${hosts[0]!.instanceId!.slice(2)}` ? QUARANTINE : HOST_SG }],
    })),
  }));
  s3Mock.on(HeadObjectCommand).callsFake((input: { Key?: string }) => {
    const size = stored.get(input.Key ?? '');
    if (size === undefined) throw Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } });
    return { ContentLength: size, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: KMS };
  });
}

function fakeHosts(): FakeRunner {
  const runner = new FakeRunner();
  runner.on('etcdctl', { stdout: { header: { cluster_id: 1, member_id: 0xa2 }, members } }, { args: ['member-list'] });
  runner.on('DescribeEtcdHost', () =>
    master0 === 'off'
      ? new HostUnreachableError('i-0123456789abcdef0 is not connected to SSM')
      : {
          stdout: {
            staticPod: master0 === 'on',
            unitActive: false,
            unitEnabled: false,
            installedVersion: null,
            listening: master0 === 'on',
            running: null,
            dataDirEmpty: false,
          },
        },
  );
  runner.on(
    'FenceFormerMember',
    (request) => {
      master0 = 'stopped';
      stored.set(`etcd-replace/runs/${request.args[1]}/fence-master-0.ocp.example.internal.tgz`, 2048);
      return { stdout: { stopped: true, kind: 'pod', backup: { marked: false, empty: false, bytes: 2048, sha256: 'c'.repeat(64), manifest: 'd'.repeat(64) } } };
    },
    { args: ['fence'] },
  );
  runner.on('FenceFormerMember', { stdout: { confirmed: true, markedBefore: false } }, { args: ['confirm'] });
  return runner;
}

const ENV = { QUARANTINE_SG_ID: QUARANTINE, BUCKET: 'etcd-replace-artifacts-123456789012', KMS_KEY_ID: KMS };

function probe(runner: FakeRunner, env: Record<string, string> = ENV) {
  const puts: MetricDatum[][] = [];
  const logs: Array<Record<string, unknown>> = [];
  const fence = formerMemberFenceFromEnv(
    env,
    { ec2, s3, runner },
    {
      cluster: 'ocp',
      namespace: 'EtcdReplace',
      hosts,
      metrics: { put: async (_namespace, data) => void puts.push(data) },
      now: () => new Date('2026-12-07T15:00:00Z'),
      log: (fields) => void logs.push(fields),
    },
  );
  return { fence, puts, logs };
}

const value = (data: MetricDatum[] | undefined, name: string) => data?.find((d) => d.MetricName === name)?.Value;

beforeEach(() => {
  ec2Mock.reset();
  s3Mock.reset();
  stored = new Map();
  master0 = 'on';
  fakeAws();
});

describe('Health probe: returned former members', () => {
  it('is off without the quarantine group or the bucket', () => {
    const runner = fakeHosts();
    expect(probe(runner, { BUCKET: ENV.BUCKET }).fence).toBeUndefined();
    expect(probe(runner, { QUARANTINE_SG_ID: QUARANTINE }).fence).toBeUndefined();
  });

  it('fences a former member that powered on again on the host once, publishes it, and leaves the members', async () => {
    const runner = fakeHosts();
    const { fence, puts, logs } = probe(runner);
    const first = await fence!();
    expect(first.fenced).toBe(1);
    expect(first.failed).toBe(0);
    expect(first.hosts.map((h) => [h.host, h.action, h.changed])).toEqual([
      ['master-0', 'fenced-on-host', true],
      ['master-1', 'left', false],
      ['master-2', 'left', false],
    ]);
    // The member list was read through the hosts the quarantine group does not hold; only master-0 was fenced.
    expect(runner.sent('etcdctl')[0]).toMatch(/^etcdctl@master-1 member-list /);
    expect(runner.sent('FenceFormerMember')).toEqual([
      `FenceFormerMember@master-0 fence ${FENCE_ID}`,
      `FenceFormerMember@master-0 confirm ${FENCE_ID} 2048 ${'c'.repeat(64)} ${'d'.repeat(64)}`,
    ]);
    // The upload URL, presigned for the bucket, reached the host on stdin only.
    const upload = runner.of('FenceFormerMember')[0]!;
    expect(upload.secrets?.['UPLOAD_URL']).toContain(`etcd-replace/runs/${FENCE_ID}/fence-master-0.ocp.example.internal.tgz`);
    expect(upload.args.join(' ')).not.toContain('https://');
    expect(ec2Mock.commandCalls(ModifyNetworkInterfaceAttributeCommand)).toHaveLength(0);
    expect(value(puts[0], FORMER_MEMBER_FENCED_METRIC)).toBe(1);
    expect(value(puts[0], FORMER_MEMBER_FENCE_FAILED_METRIC)).toBe(0);
    expect(puts[0]?.[0]?.Dimensions).toEqual([{ Name: 'ClusterName', Value: 'ocp' }]);
    expect(logs[0]).toMatchObject({ fenced: 1, failed: 0, formerMembers: [expect.stringMatching(/^master-0: fenced on the host now: /)] });

    const second = await fence!();
    expect(second.fenced).toBe(0);
    expect(second.hosts[0]).toMatchObject({ action: 'fenced-on-host', changed: false });
    expect(runner.sent('FenceFormerMember')).toHaveLength(2);
    expect(value(puts[1], FORMER_MEMBER_FENCED_METRIC)).toBe(0);
  });

  it('keeps a former member SSM cannot reach fenced on the network only', async () => {
    master0 = 'off';
    const runner = fakeHosts();
    const { fence, puts } = probe(runner);
    const result = await fence!();
    expect(result.hosts[0]).toMatchObject({ host: 'master-0', action: 'still-fenced-on-network', changed: false });
    expect(runner.sent('FenceFormerMember')).toEqual([]);
    expect(value(puts[0], FORMER_MEMBER_FENCED_METRIC)).toBe(0);
  });

  it('touches no host and publishes a failure when no member list can be read', async () => {
    const runner = fakeHosts();
    runner.exits('etcdctl', 1, 'Error: context deadline exceeded', { args: ['member-list'] });
    const { fence, puts } = probe(runner);
    const result = await fence!();
    expect(result.fenced).toBe(0);
    expect(result.failed).toBe(1);
    expect(result.error).toBeDefined();
    expect(runner.sent('DescribeEtcdHost')).toEqual([]);
    expect(runner.sent('FenceFormerMember')).toEqual([]);
    expect(value(puts[0], FORMER_MEMBER_FENCE_FAILED_METRIC)).toBe(1);
  });

  it('never throws: an EC2 that fails is published as a failure and logged', async () => {
    ec2Mock
      .on(DescribeInstancesCommand)
      .rejects(Object.assign(new Error('not authorized to DescribeInstances'), { name: 'UnauthorizedOperation', $metadata: {} }));
    const runner = fakeHosts();
    const { fence, puts, logs } = probe(runner);
    const result = await fence!();
    expect(result.failed).toBe(3);
    expect(result.hosts.every((h) => h.action === 'left' && h.failed === true && h.reason.includes('not authorized to DescribeInstances'))).toBe(true);
    expect(result.error).toContain('no host is known to be outside the network fence');
    expect(value(puts[0], FORMER_MEMBER_FENCE_FAILED_METRIC)).toBe(3);
    expect(logs[0]).toMatchObject({
      failed: 3,
      formerMembers: [expect.stringMatching(/^master-0: left \(FAILED\): its network fence could not be read/), expect.anything(), expect.anything()],
    });
    expect(runner.requests).toEqual([]);
  });
});
