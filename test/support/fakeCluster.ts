// A fake etcd cluster behind the steps' ports, for preflight unit tests: members with an up/down
// flag and the leader each one reports, answering memberList, status and view as the adapters do.

import {
  NO_LEADER,
  type ClusterView,
  type EndpointHealth,
  type EndpointStatusResult,
  type EtcdClusterPort,
  type EtcdMember,
  type Host,
  type Inventory,
  type Role,
} from '../../functions/ports.ts';
import { DEFAULT_WAITS, type StepDeps } from '../../functions/workflow/stepDeps.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';

export interface FakeMember {
  id: string;
  /** Empty for an added, unstarted member. */
  name: string;
  ip: string;
  up: boolean;
  isLearner?: boolean;
  /** The leader this member reports (NO_LEADER during an election); the cluster's leader by default. */
  leaderId?: string;
  version?: string;
  /** The peer URL the member list shows, when not https://<ip>:2380 (one that still names localhost). */
  peerURL?: string;
}

export function host(name: string, ip: string, roles: Role[]): Host {
  return { name, hostname: `${name}.example.test`, ip, roles };
}

/** A member ID (16 hex digits) from a small number: memberId(0xa0) = "00000000000000a0". */
export const memberId = (n: number): string => n.toString(16).padStart(16, '0');
/** The cluster ID every fake member reports. */
export const FAKE_CLUSTER_ID = 'c1c2c3c4c5c6c7c8';

/** The unit tests' cluster: three masters (master-0 holds the CA and runs the installer) and a spare. */
export function unitInventory(extra: Inventory['hosts'] = []): Inventory {
  return {
    cluster: 'unit',
    hosts: [
      host('master-0', '198.51.100.2', ['master', 'etcd', 'ca', 'installer']),
      host('master-1', '198.51.100.3', ['master', 'etcd']),
      host('master-2', '198.51.100.4', ['master', 'etcd']),
      host('etcd-spare-0', '198.51.100.9', ['spare']),
      ...extra,
    ],
  };
}

/** A member named after its host (an empty name: added, not started). */
export const fakeMember = (n: number, name: string, ip: string, up: boolean, extra: Partial<FakeMember> = {}): FakeMember => ({
  id: memberId(n),
  name: name === '' ? '' : `${name}.example.test`,
  ip,
  up,
  ...extra,
});

/** A voting member as etcd's member list names it: `name`.example.test, its peer and client URLs on `ip`. */
export const etcdMember = (n: number, name: string, ip: string): EtcdMember => ({
  id: memberId(n),
  name: `${name}.example.test`,
  peerURLs: [`https://${ip}:2380`],
  clientURLs: [`https://${ip}:2379`],
  isLearner: false,
});

/** unitInventory's three masters as members, those named in `down` not answering. */
export const threeMembers = (down: string[]): FakeMember[] => [
  fakeMember(0xa0, 'master-0', '198.51.100.2', !down.includes('master-0')),
  fakeMember(0xa1, 'master-1', '198.51.100.3', !down.includes('master-1')),
  fakeMember(0xa2, 'master-2', '198.51.100.4', !down.includes('master-2')),
];

export class FakeCluster implements EtcdClusterPort {
  calls: string[] = [];
  constructor(
    public members: FakeMember[],
    public leaderId: string = members.find((m) => m.up && !m.isLearner)?.id ?? NO_LEADER,
  ) {}

  protected toEtcd(m: FakeMember): EtcdMember {
    return {
      id: m.id,
      name: m.name,
      peerURLs: [m.peerURL ?? `https://${m.ip}:2380`],
      clientURLs: m.name === '' ? [] : [`https://${m.ip}:2379`],
      isLearner: m.isLearner === true,
    };
  }

  async memberList(): Promise<EtcdMember[]> {
    this.calls.push('memberList');
    return this.members.map((m) => this.toEtcd(m));
  }

  async status(endpoints: string[]): Promise<EndpointStatusResult[]> {
    this.calls.push(`status ${endpoints.join(',')}`);
    return this.statusOf(endpoints);
  }

  async view(statusEndpoints: string[]): Promise<ClusterView> {
    this.calls.push(`view ${statusEndpoints.join(',')}`);
    return { members: this.members.map((m) => this.toEtcd(m)), statuses: this.statusOf(statusEndpoints) };
  }

