// In-memory ports for the steps' unit tests, beside fakeCluster.ts and fakeRunner.ts: an artifact store
// whose signed URLs are secrets (every one it hands out is kept, so a test can prove none reached a
// script's arguments), the security groups, the cluster lock (the LockPort contract's semantics), and
// a FakeCluster whose membership changes: add, remove, promote, update, each recorded.

import { randomBytes } from 'node:crypto';
import { LockHeldError, LockLostError, MemberAlreadyExistsError, MemberNotFoundError, MemberNotLearnerError } from '../../functions/errors.ts';
import type {
  ArtifactInfo,
  ArtifactStore,
  EndpointHealth,
  EtcdMember,
  GuardedChangeResult,
  Host,
  JoinAnswer,
  JoinRequest,
  LastHolder,
  LockInfo,
  LockOwner,
  LockPort,
  RunRecord,
  RunStore,
  SecurityGroupPort,
  ViewGuard,
  MembershipChange as GuardedMembershipChange,
} from '../../functions/ports.ts';
import { viewFingerprint } from '../../statemachine/viewFingerprint.ts';
import { clusterName, positiveInt, runId as validRunId } from '../../functions/validate.ts';
import { FakeCluster, fakeMember, memberId, type FakeMember } from './fakeCluster.ts';

/** Objects by key (their size); signed URLs that name the key and carry a secret signature. */
export class FakeArtifactStore implements ArtifactStore {
  readonly objects = new Map<string, number>();
  /** Every URL handed out: each is a secret. */
  readonly issued: string[] = [];
  /** uploadUrl/downloadUrl/delete calls as `verb key`, in order. */
  readonly calls: string[] = [];
  /** When set, delete() throws it. */
  deleteError: Error | null = null;
  /** When set, delete() reports success and keeps the object (a store that ignored the deletion). */
  deleteIgnored = false;

  /** An object as a host's upload leaves it. */
  put(key: string, size: number): void {
    this.objects.set(key, size);
  }

  async uploadUrl(key: string, ttlSeconds: number): Promise<string> {
    return this.sign('PUT', key, ttlSeconds);
  }

  async downloadUrl(key: string, ttlSeconds: number): Promise<string> {
    return this.sign('GET', key, ttlSeconds);
  }

  async head(key: string): Promise<ArtifactInfo | null> {
    const size = this.objects.get(key);
    return size === undefined ? null : { key, size, location: `s3://unit-artifacts/${key}` };
  }

  async delete(key: string): Promise<void> {
    this.calls.push(`delete ${key}`);
    if (this.deleteError) throw this.deleteError;
    if (!this.deleteIgnored) this.objects.delete(key);
  }

  private sign(verb: 'PUT' | 'GET', key: string, ttlSeconds: number): string {
    this.calls.push(`${verb} ${key} ${ttlSeconds}s`);
    const url = `https://unit-artifacts.s3.example.test/${key}?X-Amz-Expires=${ttlSeconds}&X-Amz-Signature=${randomBytes(16).toString('hex')}`;
    this.issued.push(url);
    return url;
  }
}

/** Ports 2379/2380 per host, as the security group in front of it allows them. */
export class FakeSecurityGroups implements SecurityGroupPort {
  readonly open = new Map<string, Set<number>>();
  readonly calls: string[] = [];

  async describeEtcdPorts(host: Host): Promise<number[]> {
    this.calls.push(`describe ${host.name}`);
    return [...(this.open.get(host.name) ?? [])].sort();
  }

  async allowEtcdPorts(host: Host): Promise<{ changed: boolean }> {
    this.calls.push(`allow ${host.name}`);
    const ports = this.open.get(host.name) ?? new Set<number>();
    const changed = !ports.has(2379) || !ports.has(2380);
    this.open.set(host.name, new Set([...ports, 2379, 2380]));
    return { changed };
  }

