// The EtcdClusterPort contract both adapters pass (etcdctl on a member host through the host runner,
// and the etcd3 client over TLS), on one real sandbox: call `etcdMembershipContract(name, ctx)` inside
// a describe block whose beforeAll brought up a sandbox with 3 members and at least one spare.
// The cluster is left as it was found (the learner each run adds is removed again).
// viewWithFailedMemberContract() is the part for a cluster with one member down, for the end of a file.
// adaptersContract() and memberDownContract() run both for both adapters, as the suites on etcd 3.2.22
// (test/sandbox/etcdMembership.test.ts) and on 3.4.23 (test/sandbox/learner/) do.

import { beforeAll, describe, expect, it } from 'vitest';

import { etcd3Factory } from '../../functions/adapters/etcd3Client.ts';
import { etcdctlFactory } from '../../functions/adapters/etcdctl.ts';
import { SandboxHostRunner } from '../../sandbox/adapters/hostRunner.ts';
import { EtcdUnavailableError, EtcdUnhealthyClusterError, LearnerNotReadyError, MemberNotFoundError, MemberNotLearnerError } from '../../functions/errors.ts';
import type { ClusterView, EndpointStatus, EtcdClusterFactory, EtcdClusterPort, EtcdMember } from '../../functions/ports.ts';
import { failHost, type SandboxInfo } from '../../sandbox/index.ts';
import { waitFor } from '../../sandbox/util.ts';

export interface MembershipContext {
  /** The sandbox, once beforeAll has brought it up. */
  sandbox: () => SandboxInfo;
  /** The adapter's factory for that sandbox. */
  factory: (sandbox: SandboxInfo) => EtcdClusterFactory;
}

/** Time the contract allows one status call over the live members and one address nobody answers on. */
export const DEAD_ENDPOINT_BOUND_MS = 20_000;

