// One EtcdClusterPort contract, two adapters, one real sandbox: etcdctl run on the members through
// the sandbox host runner, and the etcd3 client from the machine with the sandbox's client identity.
// The same contract runs on etcd 3.4 (learners) in test/sandbox/learner/.

import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { EtcdctlMembership } from '../../functions/adapters/etcdctl.ts';
import { SandboxHostRunner } from '../../sandbox/adapters/hostRunner.ts';
import { HostUnreachableError, InvalidInputError } from '../../functions/errors.ts';
import type { EtcdMember, ViewGuard } from '../../functions/ports.ts';
import { viewFingerprint } from '../../statemachine/viewFingerprint.ts';
import { failHost, sandboxDown, sandboxUp, type SandboxInfo } from '../../sandbox/index.ts';
import { hostExec, pidsInNamespaces, processName } from '../../sandbox/exec.ts';
import { adaptersContract, memberDownContract, retryingUnhealthy } from '../support/etcdMembershipContract.ts';

const name = `t-memb-${randomBytes(3).toString('hex')}`;
let sandbox: SandboxInfo | undefined;

beforeAll(async () => {
  sandbox = await sandboxUp({ name, members: 3, spares: 1, nodes: 0, dataMb: 1 });
});

afterAll(async () => {
  await sandboxDown(name);
});

const current = (): SandboxInfo => {
  if (!sandbox) throw new Error('the sandbox did not come up');
  return sandbox;
};

adaptersContract(current);

// etcdctl.sh's guarded verbs (a membership change in the same host command as the observation it is
// predicted safe for): refused with nothing changed when etcd shows another view, done when it shows
// the predicted one. Each check of "nothing changed" asks etcd itself. The cluster is left as found.
describe('Guarded membership changes (etcdctl.sh guarded-add, guarded-remove)', () => {
  it('refuses, removing nothing, when the member list has a member the prediction lacks', async () => {
    const { sandbox: s, etcd } = throughMaster();
    const { list, guard } = await predicted(etcd);
    const [kept0, kept1, extra] = list;
    const partial = { ...guard, members: guard.members.filter((m) => m.id !== extra!.id) };
    const result = await etcd.guardedChange(s.client.endpoints, partial, { remove: kept1!.id });
    expect(result.accepted).toBe(false);
    expect(result.expected).toBe(viewFingerprint([kept0!, kept1!], new Set([kept0!.id, kept1!.id])));
    expect(result.seen).toBe(viewFingerprint(list, new Set([kept0!.id, kept1!.id])));
    expect(result.view.members).toHaveLength(3);
    expect(ids(await etcd.memberList())).toEqual(ids(list));
  });

  it('adds, then removes, as predicted: one host command each, and the script and the workflow agree on the fingerprint', async () => {
    const { sandbox: s, etcd, spare } = throughMaster();
    const { list, guard } = await predicted(etcd);
    const everyone = new Set(list.map((m) => m.id));
    const peer = `https://${spare.ip}:2380`;
    const added = await retryingUnhealthy(() => etcd.guardedChange(s.client.endpoints, guard, { add: peer, learner: false }));
    expect(added).toMatchObject({ accepted: true, seen: viewFingerprint(list, everyone), expected: viewFingerprint(list, everyone) });
    const newId = added.added!.id;
    expect(added.added).toEqual({ id: newId, name: '', peerURLs: [peer], clientURLs: [], isLearner: false });
    expect(ids(added.membersAfter!)).toEqual(ids([...list, added.added!]));
    expect(ids(await etcd.memberList())).toEqual(ids([...list, added.added!]));
    // The unstarted member is listed and does not answer: the prediction says so.
    const withNew = { ...guard, members: [...guard.members, { id: newId, isLearner: false, answersAt: null }] };
    const removed = await retryingUnhealthy(() => etcd.guardedChange(s.client.endpoints, withNew, { remove: newId }));
    expect(removed.accepted).toBe(true);
    expect(removed.seen).toBe(viewFingerprint([...list, added.added!], everyone));
    expect(ids(await etcd.memberList())).toEqual(ids(list));
  });
});

