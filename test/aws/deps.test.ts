import { fileURLToPath } from 'node:url';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { awsDeps, createAwsClients, scriptReader } from '../../functions/adapters/aws/deps.ts';
import { InvalidInputError } from '../../functions/errors.ts';
import type { Host } from '../../functions/ports.ts';
import { executingSsm } from '../support/aws/executingSsm.ts';

const SCRIPTS_DIR = fileURLToPath(new URL('../../functions/scripts/', import.meta.url));
const ENV = {
  AWS_REGION: 'eu-west-1',
  BUCKET: 'etcd-replace-artifacts',
  TABLE: 'etcd-replace',
  ETCD_SG_ID: 'sg-0e7cd0000000000e1',
  SCRIPTS_DIR,
};

const ssmMock = mockClient(SSMClient);
const ec2Mock = mockClient(EC2Client);

function clients() {
  return {
    ssm: new SSMClient({ region: 'eu-west-1' }),
    ec2: new EC2Client({ region: 'eu-west-1' }),
    s3: new S3Client({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' }, requestChecksumCalculation: 'WHEN_REQUIRED' }),
    doc: DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' })),
  };
}

beforeEach(() => {
  ssmMock.reset();
  ec2Mock.reset();
});

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('Function: awsDeps', () => {
  it('builds every port from the environment and the given clients', async () => {
    const deps = await awsDeps(ENV, clients());
    expect(deps.target).toBe('aws');
    expect(deps.waits).toEqual({ memberStartSeconds: 60, memberCatchUpSeconds: 780, masterHealthSeconds: 120, urlTtlSeconds: 900, lockTtlSeconds: 7200 });
    const url = new URL(await deps.artifacts.uploadUrl('runs/r/b.tgz', 300));
    expect(url.pathname).toBe('/etcd-replace/runs/r/b.tgz');
    expect(typeof deps.etcd).toBe('function');
    expect(deps.runs).toBeDefined();
    expect(deps.lock).toBeDefined();
  });

  it('names the missing setting', async () => {
    for (const name of ['BUCKET', 'TABLE', 'ETCD_SG_ID'] as const) {
      const env: Record<string, string | undefined> = { ...ENV, [name]: '' };
      await expect(awsDeps(env, clients())).rejects.toThrow(`invalid ${name}: must be set in the environment`);
    }
    await expect(awsDeps({ ...ENV, URL_TTL_SECONDS: '3600' }, clients())).rejects.toThrow(InvalidInputError);
  });

  it('runs a real script through SSM: the fake agent executes the exact commands and the exit code comes back', async () => {
    executingSsm(ssmMock, 'i-0123456789abcdef0');
    const commands: string[] = [];
    const deps = await awsDeps(ENV, clients(), { sleep: async () => {}, onCommand: (e) => commands.push(e.script) });
    const host: Host = { name: 'master-0', hostname: 'master-0.example.com', ip: '10.0.1.10', roles: ['master'], instanceId: 'i-0123456789abcdef0' };
    const out = await deps.runner.run({ host, script: 'WriteHostFile', args: ['/etc/passwd', '0'.repeat(64), 'eA=='], timeoutSeconds: 30 });
    expect(out.exitCode).toBe(2);
    expect(out.stderr).toContain('not a file this workflow writes: /etc/passwd');
    expect(commands).toEqual(['WriteHostFile']);
    expect(deps.runner.commandsSent).toBe(1);
  });

  it('resolves the inventory through EC2 discovery with the configured tag keys', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    const deps = await awsDeps({ ...ENV, CLUSTER_TAG_KEY: 'openshift-cluster' }, clients());
    await expect(deps.resolveInventory({ cluster: 'prod-a', failed: 'master-1', replacement: 'spare-0', startedBy: 'cli:alice' })).rejects.toThrow(
      /no instance is tagged openshift-cluster=prod-a/,
    );
    expect(ec2Mock.commandCalls(DescribeInstancesCommand)[0]?.args[0].input.Filters?.[0]).toEqual({ Name: 'tag:openshift-cluster', Values: ['prod-a'] });
  });

  it('resolves a replacement named by instance id outside the spare pool', async () => {
    const member = (id: string, ip: string, name: string, roles: string) => ({
      InstanceId: id,
      PrivateIpAddress: ip,
      PrivateDnsName: `${name}.ec2.internal`,
      State: { Name: 'running' as const },
      Tags: [
        { Key: 'KubernetesCluster', Value: 'prod-a' },
        { Key: 'openshift-role', Value: roles },
        { Key: 'Name', Value: name },
      ],
    });
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    ec2Mock
      .on(DescribeInstancesCommand, {
        Filters: [
          { Name: 'tag:KubernetesCluster', Values: ['prod-a'] },
          { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'] },
        ],
      })
      .resolves({
        Reservations: [
          {
            Instances: [
              member('i-00000000000000000', '10.0.1.10', 'master-0', 'master,etcd,ca,installer'),
              member('i-00000000000000001', '10.0.1.11', 'master-1', 'master,etcd'),
            ],
          },
        ],
      });
    ec2Mock.on(DescribeInstancesCommand, { InstanceIds: ['i-0000000000000000e'] }).resolves({
      Reservations: [
        {
          Instances: [
            { InstanceId: 'i-0000000000000000e', PrivateIpAddress: '10.0.3.30', PrivateDnsName: 'new-etcd.ec2.internal', State: { Name: 'running' } },
          ],
        },
      ],
    });
    const deps = await awsDeps(ENV, clients());
    const inventory = await deps.resolveInventory({ cluster: 'prod-a', failed: 'master-1', replacement: 'i-0000000000000000e', startedBy: 'cli:alice' });
    expect(inventory.hosts.map((h) => `${h.name}:${h.roles.join(',')}`)).toEqual([
      'master-0:master,etcd,ca,installer',
      'master-1:master,etcd',
      'new-etcd:spare',
    ]);
  });

  it('uses an explicit inventory without calling EC2', async () => {
    const deps = await awsDeps(ENV, clients());
    const inventory = {
      cluster: 'prod-a',
      hosts: [{ name: 'master-0', hostname: 'master-0.example.com', ip: '10.0.1.10', roles: ['master', 'etcd', 'ca', 'installer'] as Host['roles'] }],
    };
    await expect(deps.resolveInventory({ cluster: 'prod-a', failed: 'master-0', replacement: 'x', startedBy: 'cli:a', inventory })).resolves.toEqual(inventory);
    expect(ec2Mock.commandCalls(DescribeInstancesCommand)).toHaveLength(0);
  });
});

describe('Function: createAwsClients', () => {
  it('builds an S3 client whose presigned PUTs carry no checksum, keeping given clients', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDEXAMPLE');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'not-a-secret');
    const ssm = new SSMClient({ region: 'eu-west-1' });
    const built = createAwsClients({ AWS_REGION: 'eu-west-1' }, { ssm });
    expect(built.ssm).toBe(ssm);
    expect(await built.s3.config.requestChecksumCalculation()).toBe('WHEN_REQUIRED');
    const deps = await awsDeps(ENV, built);
    const url = await deps.artifacts.uploadUrl('a.tgz', 60);
    expect(url).not.toMatch(/checksum/i);
  });
});

describe('Function: scriptReader', () => {
  it('reads scripts by name and refuses paths', () => {
    const read = scriptReader(SCRIPTS_DIR);
    expect(read('StopFailedMember')).toMatch(/^#!\/usr\/bin\/env bash/);
    expect(() => read('../package')).toThrow(InvalidInputError);
  });
});