  protected statusOf(endpoints: string[]): EndpointStatusResult[] {
    return endpoints.map((endpoint) => {
      const m = this.members.find((x) => `https://${x.ip}:2379` === endpoint);
      if (!m || !m.up) return { endpoint, error: 'context deadline exceeded' };
      return {
        endpoint,
        clusterId: FAKE_CLUSTER_ID,
        memberId: m.id,
        leaderId: m.leaderId ?? this.leaderId,
        version: m.version ?? '3.4.27',
        dbSize: 1024,
        raftIndex: 100,
        raftTerm: 2,
        isLearner: m.isLearner === true,
      };
    });
  }

  async health(_endpoints: string[]): Promise<EndpointHealth[]> {
    throw new Error('not used by preflight');
  }
  // Membership changes: preflight makes none (ChangingCluster in fakePorts.ts makes them).
  async addMember(_peerURL: string, _options: { learner: boolean }): Promise<EtcdMember> {
    throw new Error('preflight must not add a member');
  }
  async removeMember(_memberId: string): Promise<void> {
    throw new Error('preflight must not remove a member');
  }
  async promoteMember(_memberId: string): Promise<void> {
    throw new Error('preflight must not promote a member');
  }
  async updateMember(_memberId: string, _peerURLs: string[]): Promise<void> {
    throw new Error('preflight must not update a member');
  }
}

/** Step deps whose only working port is the fake cluster (preflight reads nothing else). */
export function fakeDeps(cluster: FakeCluster | ((via: Host[]) => FakeCluster), now = new Date('2026-01-01T00:00:00Z')): StepDeps {
  const unused = () => {
    throw new Error('port not used by preflight');
  };
  return {
    target: 'sandbox',
    // Preflight reads the replacement host (DescribeEtcdHost): a clean spare unless a test says otherwise.
    runner: {
      run: async (request) => {
        if (request.script !== 'DescribeEtcdHost') return unused();
        const facts = { staticPod: false, unitActive: false, unitEnabled: false, installedVersion: null, listening: false, running: null, dataDirEmpty: true };
        return { exitCode: 0, stdout: `${JSON.stringify(facts)}\n`, stderr: '' };
      },
    },
    etcd: (via) => (typeof cluster === 'function' ? cluster(via) : cluster),
    securityGroups: { describeEtcdPorts: unused, allowEtcdPorts: unused, fence: unused, unfence: unused, describeFence: unused, stopHost: unused },
    provisioning: { find: unused, provision: unused, release: unused },
    // Preflight only asks whether a configured CA backup exists: keys under ca/ do.
    artifacts: {
      uploadUrl: unused,
      downloadUrl: unused,
      head: async (key) => (key.startsWith('ca/') ? { key, size: 1, location: `fake:${key}` } : null),
      delete: unused,
    },
    lock: {
      acquire: unused,
      renew: unused,
      release: unused,
      current: unused,
      requestJoin: unused,
      closeJoins: async () => [],
      recordLastHolder: unused,
      lastHolder: async () => null,
    },
    resolveInventory: unused,
    sleep: async () => {},
    now: () => now,
    log: () => {},
    waits: DEFAULT_WAITS,
  };
}

/** A context as ValidateInput leaves it. */
export function validatedContext(inventory: Inventory, failed: string, replacement: string, extra: Partial<WorkflowContext> = {}): WorkflowContext {
  const find = (text: string) => inventory.hosts.find((h) => h.name === text || h.hostname === text || h.ip === text);
  const failedHost = find(failed);
  return {
    runId: 'r-unit-0001',
    request: { cluster: inventory.cluster, failed, replacement, startedBy: 'test' },
    options: { graceSeconds: 0, learner: 'auto' },
    inventory,
    replacement: find(replacement)!,
    caHost: inventory.hosts.find((h) => h.roles.includes('ca'))!,
    installerHost: inventory.hosts.find((h) => h.roles.includes('installer'))!,
    ...(failedHost ? { failedHost } : {}),
    ...extra,
  };
}

/**
 * The member list line VerifyClusterHealth.sh prints when given MEMBERSHIP_ENDPOINTS:
 * `{"members":<etcdctl's member list JSON>}`, its IDs uint64 numbers as etcdctl prints them.
 */
export async function memberListLine(cluster: Pick<FakeCluster, 'memberList'>): Promise<string> {
  const members = (await cluster.memberList()).map((m) => ({
    ID: BigInt(`0x${m.id}`).toString(),
    name: m.name,
    peerURLs: m.peerURLs,
    clientURLs: m.clientURLs,
    ...(m.isLearner ? { isLearner: true } : {}),
  }));
  return `{"members":${JSON.stringify({ header: {}, members }).replace(/"ID":"(\d+)"/g, '"ID":$1')}}`;
}