  /** Fenced hosts, and hosts powered off by stopHost. */
  readonly fenced = new Set<string>();
  readonly stopped = new Set<string>();

  async fence(host: Host): Promise<{ changed: boolean }> {
    this.calls.push(`fence ${host.name}`);
    if (this.fenced.has(host.name)) return { changed: false };
    this.fenced.add(host.name);
    return { changed: true };
  }

  async unfence(host: Host): Promise<{ changed: boolean }> {
    this.calls.push(`unfence ${host.name}`);
    return { changed: this.fenced.delete(host.name) };
  }

  async describeFence(host: Host): Promise<{ fenced: boolean }> {
    this.calls.push(`describeFence ${host.name}`);
    return { fenced: this.fenced.has(host.name) };
  }

  async stopHost(host: Host): Promise<{ changed: boolean }> {
    this.calls.push(`stop ${host.name}`);
    if (this.stopped.has(host.name)) return { changed: false };
    this.stopped.add(host.name);
    return { changed: true };
  }
}

/** A run store that keeps a copy of every record saved, in order: `get` answers the last one saved; it lists none. */
export class SavingStore implements RunStore {
  readonly saved: RunRecord[] = [];
  async save(record: RunRecord): Promise<void> {
    this.saved.push(structuredClone(record));
  }
  async get(runId: string): Promise<RunRecord | null> {
    return this.saved.filter((r) => r.runId === runId).at(-1) ?? null;
  }
  async list(): Promise<RunRecord[]> {
    return [];
  }
}

/** The cluster lock in memory, with the semantics every adapter shares (test/support/lockContract.ts). */
/**
 * A lock that says `runId` holds it, whatever is asked, and records nothing: for runs whose steps are faked
 * and only the lock's proof before each step matters. `overrides` replaces any method.
 */
export function heldLock(runId: string, overrides: Partial<LockPort> = {}): LockPort {
  return {
    acquire: async () => ({}) as never,
    renew: async () => {},
    release: async () => {},
    current: async () => ({ runId }) as never,
    requestJoin: async () => 'not-held',
    closeJoins: async () => [],
    recordLastHolder: async () => {},
    lastHolder: async () => null,
    ...overrides,
  };
}

export class FakeLock implements LockPort {
  private locks = new Map<string, LockInfo>();
  /** acquire/renew/release calls as `verb cluster runId ttl`, in order. */
  readonly calls: string[] = [];

  constructor(private readonly now: () => Date = () => new Date()) {}

  async acquire(cluster: string, owner: LockOwner, ttlSeconds: number): Promise<LockInfo> {
    const name = clusterName('cluster', cluster);
    const run = validRunId('runId', owner.runId);
    const ttl = positiveInt('ttlSeconds', ttlSeconds);
    this.calls.push(`acquire ${name} ${run} ${ttl}`);
    const now = this.now();
    const current = this.locks.get(name);
    const live = current && Date.parse(current.expiresAt) >= now.getTime();
    if (current && live && current.runId !== run) {
      throw new LockHeldError(`the lock of cluster ${name} is held by run ${current.runId} (started by ${current.startedBy}) until ${current.expiresAt}`);
    }
    const info: LockInfo = {
      ...owner,
      runId: run,
      cluster: name,
      acquiredAt: current && live ? current.acquiredAt : now.toISOString(),
      expiresAt: new Date(now.getTime() + ttl * 1000).toISOString(),
      // The same run again keeps what was left for it.
      ...(current?.runId === run && current.joins ? { joins: current.joins } : {}),
      ...(current?.runId === run && current.joinsClosed ? { joinsClosed: true } : {}),
    };
    this.locks.set(name, info);
    return { ...info };
  }