// After the contract (it powers off the spare host, which the contract only names in a peer URL).
describe('Class: EtcdctlMembership on the sandbox', () => {
  const hosts = () => {
    if (!sandbox) throw new Error('the sandbox did not come up');
    const spare = sandbox.hosts.find((h) => h.roles.includes('spare'));
    const master = sandbox.hosts.find((h) => h.name === 'master-1');
    if (!spare || !master) throw new Error('the sandbox lacks a spare or master-1');
    return { sandbox, spare, master };
  };

  it('runs etcdctl on the first reachable via host, skipping powered-off ones', async () => {
    const { sandbox: s, spare, master } = hosts();
    await failHost(name, spare.name, 'kill');
    const etcd = new EtcdctlMembership(new SandboxHostRunner(s), [spare, master], s.client.endpoints);
    expect(await etcd.memberList()).toHaveLength(3);
  });

  it('throws HostUnreachableError when no via host can run anything', async () => {
    const { sandbox: s, spare } = hosts();
    const etcd = new EtcdctlMembership(new SandboxHostRunner(s), [spare], s.client.endpoints);
    const error = await etcd.memberList().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HostUnreachableError);
    expect((error as Error).message).toContain(spare.name);
  });

  it('refuses a peer URL off the peer port before running anything', async () => {
    const { sandbox: s, master } = hosts();
    const etcd = new EtcdctlMembership(new SandboxHostRunner(s), [master], s.client.endpoints);
    await expect(etcd.addMember(`https://${master.ip}:2379`, { learner: true })).rejects.toThrow(InvalidInputError);
    await expect(etcd.removeMember('$(reboot)')).rejects.toThrow(InvalidInputError);
    expect(await etcd.memberList()).toHaveLength(3);
  });
});

// etcdctl.sh's TCP probes call a host down only when none of three connects, 150 ms apart, connected
// within 450 ms: a lossy network (two SYNs dropped) or a stopped etcd (the kernel still completes the
// handshake) never reads as a silent host. master-1 is left as found.
describe('TCP probes beside etcdctl: a silent host, never a lossy network or a busy etcd', () => {
  const url = (s: SandboxInfo, name: string) => `https://${s.hosts.find((h) => h.name === name)!.ip}:2379`;
  const tcpVerdict = /\(TCP probe\)$/;

  it("with the first two SYNs to master-1's client port dropped, the probes still find it up: etcdctl answers, or its own timeout tells", async () => {
    const { sandbox: s, etcd } = throughMaster();
    await nft(
      s,
      'master-1',
      ['-f', '-'],
      `table inet test_syn_loss {
  chain input {
    type filter hook input priority -200; policy accept;
    iifname != "lo" tcp dport 2379 tcp flags & (syn | ack) == syn numgen inc mod 1000000 < 2 counter drop
  }
}
`,
    );
    try {
      const view = await etcd.view([url(s, 'master-0'), url(s, 'master-1')]);
      const dropped = await nft(s, 'master-1', ['list', 'table', 'inet', 'test_syn_loss']);
      expect(dropped).toMatch(/counter packets 2 /);
      const status = view.statuses[1]!;
      if ('error' in status) expect(status.error).not.toMatch(tcpVerdict);
    } finally {
      await nft(s, 'master-1', ['delete', 'table', 'inet', 'test_syn_loss']);
    }
  });

  it("leaves a stopped etcd (SIGSTOP: its host completes the handshake) to etcdctl's own timeout", async () => {
    const { sandbox: s, etcd } = throughMaster();
    const etcdPids = await etcdPidsOn(s, 'master-1');
    expect(etcdPids.length).toBeGreaterThan(0);
    for (const pid of etcdPids) process.kill(pid, 'SIGSTOP');
    try {
      const view = await etcd.view([url(s, 'master-0'), url(s, 'master-1')]);
      const status = view.statuses[1]!;
      expect('error' in status && status.error).toMatch(/deadline exceeded/);
      expect('error' in status && status.error).not.toMatch(tcpVerdict);
    } finally {
      for (const pid of etcdPids) process.kill(pid, 'SIGCONT');
    }
    await expect.poll(async () => 'error' in (await etcd.view([url(s, 'master-1')])).statuses[0]!, { timeout: 30_000, interval: 500 }).toBe(false);
  });
});

// Last: these break master-2 for good.
memberDownContract(current, 'master-2');

