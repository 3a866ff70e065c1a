// What a host's own etcd is (DescribeEtcdHost.sh, read on the host), and the cluster-side half of the
// rule that a destructive step never runs on a member: no member of the cluster other than the one
// this run added may name the host, by peer or client URL, address or name.

import { RefusedError } from '../errors.ts';
import type { EndpointStatusResult, EtcdMember, Host, HostRunner } from '../ports.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { peerHost } from '../../statemachine/matchMember.ts';
import { compareEtcdVersions } from '../cluster/etcdVersion.ts';
import { etcdOf } from '../cluster/etcdPort.ts';
import { need } from '../cluster/need.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import { runScript } from './hostScript.ts';

export interface EtcdHostFacts {
  /** /etc/origin/node/pods/etcd.yaml is there. */
  staticPod: boolean;
  unitActive: boolean;
  unitEnabled: boolean;
  /** The etcd package's version (rpm -q etcd), or null when none is installed. */
  installedVersion: string | null;
  /** Something listens on 2379 or 2380. */
  listening: boolean;
  /**
   * The first etcd answering at a client URL etcd.conf or the static pod names (whatever the port), asked
   * with the host's own certificate; `members` is -1 when its member list did not answer.
   */
  running: { version: string; memberId: string; clusterId: string; leaderId: string; members: number } | null;
  dataDirEmpty: boolean;
}

/** Read-only: what etcd the host runs, has installed and keeps on disk. */
export function describeEtcdHost(runner: HostRunner, host: Host): Promise<EtcdHostFacts> {
  return runScript<EtcdHostFacts>(runner, { host, script: 'DescribeEtcdHost', timeoutSeconds: 30 });
}

/**
 * etcd preallocates each WAL file (64 MiB) and grows its bolt database as it applies the log: with
 * less free than that under /var/lib/etcd, a member cannot start or keep up.
 */
export const ETCD_WAL_SEGMENT_BYTES = 64 * 1024 * 1024;

/** The members whose peer or client URLs, or name, point at the host. */
export function membersOnHost(members: EtcdMember[], host: Host): EtcdMember[] {
  const names = [host.ip, host.hostname];
  return members.filter(
    (m) => (m.name !== '' && m.name === host.hostname) || [...m.peerURLs, ...m.clientURLs].some((url) => names.includes(peerHost(url) ?? '')),
  );
}

/** Refuses when a member other than `allowedId` runs on the host: nothing destructive may run there. */
export function refuseIfMemberOnHost(members: EtcdMember[], host: Host, allowedId: string | undefined, what: string): void {
  const others = membersOnHost(members, host).filter((m) => m.id !== allowedId);
  if (others.length > 0) {
    throw new RefusedError(
      `${what}: ${host.name} is member ${others.map((m) => `${m.id} (${m.name || 'unstarted'})`).join(', ')} of this cluster; nothing was stopped or emptied there`,
    );
  }
}

export interface ClusterIdentity {
  clusterId: string;
  /** The oldest etcd server version among the members that answered. */
  version: string;
}

/** The cluster's ID and its members' (oldest) etcd version: from the observations, else asked of the surviving members. */
export async function clusterIdentity(context: WorkflowContext, deps: StepDeps): Promise<ClusterIdentity> {
  if (context.clusterId && context.clusterVersion) return { clusterId: context.clusterId, version: context.clusterVersion };
  const endpoints = need(context.survivors, 'survivors').map((s) => s.clientURL);
  const answers = (await etcdOf(context, deps).status(endpoints)).filter((s): s is Exclude<EndpointStatusResult, { error: string }> => !('error' in s));
  const first = answers[0];
  if (!first) throw new RefusedError('no surviving member answered endpoint status: the cluster ID and version are unknown');
  const ids = new Set(answers.map((s) => s.clusterId));
  if (ids.size > 1) throw new RefusedError(`the surviving members report different cluster IDs (${[...ids].join(', ')})`);
  const version = answers.map((s) => s.version).sort(compareEtcdVersions)[0]!;
  return { clusterId: first.clusterId, version };
}

/** "3.2" of "3.2.22". */
export const minorOf = (version: string): string => version.split('.').slice(0, 2).join('.');