  async renew(cluster: string, runId: string, ttlSeconds: number): Promise<void> {
    this.calls.push(`renew ${cluster} ${runId} ${ttlSeconds}`);
    const current = this.locks.get(cluster);
    if (!current) throw new LockLostError(`run ${runId} does not hold the lock of cluster ${cluster}: nobody holds it`);
    if (current.runId !== runId) throw new LockLostError(`run ${runId} no longer holds the lock of cluster ${cluster}: run ${current.runId} holds it`);
    this.locks.set(cluster, { ...current, expiresAt: new Date(this.now().getTime() + ttlSeconds * 1000).toISOString() });
  }

  async release(cluster: string, runId: string): Promise<void> {
    this.calls.push(`release ${cluster} ${runId}`);
    if (this.locks.get(cluster)?.runId === runId) this.locks.delete(cluster);
  }

  async current(cluster: string): Promise<LockInfo | null> {
    const info = this.locks.get(cluster);
    return info ? { ...info } : null;
  }

  async requestJoin(cluster: string, holderRunId: string, join: JoinRequest): Promise<JoinAnswer> {
    this.calls.push(`requestJoin ${cluster} ${holderRunId} ${join.runId}`);
    const current = this.locks.get(cluster);
    if (!current || current.runId !== holderRunId) return 'not-held';
    if (current.joinsClosed) return 'closed';
    if (!(current.joins ?? []).some((j) => j.runId === join.runId)) this.locks.set(cluster, { ...current, joins: [...(current.joins ?? []), join] });
    return 'requested';
  }

  private last = new Map<string, LastHolder>();

  async recordLastHolder(cluster: string, last: LastHolder): Promise<void> {
    const name = clusterName('cluster', cluster);
    this.calls.push(`recordLastHolder ${name} ${validRunId('runId', last.runId)}`);
    this.last.set(name, { ...last, covers: [...last.covers] });
  }

  async lastHolder(cluster: string): Promise<LastHolder | null> {
    const last = this.last.get(cluster);
    return last ? { ...last, covers: [...last.covers] } : null;
  }

  async closeJoins(cluster: string, runId: string): Promise<JoinRequest[]> {
    this.calls.push(`closeJoins ${cluster} ${runId}`);
    const current = this.locks.get(cluster);
    if (!current || current.runId !== runId) throw new LockLostError(`run ${runId} does not hold the lock of cluster ${cluster}`);
    this.locks.set(cluster, { ...current, joinsClosed: true });
    return current.joins ?? [];
  }
}

export type MembershipChange = 'addMember' | 'removeMember' | 'promoteMember' | 'updateMember';

/**
 * A FakeCluster whose membership changes as etcd's does: `member add` of a peer URL already listed
 * is MemberAlreadyExistsError, removing an unknown ID MemberNotFoundError, promoting a voter
 * MemberNotLearnerError. Each change is recorded in `changes`; `failNext` makes the next call of one
 * kind throw (after the change, with `afterChange`: an answer lost on the way back).
 */
export class ChangingCluster extends FakeCluster {
  readonly changes: string[] = [];
  private nextId = 0xb0;
  private failures = new Map<MembershipChange, { error: Error; afterChange: boolean }>();

  constructor(members: FakeMember[]) {
    super(members);
  }

  failNext(change: MembershipChange, error: Error, options: { afterChange?: boolean } = {}): this {
    this.failures.set(change, { error, afterChange: options.afterChange === true });
    return this;
  }

  private async change<T>(kind: MembershipChange, apply: () => T): Promise<T> {
    const failure = this.failures.get(kind);
    this.failures.delete(kind);
    if (failure && !failure.afterChange) throw failure.error;
    const result = apply();
    if (failure) throw failure.error;
    return result;
  }