describe('Guarded membership change with master-2 down', () => {
  it('refuses, removing nothing, when a member the prediction counts as answering does not answer', async () => {
    const { sandbox: s, etcd } = throughMaster();
    const { list, guard } = await predicted(etcd);
    const downHost = s.hosts.find((h) => h.name === 'master-2');
    const down = list.find((m) => m.name === downHost?.hostname);
    if (!down) throw new Error('master-2 is not listed');
    expect(guard.members.find((m) => m.id === down.id)?.answersAt).toBeNull();
    // The prediction of a run that last saw every member answer.
    const everyoneAnswers = { ...guard, members: list.map((m) => ({ id: m.id, isLearner: m.isLearner, answersAt: m.clientURLs[0] ?? null })) };
    const result = await etcd.guardedChange(s.client.endpoints, everyoneAnswers, { remove: down.id });
    expect(result.accepted).toBe(false);
    expect(result.expected).toBe(viewFingerprint(list, new Set(list.map((m) => m.id))));
    expect(result.seen).toBe(viewFingerprint(list, new Set(list.filter((m) => m.id !== down.id).map((m) => m.id))));
    expect(ids(await etcd.memberList())).toEqual(ids(list));
  });
});

describe('An observation under final evidence (observe QUICK_ENDPOINTS)', () => {
  it('asks the quick endpoints within 0.5 s: a live member answers in time, the powered-off one does not', async () => {
    const { sandbox: s, etcd } = throughMaster();
    const url = (name: string) => `https://${s.hosts.find((h) => h.name === name)!.ip}:2379`;
    const endpoints = ['master-0', 'master-1', 'master-2'].map(url);
    const view = await etcd.view(endpoints, { quick: [url('master-0'), url('master-2')] });
    const answered = view.statuses.map((st) => !('error' in st));
    expect(answered).toEqual([true, true, false]);
  });
});

/** nft in a host's network namespace; its stdout. */
async function nft(s: SandboxInfo, host: string, args: string[], stdin?: string): Promise<string> {
  const out = await hostExec(s, host, ['nft', ...args], { timeoutMs: 10_000, ...(stdin === undefined ? {} : { stdin }) });
  if (out.exitCode !== 0) throw new Error(`nft ${args.join(' ')} on ${host} exited ${out.exitCode}: ${out.stderr}`);
  return out.stdout;
}

/** The etcd processes of a host (by its network namespace): processes of the sandbox, ended by nobody here. */
async function etcdPidsOn(s: SandboxInfo, host: string): Promise<number[]> {
  const netns = s.hosts.find((h) => h.name === host)!.netns;
  const pids = await pidsInNamespaces([`/run/netns/${netns}`]);
  const names = await Promise.all(pids.map(processName));
  return pids.filter((_, i) => names[i] === 'etcd');
}

/** etcdctl through master-0, with the spare host (whose peer URL the adds name; never started). */
function throughMaster() {
  const s = current();
  const master = s.hosts.find((h) => h.name === 'master-0');
  const spare = s.hosts.find((h) => h.roles.includes('spare'));
  if (!master || !spare) throw new Error('the sandbox lacks master-0 or a spare');
  return { sandbox: s, spare, etcd: new EtcdctlMembership(new SandboxHostRunner(s), [master], s.client.endpoints) };
}

/** The view as etcd shows it now, as a prediction: every member listed, those that answer at their client URL. */
async function predicted(etcd: EtcdctlMembership): Promise<{ list: EtcdMember[]; guard: ViewGuard }> {
  const list = await etcd.memberList();
  const statuses = await etcd.status(list.flatMap((m) => m.clientURLs.slice(0, 1)));
  const answering = statuses.flatMap((st) => ('error' in st ? [] : [st]));
  const clusterId = answering[0]?.clusterId;
  if (!clusterId) throw new Error('no member answered endpoint status');
  const answersAt = (m: EtcdMember) => answering.find((st) => st.memberId === m.id)?.endpoint ?? null;
  return { list, guard: { clusterId, members: list.map((m) => ({ id: m.id, isLearner: m.isLearner, answersAt: answersAt(m) })) } };
}

const ids = (list: EtcdMember[]) => list.map((m) => m.id).sort();
