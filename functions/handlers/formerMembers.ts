// The health probe's second half on AWS: after the member metrics, every former member that a restore of
// quorum left fenced on the network (the quarantine security group) and that came back (powered on again
// with its old data) is fenced on the host (functions/cluster/returnedHosts.ts): its etcd stopped, its
// static pod moved to pods-stopped, its data uploaded to the artifact bucket and checked there. Fencing a
// host that is no member is safe, so this needs no approval.
//
// It publishes, per probe:
//   <namespace>/FormerMemberFenced      {ClusterName} = hosts this probe fenced on the host
//   <namespace>/FormerMemberFenceFailed {ClusterName} = hosts it could not fence on the host
// and logs one line per host it changed or could not fence (one probe log entry, `formerMembers`).
// It never throws: the member metrics, published before, stand whatever happens here.
//
// Environment (besides the probe's): QUARANTINE_SG_ID (the quarantine group of the network fence) and
// BUCKET (the artifact bucket; KMS_KEY_ID, ARTIFACT_PREFIX as the steps take them). Without both it is off:
// nothing can be fenced on the network without the quarantine group, so there is nothing to find.

import type { MetricDatum } from '@aws-sdk/client-cloudwatch';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { S3Client } from '@aws-sdk/client-s3';
import { errorMessage, errorName, InvalidInputError } from '../errors.ts';
import type { EtcdClusterPort, Host, HostRunner } from '../ports.ts';
import { clientUrl } from '../../statemachine/cluster.ts';
import { Ec2Fence, stopInstance } from '../adapters/aws/ec2Fence.ts';
import { S3ArtifactStore } from '../adapters/aws/s3ArtifactStore.ts';
import { EtcdctlMembership } from '../adapters/etcdctl.ts';
import { DEFAULT_WAITS } from '../workflow/stepDeps.ts';
import { describeReturnedHost, fenceReturnedHosts, firstMemberList, type ReturnedHost, type ReturnedHostsDeps } from '../cluster/returnedHosts.ts';

export const FORMER_MEMBER_FENCED_METRIC = 'FormerMemberFenced';
export const FORMER_MEMBER_FENCE_FAILED_METRIC = 'FormerMemberFenceFailed';

export interface FormerMemberFenceOptions {
  cluster: string;
  namespace: string;
  /** The etcd hosts the probe watches: every one a restore may have left as a former member. */
  hosts: Host[];
  deps: ReturnedHostsDeps;
  /** Membership through the given hosts (etcdctl on them through SSM). */
  etcd: (via: Host[], endpoints: string[]) => Pick<EtcdClusterPort, 'memberList'>;
  metrics: { put(namespace: string, data: MetricDatum[]): Promise<void> };
  now?: () => Date;
  /** One entry per probe. */
  log: (fields: Record<string, unknown>) => void;
}

export interface FormerMemberFenceResult {
  hosts: ReturnedHost[];
  fenced: number;
  failed: number;
  error?: string;
}

export function formerMemberMetricData(cluster: string, fenced: number, failed: number, timestamp: Date): MetricDatum[] {
  const dimensions = [{ Name: 'ClusterName', Value: cluster }];
  return [
    { MetricName: FORMER_MEMBER_FENCED_METRIC, Dimensions: dimensions, Value: fenced, Unit: 'Count', Timestamp: timestamp },
    { MetricName: FORMER_MEMBER_FENCE_FAILED_METRIC, Dimensions: dimensions, Value: failed, Unit: 'Count', Timestamp: timestamp },
  ];
}

export function createFormerMemberFence(options: FormerMemberFenceOptions): () => Promise<FormerMemberFenceResult> {
  const now = options.now ?? (() => new Date());
  return async () => {
    let result: FormerMemberFenceResult;
    try {
      const observation = await fenceReturnedHosts(options.deps, {
        hosts: options.hosts,
        memberList: async (unfenced) => (await firstMemberList(unfenced, (host) => options.etcd([host], unfenced.map(clientUrl)).memberList())).members,
      });
      const fenced = observation.hosts.filter((h) => h.action === 'fenced-on-host' && h.changed).length;
      // No member list: nothing could be looked at, which counts as one failure at least.
      const failed = Math.max(observation.hosts.filter((h) => h.failed === true).length, observation.members === null ? 1 : 0);
      result = { hosts: observation.hosts, fenced, failed, ...(observation.membersError ? { error: observation.membersError } : {}) };
    } catch (error) {
      result = { hosts: [], fenced: 0, failed: 1, error: `${errorName(error)}: ${errorMessage(error)}` };
    }
    try {
      await options.metrics.put(options.namespace, formerMemberMetricData(options.cluster, result.fenced, result.failed, now()));
    } catch (error) {
      result = { ...result, error: `${result.error ? `${result.error}; ` : ''}metrics: ${errorMessage(error)}` };
    }
    const told = result.hosts.filter((h) => h.action !== 'left' || h.failed === true);
    options.log({
      formerMembers: told.map(describeReturnedHost),
      fenced: result.fenced,
      failed: result.failed,
      ...(result.error ? { error: result.error } : {}),
    });
    return result;
  };
}

type Env = Record<string, string | undefined>;

/**
 * The fence of returned former members over AWS (EC2 quarantine group, S3, SSM through `runner`), or
 * undefined when the environment names no quarantine group or no bucket.
 */
export function formerMemberFenceFromEnv(
  env: Env,
  clients: { ec2: EC2Client; s3: S3Client; runner: HostRunner },
  rest: Omit<FormerMemberFenceOptions, 'deps' | 'etcd'>,
): (() => Promise<FormerMemberFenceResult>) | undefined {
  const quarantine = env['QUARANTINE_SG_ID']?.trim();
  const bucket = env['BUCKET']?.trim();
  if (!quarantine || !bucket) return undefined;
  const fence = new Ec2Fence({ ec2: clients.ec2, quarantineSecurityGroupId: quarantine });
  const kmsKeyId = env['KMS_KEY_ID']?.trim();
  const ttl = env['URL_TTL_SECONDS']?.trim();
  const urlTtlSeconds = ttl ? Number(ttl) : DEFAULT_WAITS.urlTtlSeconds;
  if (!Number.isSafeInteger(urlTtlSeconds) || urlTtlSeconds <= 0) throw new InvalidInputError('URL_TTL_SECONDS', 'expected a positive integer');
  return createFormerMemberFence({
    ...rest,
    deps: {
      runner: clients.runner,
      securityGroups: {
        describeFence: (host) => fence.describeFence(host),
        stopHost: async (host) => ({ changed: (await stopInstance(clients.ec2, host)).changed }),
      },
      artifacts: new S3ArtifactStore({ s3: clients.s3, bucket, prefix: env['ARTIFACT_PREFIX']?.trim() || 'etcd-replace/', ...(kmsKeyId ? { kmsKeyId } : {}) }),
      waits: { urlTtlSeconds },
      log: () => {},
    },
    etcd: (via, endpoints) => new EtcdctlMembership(clients.runner, via, endpoints),
  });
}
