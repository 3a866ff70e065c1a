import { describe, expect, it } from 'vitest';
import type { MetricDatum } from '@aws-sdk/client-cloudwatch';
import { configFromEnv, createHealthProbeHandler, HEALTH_METRIC, PROBE_FAILED_METRIC, type ProbeConfig } from '../../functions/handlers/healthProbe.ts';
import { HostUnreachableError } from '../../functions/errors.ts';
import type { EndpointHealth, EtcdClusterPort } from '../../functions/ports.ts';

const config: ProbeConfig = {
  cluster: 'ocp',
  namespace: 'EtcdReplace',
  members: [
    { name: 'master-0', hostname: 'master-0.ocp.example.internal', ip: '10.0.1.10', instanceId: 'i-0123456789abcdef0' },
    { name: 'master-1', hostname: 'master-1.ocp.example.internal', ip: '10.0.1.11', instanceId: 'i-0123456789abcdef1' },
    { name: 'master-2', hostname: 'master-2.ocp.example.internal', ip: '10.0.1.12', instanceId: 'i-0123456789abcdef2' },
  ],
};

const dims = (hostname: string, instanceId: string) => [
  { Name: 'ClusterName', Value: 'ocp' },
  { Name: 'Member', Value: hostname },
  { Name: 'InstanceId', Value: instanceId },
];

function fakePort(health: (endpoints: string[]) => Promise<EndpointHealth[]>): EtcdClusterPort {
  const unused = async (): Promise<never> => {
    throw new Error('not used by the probe');
  };
  return { health, memberList: unused, status: unused, view: unused, addMember: unused, removeMember: unused, promoteMember: unused, updateMember: unused };
}

function setup(health: (endpoints: string[]) => Promise<EndpointHealth[]>) {
  const puts: Array<{ namespace: string; data: MetricDatum[] }> = [];
  const asked: string[][] = [];
  const probe = createHealthProbeHandler({
    config,
    etcd: (endpoints) => {
      asked.push(endpoints);
      return fakePort(health);
    },
    metrics: { put: async (namespace, data) => void puts.push({ namespace, data }) },
    now: () => new Date('2024-05-01T00:00:00Z'),
    log: () => {},
  });
  return { probe, puts, asked };
}

describe('Function: createHealthProbeHandler', () => {
  it('publishes 1 for each healthy member and 0 for the one that does not answer', async () => {
    const { probe, puts, asked } = setup(async (endpoints) =>
      endpoints.map((endpoint) =>
        endpoint.includes('10.0.1.12') ? { endpoint, healthy: false, error: 'context deadline exceeded' } : { endpoint, healthy: true },
      ),
    );
    const result = await probe();
    expect(asked).toEqual([['https://10.0.1.10:2379', 'https://10.0.1.11:2379', 'https://10.0.1.12:2379']]);
    expect(result).toEqual({ healthy: ['master-0.ocp.example.internal', 'master-1.ocp.example.internal'], unhealthy: ['master-2.ocp.example.internal'] });
    expect(puts).toHaveLength(1);
    expect(puts[0]?.namespace).toBe('EtcdReplace');
    expect(puts[0]?.data.map((d) => [d.MetricName, d.Dimensions, d.Value])).toEqual([
      [HEALTH_METRIC, dims('master-0.ocp.example.internal', 'i-0123456789abcdef0'), 1],
      [HEALTH_METRIC, dims('master-1.ocp.example.internal', 'i-0123456789abcdef1'), 1],
      [HEALTH_METRIC, dims('master-2.ocp.example.internal', 'i-0123456789abcdef2'), 0],
    ]);
  });

  it('counts a member etcdctl printed nothing for as unhealthy', async () => {
    const { probe, puts } = setup(async () => [{ endpoint: 'https://10.0.1.10:2379', healthy: true }]);
    await probe();
    expect(puts[0]?.data.map((d) => d.Value)).toEqual([1, 0, 0]);
  });

  it('publishes ProbeFailed and no member values when no member host can run etcdctl', async () => {
    const { probe, puts } = setup(async () => {
      throw new HostUnreachableError('no member host could run etcdctl');
    });
    await expect(probe()).rejects.toMatchObject({ name: 'HostUnreachableError' });
    expect(puts).toEqual([
      {
        namespace: 'EtcdReplace',
        data: [
          {
            MetricName: PROBE_FAILED_METRIC,
            Dimensions: [{ Name: 'ClusterName', Value: 'ocp' }],
            Value: 1,
            Unit: 'Count',
            Timestamp: new Date('2024-05-01T00:00:00Z'),
          },
        ],
      },
    ]);
  });
});

describe('Function: configFromEnv', () => {
  it('reads the cluster, the namespace and the members', () => {
    const env = { CLUSTER_NAME: 'ocp', METRIC_NAMESPACE: 'EtcdReplace', MEMBERS: JSON.stringify(config.members) };
    expect(configFromEnv(env)).toEqual(config);
  });

  it('refuses members whose fields would reach a shell unchecked', () => {
    const bad = [{ ...config.members[0], ip: '10.0.1.10; reboot' }];
    expect(() => configFromEnv({ CLUSTER_NAME: 'ocp', METRIC_NAMESPACE: 'EtcdReplace', MEMBERS: JSON.stringify(bad) })).toThrow(/MEMBERS\[0\]\.ip/);
    expect(() => configFromEnv({ CLUSTER_NAME: 'ocp', METRIC_NAMESPACE: 'EtcdReplace', MEMBERS: 'nope' })).toThrow(/MEMBERS/);
    expect(() => configFromEnv({ CLUSTER_NAME: 'ocp', MEMBERS: '[]' })).toThrow(/METRIC_NAMESPACE/);
  });
});
