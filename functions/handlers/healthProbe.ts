// Scheduled health probe: asks etcd, through etcdctl on a member host (SSM on AWS), whether each
// member's endpoint is healthy, and publishes one CloudWatch metric per member:
//   <namespace>/MemberHealthy {ClusterName, Member=<hostname>, InstanceId} = 1 healthy, 0 not.
// The alarm rule names the failed member by InstanceId: discovery finds an instance by its ID in any
// state, even stopped or terminated, where its hostname may no longer resolve.
// One alarm per member watches it (lib/replacement-stack.ts); its ALARM state starts a replacement.
// When the probe cannot ask etcd at all (no member host answers), it publishes no member value, so
// the alarms see missing data (not breaching) rather than every member failing at once, and it
// publishes ProbeFailed=1 instead and fails (the stack's probe alarm watches its errors and silence).
//
// Cost and noise: one SSM SendCommand per probe (every probeIntervalMinutes, 2 by default: 720 a day),
// to one member host that asks every member, each a CloudTrail management event, plus the
// GetCommandInvocation polls that follow it; and one PutMetricData call per probe (the member metrics
// are sent with explicit timestamps, which the alarms that start replacements depend on).
// docs/aws.md says what that costs and how to tell the probe's commands from a run's.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CloudWatchClient, PutMetricDataCommand, type MetricDatum } from '@aws-sdk/client-cloudwatch';
import { SSMClient } from '@aws-sdk/client-ssm';
import { EC2Client } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from '@aws-lambda-powertools/logger';
import { SsmHostRunner } from '../adapters/aws/ssmHostRunner.ts';
import { etcdctlFactory } from '../adapters/etcdctl.ts';
import { InvalidInputError, errorName } from '../errors.ts';
import type { EtcdClusterFactory, Host } from '../ports.ts';
import * as validate from '../validate.ts';
import { createLogger, createTracer, traced } from './observability.ts';
import { formerMemberFenceFromEnv } from './formerMembers.ts';

export const HEALTH_METRIC = 'MemberHealthy';
export const PROBE_FAILED_METRIC = 'ProbeFailed';
export const ETCD_CLIENT_PORT = 2379;

export interface ProbeMember {
  /** Short host name, e.g. `master-0`. */
  name: string;
  /** Fully qualified hostname: the `Member` dimension, and what an alarm-started run names as failed. */
  hostname: string;
  ip: string;
  instanceId: string;
}

export interface ProbeConfig {
  cluster: string;
  namespace: string;
  members: ProbeMember[];
}

export interface MemberHealth {
  member: ProbeMember;
  healthy: boolean;
}

export function clientUrl(member: ProbeMember): string {
  return `https://${member.ip}:${ETCD_CLIENT_PORT}`;
}

export function memberHost(member: ProbeMember): Host {
  return { name: member.name, hostname: member.hostname, ip: member.ip, instanceId: member.instanceId, roles: ['etcd'] };
}

/** Dimensions of a member's health metric; the alarm and the alarm rule read the same names. */
export function memberDimensions(cluster: string, member: Pick<ProbeMember, 'hostname' | 'instanceId'>): Array<{ Name: string; Value: string }> {
  return [
    { Name: 'ClusterName', Value: cluster },
    { Name: 'Member', Value: member.hostname },
    { Name: 'InstanceId', Value: member.instanceId },
  ];
}

export function healthMetricData(cluster: string, results: MemberHealth[], timestamp: Date): MetricDatum[] {
  return results.map((r) => ({
    MetricName: HEALTH_METRIC,
    Dimensions: memberDimensions(cluster, r.member),
    Value: r.healthy ? 1 : 0,
    Unit: 'None',
    Timestamp: timestamp,
  }));
}