  override async addMember(peerURL: string, options: { learner: boolean }): Promise<EtcdMember> {
    const learner = options.learner;
    return this.change('addMember', () => {
      if (this.members.some((m) => (m.peerURL ?? `https://${m.ip}:2380`) === peerURL)) {
        throw new MemberAlreadyExistsError(`etcdserver: Peer URLs already exists (${peerURL})`);
      }
      const ip = /^https:\/\/([0-9.]+):2380$/.exec(peerURL)?.[1];
      if (!ip) throw new Error(`ChangingCluster: not a peer URL of an IP: ${peerURL}`);
      const id = memberId(this.nextId++);
      this.changes.push(`add ${peerURL}${learner ? ' as learner' : ''}`);
      this.members.push(fakeMember(Number.parseInt(id, 16), '', ip, false, { isLearner: learner }));
      return { id, name: '', peerURLs: [peerURL], clientURLs: [], isLearner: learner };
    });
  }

  override async removeMember(id: string): Promise<void> {
    return this.change('removeMember', () => {
      if (!this.members.some((m) => m.id === id)) throw new MemberNotFoundError(`etcdserver: member not found (${id})`);
      this.changes.push(`remove ${id}`);
      this.members = this.members.filter((m) => m.id !== id);
    });
  }

  override async promoteMember(id: string): Promise<void> {
    return this.change('promoteMember', () => {
      const member = this.members.find((m) => m.id === id);
      if (!member) throw new MemberNotFoundError(`etcdserver: member not found (${id})`);
      if (!member.isLearner) throw new MemberNotLearnerError('etcdserver: can only promote a learner member');
      this.changes.push(`promote ${id}`);
      member.isLearner = false;
    });
  }

  override async updateMember(id: string, peerURLs: string[]): Promise<void> {
    return this.change('updateMember', () => {
      const member = this.members.find((m) => m.id === id);
      if (!member) throw new MemberNotFoundError(`etcdserver: member not found (${id})`);
      this.changes.push(`update ${id} ${peerURLs.join(',')}`);
      member.peerURL = peerURLs[0];
    });
  }

  /**
   * etcdctl.sh's guarded verbs: the view as view() takes it, the fingerprints as the script computes
   * them, and the change (through removeMember/addMember, so `failNext` applies) only when they are equal.
   */
  async guardedChange(statusEndpoints: string[], guard: ViewGuard, change: GuardedMembershipChange): Promise<GuardedChangeResult> {
    const what = 'remove' in change ? `remove ${change.remove}` : `add ${change.add}${change.learner ? ' as learner' : ''}`;
    this.calls.push(`guarded ${what} ${statusEndpoints.join(',')}`);
    const view = { members: this.members.map((m) => this.toEtcd(m)), statuses: this.statusOf(statusEndpoints) };
    const expected = viewFingerprint(guard.members, new Set(guard.members.flatMap((m) => (m.answersAt === null ? [] : [m.id]))));
    const answersAt = new Map(guard.members.map((m) => [m.id, m.answersAt]));
    const answering = view.members.filter((m) => {
      const at = answersAt.get(m.id);
      const status = view.statuses.find((s) => s.endpoint === at);
      return (
        at != null && m.clientURLs[0] === at && status !== undefined && !('error' in status) && status.memberId === m.id && status.clusterId === guard.clusterId
      );
    });
    const seen = viewFingerprint(view.members, new Set(answering.map((m) => m.id)));
    if (seen !== expected) return { view, accepted: false, expected, seen };
    if ('remove' in change) {
      await this.removeMember(change.remove);
      return { view, accepted: true, expected, seen };
    }
    const added = await this.addMember(change.add, { learner: change.learner });
    return { view, accepted: true, expected, seen, added, membersAfter: this.members.map((m) => this.toEtcd(m)) };
  }

  /** `endpoint health`: healthy where a started member that is up serves the endpoint. */
  override async health(endpoints: string[]): Promise<EndpointHealth[]> {
    this.calls.push(`health ${endpoints.join(',')}`);
    return endpoints.map((endpoint) => {
      const m = this.members.find((x) => x.name !== '' && `https://${x.ip}:2379` === endpoint);
      return m?.up ? { endpoint, healthy: true } : { endpoint, healthy: false, error: 'context deadline exceeded' };
    });
  }
}