/** An address inside the sandbox's subnet that no host has (nothing answers ARP for it). */
export function unusedAddress(sandbox: SandboxInfo): string {
  const [base = '', prefix = '32'] = sandbox.subnet.split('/');
  const toInt = (ip: string) => ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  const size = 2 ** (32 - Number(prefix));
  const used = new Set([sandbox.gateway, ...sandbox.hosts.map((h) => h.ip)]);
  for (let offset = size - 2; offset > 1; offset--) {
    const n = toInt(base) + offset;
    const ip = [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
    if (!used.has(ip)) return ip;
  }
  throw new Error(`no unused address in ${sandbox.subnet}`);
}

/**
 * Runs a membership change the way the workflow does: again while etcd answers "unhealthy cluster"
 * (its leader has not been connected to every member for 5 s yet, e.g. just after the sandbox started).
 */
export async function retryingUnhealthy<T>(change: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await change();
    } catch (error) {
      if (!(error instanceof EtcdUnhealthyClusterError) || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

/**
 * A probe for waitFor: the member list once it satisfies `ok`. In etcd 3.4 the list is served by
 * whichever member the client reaches, which may apply a change just made a moment after the member
 * that made it.
 */
function listWhere(etcd: EtcdClusterPort, ok: (list: EtcdMember[]) => boolean): () => Promise<EtcdMember[] | undefined> {
  return async () => {
    const list = await etcd.memberList();
    return ok(list) ? list : undefined;
  };
}

function members(sandbox: SandboxInfo) {
  return sandbox.hosts.filter((h) => h.roles.includes('etcd'));
}

function spare(sandbox: SandboxInfo) {
  const host = sandbox.hosts.find((h) => h.roles.includes('spare'));
  if (!host) throw new Error('the contract needs a sandbox with a spare host');
  return host;
}

function byId(list: EtcdMember[]): EtcdMember[] {
  return [...list].sort((a, b) => a.id.localeCompare(b.id));
}

function isStatus(entry: EndpointStatus | { endpoint: string; error: string }): entry is EndpointStatus {
  return !('error' in entry);
}

function errorOf(entry: EndpointStatus | { endpoint: string; error: string } | undefined): string {
  return entry && 'error' in entry ? entry.error : '';
}

/** A probe for waitFor: the view once it satisfies `ok` (a leader election may be under way just after a member failed). */
function viewWhere(etcd: EtcdClusterPort, endpoints: string[], ok: (view: ClusterView) => boolean): () => Promise<ClusterView | undefined> {
  return async () => {
    const view = await etcd.view(endpoints);
    return ok(view) ? view : undefined;
  };
}

/** The fields of a status that do not move while nothing is written. */
function steady(s: EndpointStatus) {
  return { endpoint: s.endpoint, memberId: s.memberId, leaderId: s.leaderId, version: s.version, isLearner: s.isLearner };
}

export function etcdMembershipContract(ctx: MembershipContext): void {
  const port = (): EtcdClusterPort => {
    const sandbox = ctx.sandbox();
    return ctx.factory(sandbox)(sandbox.client.endpoints);
  };

  it('lists the started voting members by hostname, with https://IP:2380 peer URLs and 16-hex ids', async () => {
    const sandbox = ctx.sandbox();
    const list = await port().memberList();
    expect(list).toHaveLength(3);
    const expected = members(sandbox)
      .map((h) => ({ name: h.hostname, peerURLs: [`https://${h.ip}:2380`], clientURLs: [`https://${h.ip}:2379`], isLearner: false }))
      .sort((a, b) => a.name.localeCompare(b.name));
    const got = list.map(({ id: _id, ...rest }) => rest).sort((a, b) => a.name.localeCompare(b.name));
    expect(got).toEqual(expected);
    for (const m of list) expect(m.id).toMatch(/^[0-9a-f]{16}$/);
    expect(new Set(list.map((m) => m.id)).size).toBe(3);
  });

  it('reports status from every endpoint: one leader, the same leader id from all, ids matching the member list', async () => {
    const sandbox = ctx.sandbox();
    const etcd = port();
    const list = await etcd.memberList();
    const status = await etcd.status(sandbox.client.endpoints);
    expect(status.map((s) => s.endpoint)).toEqual(sandbox.client.endpoints);
    const answered = status.filter(isStatus);
    expect(answered).toHaveLength(3);
    const ids = list.map((m) => m.id).sort();
    expect(answered.map((s) => s.memberId).sort()).toEqual(ids);
    const leaders = new Set(answered.map((s) => s.leaderId));
    expect(leaders.size).toBe(1);
    expect(ids).toContain([...leaders][0]);
    expect(answered.filter((s) => s.memberId === s.leaderId)).toHaveLength(1);
    for (const s of answered) {
      expect(s.version).toBe(sandbox.etcdVersion);
      expect(s.dbSize).toBeGreaterThan(0);
      expect(s.raftIndex).toBeGreaterThan(0);
      expect(s.raftTerm).toBeGreaterThan(0);
      expect(s.isLearner).toBe(false);
      // every member's endpoint answers for that member
      const member = list.find((m) => m.id === s.memberId);
      expect(member?.clientURLs).toContain(s.endpoint);
    }
  });

  it('views the member list and every endpoint status at once, as memberList and status report them', async () => {
    const sandbox = ctx.sandbox();
    const etcd = port();
    const endpoints = sandbox.client.endpoints;
    const [view, list, status] = [await etcd.view(endpoints), await etcd.memberList(), await etcd.status(endpoints)];
    expect(byId(view.members)).toEqual(byId(list));
    expect(view.statuses.map((s) => s.endpoint)).toEqual(endpoints);
    expect(view.statuses.filter(isStatus).map(steady)).toEqual(status.filter(isStatus).map(steady));
    expect(view.statuses.filter(isStatus)).toHaveLength(3);

    const membersOnly = await etcd.view([]);
    expect(byId(membersOnly.members)).toEqual(byId(list));
    expect(membersOnly.statuses).toEqual([]);
  });

  it('fails view as it fails memberList when no endpoint answers the member list', async () => {
    const sandbox = ctx.sandbox();
    const nobody = ctx.factory(sandbox)([`https://${spare(sandbox).ip}:2379`]);
    const [viewError, listError] = await Promise.all([
      nobody.view(sandbox.client.endpoints).catch((e: unknown) => e),
      nobody.memberList().catch((e: unknown) => e),
    ]);
    expect(listError).toBeInstanceOf(EtcdUnavailableError);
    expect(viewError).toBeInstanceOf(EtcdUnavailableError);
  });

  it('reports every member healthy', async () => {
    const sandbox = ctx.sandbox();
    const health = await port().health(sandbox.client.endpoints);
    expect(health).toEqual(sandbox.client.endpoints.map((endpoint) => ({ endpoint, healthy: true })));
  });

  it('adds the spare (a learner from etcd 3.4, a voter before), refuses to promote a learner before it has started, and removes it again', async () => {
    const sandbox = ctx.sandbox();
    const etcd = port();
    const peerURL = `https://${spare(sandbox).ip}:2380`;
    // etcd 3.2 and 3.3 have no learners: the workflow adds a plain member there.
    const learner = !/^3\.[23]\./.test(sandbox.etcdVersion);
    const added = await retryingUnhealthy(() => etcd.addMember(peerURL, { learner }));
    try {
      expect(added).toMatchObject({ name: '', peerURLs: [peerURL], clientURLs: [], isLearner: learner });
      expect(added.id).toMatch(/^[0-9a-f]{16}$/);

      const listed = (
        await waitFor(
          'the added member listed',
          10_000,
          200,
          listWhere(etcd, (list) => list.some((m) => m.id === added.id)),
          { errors: 'throw' },
        )
      ).find((m) => m.id === added.id);
      expect(listed).toEqual({ id: added.id, name: '', peerURLs: [peerURL], clientURLs: [], isLearner: learner });

      if (learner) {
        const promote = await etcd.promoteMember(added.id).catch((e: unknown) => e);
        expect(promote).toBeInstanceOf(LearnerNotReadyError);
        expect((promote as Error).name).toBe('LearnerNotReadyError');
        // A member that already votes: etcd says so, and the port names it (PromoteNewMember's idempotence).
        const voter = (await etcd.memberList()).find((m) => !m.isLearner);
        const again = await etcd.promoteMember(voter!.id).catch((e: unknown) => e);
        expect(again).toBeInstanceOf(MemberNotLearnerError);
      }
    } finally {
      await retryingUnhealthy(() => etcd.removeMember(added.id));
    }
    const after = await waitFor(
      'the removed member gone from the list',
      10_000,
      200,
      listWhere(etcd, (list) => !list.some((m) => m.id === added.id)),
      { errors: 'throw' },
    );
    expect(after.map((m) => m.id)).not.toContain(added.id);
    expect(after.filter((m) => !m.isLearner)).toHaveLength(3);
  });

  it('answers MemberNotFoundError when removing an id that is not a member', async () => {
    const error = await port()
      .removeMember('0123456789abcdef')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MemberNotFoundError);
    expect((error as Error).name).toBe('MemberNotFoundError');
    expect(await port().memberList()).toHaveLength(3);
  });

  it('updates a member to its own peer URL with no visible change', async () => {
    const etcd = port();
    const before = byId(await etcd.memberList());
    const target = before.find((m) => m.name.startsWith('master-1.'));
    expect(target).toBeDefined();
    await etcd.updateMember(target?.id ?? '', target?.peerURLs ?? []);
    expect(byId(await etcd.memberList())).toEqual(before);
  });

  it('gives an endpoint nobody answers on an error, and the live ones their status, in bounded time', async () => {
    const sandbox = ctx.sandbox();
    const dead = `https://${unusedAddress(sandbox)}:2379`;
    const endpoints = [sandbox.client.endpoints[0] ?? '', dead, ...sandbox.client.endpoints.slice(1)];
    const started = Date.now();
    const status = await port().status(endpoints);
    const health = await port().health([dead, sandbox.client.endpoints[0] ?? '']);
    expect(Date.now() - started).toBeLessThan(DEAD_ENDPOINT_BOUND_MS);
    expect(status.map((s) => s.endpoint)).toEqual(endpoints);
    const deadEntry = status[1];
    expect(deadEntry && 'error' in deadEntry ? deadEntry.error : '').not.toBe('');
    const live = status.filter(isStatus);
    expect(live.map((s) => s.endpoint)).toEqual(sandbox.client.endpoints);
    expect(new Set(live.map((s) => s.leaderId)).size).toBe(1);
    expect(health[0]).toMatchObject({ endpoint: dead, healthy: false });
    expect(health[0]?.error).toMatch(/\S/);
    expect(health[1]).toEqual({ endpoint: sandbox.client.endpoints[0], healthy: true });
  });
}

export interface FailedMemberContext extends MembershipContext {
  /** Client URL of the member that is down. */
  failed: () => string;
  /** What the error reported for that member's endpoint says. */
  downError: RegExp;
  /** What view() says of it, when that differs (view also has the survivors' word on their peers); by the members' etcd version. */
  viewDownError?: RegExp | ((etcdVersion: string) => RegExp);
}

/**
 * One of the three members is down (its etcd stopped, or its host powered off): view, status and
 * health report its endpoint with an error and the live ones with their answers.
 */
export function viewWithFailedMemberContract(ctx: FailedMemberContext): void {
  const leaderAgreed = (view: ClusterView) => {
    const leaders = new Set(view.statuses.filter(isStatus).map((s) => s.leaderId));
    return leaders.size === 1 && view.members.some((m) => leaders.has(m.id));
  };

  it('views every member, the down one with an error and the live ones with their status', async () => {
    const sandbox = ctx.sandbox();
    const endpoints = sandbox.client.endpoints;
    const view = await waitFor('one leader agreed on', 15_000, 500, viewWhere(ctx.factory(sandbox)(endpoints), endpoints, leaderAgreed), { errors: 'throw' });
    expect(view.members).toHaveLength(3);
    expect(view.statuses.map((s) => s.endpoint)).toEqual(endpoints);
    const viewDownError = typeof ctx.viewDownError === 'function' ? ctx.viewDownError(sandbox.etcdVersion) : ctx.viewDownError;
    expect(errorOf(view.statuses.find((s) => s.endpoint === ctx.failed()))).toMatch(viewDownError ?? ctx.downError);
    const live = view.statuses.filter(isStatus);
    expect(live.map((s) => s.endpoint)).toEqual(endpoints.filter((e) => e !== ctx.failed()));
    expect(leaderAgreed(view)).toBe(true);
    for (const s of live) expect(view.members.find((m) => m.id === s.memberId)?.clientURLs).toContain(s.endpoint);
  });

  it('reports the down member with an error from status and health too', async () => {
    const sandbox = ctx.sandbox();
    const live = sandbox.client.endpoints.find((e) => e !== ctx.failed()) ?? '';
    const etcd = ctx.factory(sandbox)(sandbox.client.endpoints);
    const status = await etcd.status([ctx.failed(), live]);
    expect(errorOf(status[0])).toMatch(ctx.downError);
    expect(status[1] && isStatus(status[1])).toBe(true);
    const health = await etcd.health([ctx.failed()]);
    expect(health[0]).toMatchObject({ endpoint: ctx.failed(), healthy: false });
    expect(health[0]?.error).toMatch(ctx.downError);
  });
}

const ETCDCTL = 'etcdctl on the members through the host runner';
const ETCD3 = 'etcd3 client over TLS';

/** The two adapters of EtcdClusterPort, by the label their describe blocks carry. */
export const ADAPTERS: Array<[string, (s: SandboxInfo) => EtcdClusterFactory]> = [
  [
    ETCDCTL,
    (s) =>
      etcdctlFactory(
        new SandboxHostRunner(s),
        s.hosts.filter((h) => h.roles.includes('etcd')),
      ),
  ],
  [ETCD3, (s) => etcd3Factory(s.client)],
];

/**
 * What etcdctl's observe says of a powered-off member's endpoint without waiting for etcdctl's timeout:
 * its host answers none of the TCP connects (or, once ARP gave up, there is no route to it); from 3.3 on
 * the survivors may say first that their raft connection to it broke.
 */
const POWERED_OFF_BY_TCP = /^no route to host \(TCP probe\)$|^no answer to 3 TCP connects in 450 ms \(TCP probe\)$/;
const POWERED_OFF_IN_VIEW: Record<string, (etcdVersion: string) => RegExp> = {
  [ETCDCTL]: (etcdVersion) =>
    etcdVersion.startsWith('3.2.')
      ? // etcd 3.2 publishes no etcd_network_active_peers: the TCP connects tell.
        POWERED_OFF_BY_TCP
      : new RegExp(`^member [0-9a-f]{16}: 2 surviving member\\(s\\) report their peer connection to it inactive|${POWERED_OFF_BY_TCP.source}`),
};
/** What each adapter says of an endpoint where nothing listens. */
const REFUSED: Record<string, RegExp> = {
  [ETCDCTL]: /^connection refused \(TCP probe\)$/,
  [ETCD3]: /ECONNREFUSED/,
};

/** The contract for both adapters, on a healthy sandbox of 3 members and a spare; it leaves the cluster as it found it. */
export function adaptersContract(sandbox: () => SandboxInfo): void {
  describe.each(ADAPTERS)('EtcdClusterPort contract: %s', (_label, factory) => {
    etcdMembershipContract({ sandbox, factory });
  });
}

/**
 * The view of both adapters with `failed` down: first its etcd stopped (nothing listens on its client
 * port), then its host powered off. It breaks `failed` for good: the last use of the healthy cluster.
 */
export function memberDownContract(sandbox: () => SandboxInfo, failed: string): void {
  const context = (
    factory: (s: SandboxInfo) => EtcdClusterFactory,
    downError: RegExp,
    viewDownError?: (etcdVersion: string) => RegExp,
  ): FailedMemberContext => ({
    sandbox,
    factory,
    downError,
    ...(viewDownError ? { viewDownError } : {}),
    failed: () => {
      const host = sandbox().hosts.find((h) => h.name === failed);
      if (!host) throw new Error(`the sandbox lacks ${failed}`);
      return `https://${host.ip}:2379`;
    },
  });

  describe('EtcdClusterPort with one member down', () => {
    describe('its etcd stopped (nothing listens on its client port)', () => {
      beforeAll(async () => {
        await failHost(sandbox().name, failed, 'etcd');
      });
      describe.each(ADAPTERS)('%s', (label, factory) => {
        viewWithFailedMemberContract(context(factory, REFUSED[label] ?? /refused/i));
      });
    });

    describe('its host powered off', () => {
      beforeAll(async () => {
        await failHost(sandbox().name, failed, 'kill');
      });
      describe.each(ADAPTERS)('%s', (label, factory) => {
        viewWithFailedMemberContract(context(factory, /\S/, POWERED_OFF_IN_VIEW[label]));
      });
    });
  });
}