/** Reads and checks the probe's configuration (env CLUSTER_NAME, METRIC_NAMESPACE, MEMBERS as JSON). */
export function configFromEnv(env: Record<string, string | undefined>): ProbeConfig {
  const cluster = validate.clusterName('CLUSTER_NAME', env['CLUSTER_NAME']);
  const namespace = env['METRIC_NAMESPACE'];
  if (!namespace || !/^[A-Za-z0-9./_#:-]{1,255}$/.test(namespace)) throw new InvalidInputError('METRIC_NAMESPACE', 'expected a CloudWatch namespace');
  let parsed: unknown;
  try {
    parsed = JSON.parse(env['MEMBERS'] ?? '');
  } catch {
    throw new InvalidInputError('MEMBERS', 'expected a JSON array of {name, hostname, ip, instanceId}');
  }
  if (!Array.isArray(parsed) || parsed.length === 0) throw new InvalidInputError('MEMBERS', 'expected a non-empty JSON array');
  const members = parsed.map((m: Record<string, unknown>, i) => ({
    name: validate.hostName(`MEMBERS[${i}].name`, m['name']),
    hostname: validate.hostname(`MEMBERS[${i}].hostname`, m['hostname']),
    ip: validate.ipv4(`MEMBERS[${i}].ip`, m['ip']),
    instanceId: validate.instanceId(`MEMBERS[${i}].instanceId`, m['instanceId']),
  }));
  return { cluster, namespace, members };
}

export interface MetricsSink {
  put(namespace: string, data: MetricDatum[]): Promise<void>;
}

export interface HealthProbeOptions {
  config: ProbeConfig;
  /** Ports that talk to the given endpoints (etcdctl through SSM on AWS). */
  etcd: EtcdClusterFactory;
  metrics: MetricsSink;
  now?: () => Date;
  /** One JSON line per probe (tests); default: the Powertools logger. */
  log?: (line: string) => void;
  logger?: Logger;
}

export function createHealthProbeHandler(options: HealthProbeOptions): () => Promise<{ healthy: string[]; unhealthy: string[] }> {
  const { config } = options;
  const now = options.now ?? (() => new Date());
  const logger = options.log ? undefined : (options.logger ?? createLogger());
  const log = (fields: Record<string, unknown>) => {
    if (options.log) options.log(JSON.stringify({ probe: config.cluster, ...fields }));
    else if (fields['outcome'] === 'failed') logger?.error('probe failed', fields);
    else logger?.info('probe published', fields);
  };
  return async () => {
    const endpoints = config.members.map(clientUrl);
    let results: MemberHealth[];
    try {
      const health = await options.etcd(endpoints).health(endpoints);
      const byEndpoint = new Map(health.map((h) => [h.endpoint, h.healthy]));
      results = config.members.map((member) => ({ member, healthy: byEndpoint.get(clientUrl(member)) === true }));
    } catch (error) {
      await options.metrics.put(config.namespace, [
        { MetricName: PROBE_FAILED_METRIC, Dimensions: [{ Name: 'ClusterName', Value: config.cluster }], Value: 1, Unit: 'Count', Timestamp: now() },
      ]);
      log({ outcome: 'failed', error: errorName(error) });
      throw error;
    }
    await options.metrics.put(config.namespace, healthMetricData(config.cluster, results, now()));
    const healthy = results.filter((r) => r.healthy).map((r) => r.member.hostname);
    const unhealthy = results.filter((r) => !r.healthy).map((r) => r.member.hostname);
    log({ outcome: 'published', healthy: healthy.length, unhealthy });
    return { healthy, unhealthy };
  };
}

/** Script text by name, from the scripts directory bundled beside the handler. */
export function scriptReader(dir: string): (name: string) => string {
  return (name) => {
    if (!/^[A-Za-z][A-Za-z0-9_-]{0,79}$/.test(name)) throw new InvalidInputError('script', `bad script name ${JSON.stringify(name)}`);
    return readFileSync(join(dir, `${name}.sh`), 'utf8');
  };
}

function awsProbe(): () => Promise<{ healthy: string[]; unhealthy: string[] }> {
  const config = configFromEnv(process.env);
  const scriptsDir = process.env['SCRIPTS_DIR'] ?? join(process.env['LAMBDA_TASK_ROOT'] ?? process.cwd(), 'scripts');
  const tracer = createTracer();
  const runner = new SsmHostRunner({
    ssm: traced(tracer, new SSMClient({})),
    scripts: scriptReader(scriptsDir),
    comment: `etcd-replace health probe ${config.cluster}`,
  });
  const cloudwatch = traced(tracer, new CloudWatchClient({}));
  return createHealthProbeHandler({
    logger: createLogger(),
    config,
    etcd: etcdctlFactory(runner, config.members.map(memberHost)),
    metrics: {
      put: async (namespace, data) => {
        await cloudwatch.send(new PutMetricDataCommand({ Namespace: namespace, MetricData: data }));
      },
    },
  });
}

/**
 * After the member metrics: every former member a restore left fenced on the network that came back,
 * fenced on the host (formerMembers.ts); null (off) without QUARANTINE_SG_ID and BUCKET.
 */
function awsFormerMembers(): (() => Promise<unknown>) | null {
  const config = configFromEnv(process.env);
  const scriptsDir = process.env['SCRIPTS_DIR'] ?? join(process.env['LAMBDA_TASK_ROOT'] ?? process.cwd(), 'scripts');
  const tracer = createTracer();
  const logger = createLogger();
  const runner = new SsmHostRunner({
    ssm: traced(tracer, new SSMClient({})),
    scripts: scriptReader(scriptsDir),
    comment: `etcd-replace former members ${config.cluster}`,
  });
  const cloudwatch = traced(tracer, new CloudWatchClient({}));
  const fence = formerMemberFenceFromEnv(
    process.env,
    { ec2: traced(tracer, new EC2Client({})), s3: traced(tracer, new S3Client({ requestChecksumCalculation: 'WHEN_REQUIRED' })), runner },
    {
      cluster: config.cluster,
      namespace: config.namespace,
      hosts: config.members.map(memberHost),
      metrics: { put: async (namespace, data) => void (await cloudwatch.send(new PutMetricDataCommand({ Namespace: namespace, MetricData: data }))) },
      log: (fields) => logger.info('former members', fields),
    },
  );
  return fence ?? null;
}

let probe: (() => Promise<{ healthy: string[]; unhealthy: string[] }>) | undefined;
let formerMembers: (() => Promise<unknown>) | null | undefined;

export async function handler(): Promise<{ healthy: string[]; unhealthy: string[] }> {
  probe ??= awsProbe();
  const result = await probe();
  formerMembers ??= awsFormerMembers();
  await formerMembers?.();
  return result;
}
