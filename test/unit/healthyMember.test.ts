// Issue 15, the pure and step-level half: a healthy member is never touched. The replacement is no
// member by any identity; the failed host must be a member (or the refusal names the run that replaced
// it); a failure confirmation is acted on only by the execution that made it, within its time bound;
// AddMember only after this run removed the failed member. The sandbox half: test/sandbox/healthyMember.test.ts.

import { describe, expect, it } from 'vitest';
import { assessFailure } from '../../functions/cluster/assessFailure.ts';
import { RemoveFailedMember } from '../../functions/steps/RemoveFailedMember.ts';
import { AddMember } from '../../functions/steps/AddMember.ts';
import { ValidateInput } from '../../functions/steps/ValidateInput.ts';
import { InvalidInputError, RefusedError } from '../../functions/errors.ts';
import type { RunRecord } from '../../functions/ports.ts';
import type { StepDeps } from '../../functions/workflow/stepDeps.ts';
import { asMemberId, hostOfUrl, membersOfHost } from '../../statemachine/memberIdentity.ts';
import { confirmationStale, confirmationValidMs, CONFIRMATION_SLACK_SECONDS } from '../../statemachine/confirmation.ts';
import { describePastRemoval, findPastRemoval } from '../../statemachine/pastRemoval.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import {
  FAKE_CLUSTER_ID,
  FakeCluster,
  fakeDeps,
  fakeMember as member,
  memberId as ID,
  threeMembers as three,
  unitInventory as inventory,
  validatedContext,
} from '../support/fakeCluster.ts';
import { ChangingCluster } from '../support/fakePorts.ts';

const NOW = new Date('2026-01-01T00:00:00Z');

async function failure(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e as Error,
  );
  expect(error).not.toBeNull();
  return error!;
}

/** Deps whose DescribeEtcdHost answers with these facts. */
function withHostFacts(deps: StepDeps, facts: Record<string, unknown>): StepDeps {
  const clean = { staticPod: false, unitActive: false, unitEnabled: false, installedVersion: null, listening: false, running: null, dataDirEmpty: true };
  return {
    ...deps,
    runner: { run: async () => ({ exitCode: 0, stdout: `${JSON.stringify({ ...clean, ...facts })}\n`, stderr: '' }) },
  };
}

describe('memberIdentity: which members a host is', () => {
  const members = [
    { id: ID(1), name: 'master-1.example.test', peerURLs: ['https://198.51.100.3:2380'], clientURLs: ['https://198.51.100.3:2379'] },
    { id: ID(2), name: '', peerURLs: ['https://198.51.100.9:2380'], clientURLs: [] },
    { id: ID(3), name: 'other', peerURLs: ['https://elsewhere:2380'], clientURLs: ['https://198.51.100.12:2379'] },
  ];
  it('matches by name, peer URL and client URL, exactly', () => {
    expect(membersOfHost(members, { name: 'master-1', hostname: 'master-1.example.test', ip: '10.9.9.9' }).map((m) => [m.member.id, m.by])).toEqual([
      [ID(1), 'name'],
    ]);
    expect(membersOfHost(members, { name: 'spare', hostname: 'spare.example.test', ip: '198.51.100.9' }).map((m) => [m.member.id, m.by])).toEqual([
      [ID(2), 'peer URL'],
    ]);
    expect(membersOfHost(members, { name: 'x', hostname: 'x.example.test', ip: '198.51.100.12' }).map((m) => [m.member.id, m.by])).toEqual([
      [ID(3), 'client URL'],
    ]);
    // 198.51.100.1 is no prefix match for 198.51.100.12; master-1 is not master-10.
    expect(membersOfHost(members, { name: 'master-10', hostname: 'master-10.example.test', ip: '198.51.100.1' })).toEqual([]);
  });
  it('reads member IDs and URLs as typed', () => {
    expect(asMemberId('A2')).toBe('00000000000000a2');
    expect(asMemberId('master-1')).toBeNull();
    expect(hostOfUrl('https://198.51.100.3:2380')).toBe('198.51.100.3');
    expect(hostOfUrl('master-1')).toBeNull();
  });
});

describe('confirmation: good only for the execution that made it, for a bounded time', () => {
  const conf = { memberId: ID(2), execution: 'e1', observedAt: NOW.toISOString() };
  const at = (ms: number) => new Date(NOW.getTime() + ms);
  it('bound is 2 × grace + 60 s', () => {
    expect(CONFIRMATION_SLACK_SECONDS).toBe(60);
    expect(confirmationValidMs(10)).toBe(80_000);
  });
  it('is stale for another execution, another member, too late, or none at all', () => {
    expect(confirmationStale(conf, { memberId: ID(2), execution: 'e1', at: at(1000), graceSeconds: 10 })).toBeNull();
    expect(confirmationStale(conf, { memberId: ID(2), execution: 'e1', at: at(80_000), graceSeconds: 10 })).toBeNull();
    expect(confirmationStale(conf, { memberId: ID(2), execution: 'e1', at: at(80_001), graceSeconds: 10 })).toMatch(/confirmed 80 s ago, more than the 80 s/);
    expect(confirmationStale(conf, { memberId: ID(2), execution: 'e2', at: at(1000), graceSeconds: 10 })).toMatch(/another execution/);
    expect(confirmationStale(conf, { memberId: ID(3), execution: 'e1', at: at(1000), graceSeconds: 10 })).toMatch(/not 0000000000000003/);
    expect(confirmationStale(undefined, { memberId: ID(2), execution: 'e1', at: at(0), graceSeconds: 10 })).toMatch(/no confirmation/);
    expect(confirmationStale(conf, { memberId: ID(2), execution: 'e1', at: at(-5000), graceSeconds: 10 })).toMatch(/not in the past/);
  });
});

const pastRun = (runId: string, outcome: string, member: { id: string; name: string; peerURL: string }, removed: boolean): RunRecord => ({
  runId,
  cluster: 'unit',
  target: 'sandbox',
  startedBy: 'test',
  request: {},
  outcome: outcome as RunRecord['outcome'],
  startedAt: '2026-01-01T00:00:00.000Z',
  state: 'Succeeded',
  context: { failedMember: { ...member, clientURL: '' } },
  steps: [
    {
      name: 'RemoveFailedMember',
      status: removed ? 'succeeded' : 'skipped',
      startedAt: '',
      endedAt: '2025-12-31T10:00:00.000Z',
      attempts: 1,
      detail: removed ? `removed member ${member.id} (x)` : 'already removed',
    },
  ],
});

describe('pastRemoval: the run that removed a member', () => {
  const m2 = { id: ID(0xa2), name: 'master-2.example.test', peerURL: 'https://198.51.100.4:2380' };
  it('names the newest run whose RemoveFailedMember removed it, matched exactly', () => {
    const runs = [pastRun('r-skip', 'succeeded', m2, false), pastRun('r-new', 'succeeded', m2, true), pastRun('r-old', 'failed', m2, true)];
    const host = { name: 'master-2', hostname: 'master-2.example.test', ip: '198.51.100.4' };
    expect(findPastRemoval(runs, { text: 'master-2', host })?.runId).toBe('r-new');
    expect(findPastRemoval(runs, { text: ID(0xa2) })?.runId).toBe('r-new');
    expect(findPastRemoval(runs, { text: 'master-2', host }, 'r-new')?.runId).toBe('r-old');
    expect(findPastRemoval(runs, { text: 'master-20' })).toBeNull();
    expect(describePastRemoval({ runId: 'r-new', at: '2025-12-31T10:00:00.000Z', outcome: 'succeeded', member: m2 })).toBe(
      'replaced by run r-new on 2025-12-31 10:00:00Z',
    );
    expect(describePastRemoval({ runId: 'r-old', at: '2025-12-31T10:00:00.000Z', outcome: 'failed', member: m2 })).toMatch(
      /removed by run r-old .* \(that run ended failed\)/,
    );
  });
});

describe('assessFailure: identities before anything changes', () => {
  const assess = (
    members: ReturnType<typeof three>,
    failed: string,
    replacement: string,
    deps?: (d: StepDeps) => StepDeps,
    extra: Partial<WorkflowContext> = {},
  ) => {
    const cluster = new FakeCluster(members);
    const base = fakeDeps(cluster, NOW);
    return assessFailure(validatedContext(inventory(), failed, replacement, extra), deps ? deps(base) : base, 'first');
  };

  it('a non-member failed host with a member replacement: the replacement is named, exit 2 (node-0 / master-1)', async () => {
    const inv = inventory([{ name: 'node-0', hostname: 'node-0.example.test', ip: '198.51.100.7', roles: ['node'] }]);
    const cluster = new FakeCluster(three([]));
    const error = await failure(assessFailure(validatedContext(inv, 'node-0', 'master-1'), fakeDeps(cluster, NOW), 'first'));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toMatch(/master-1 \(master-1\.example\.test, 198\.51\.100\.3\) is a member of the cluster: member 00000000000000a1/);
  });

  it('a failed member still a member and a member replacement: the true reason, not the member count', async () => {
    for (const down of [[], ['master-2']]) {
      const error = await failure(assess(three(down), 'master-2', 'master-1'));
      expect(error).toBeInstanceOf(InvalidInputError);
      expect(error.message).toMatch(/master-1 .* is a member of the cluster/);
      expect(error.message).not.toMatch(/would end with|healthy member/);
    }
  });

  it('the replacement matched by IP when its member name differs (peer URL)', async () => {
    const members = [
      ...three(['master-2']).slice(0, 2),
      member(0xa2, 'renamed', '198.51.100.4', false),
      member(0xb0, 'not-the-hostname', '198.51.100.9', true),
    ];
    const error = await failure(assess(members, 'master-2', 'etcd-spare-0'));
    expect(error.message).toMatch(
      /is a member of the cluster: member 00000000000000b0 \(not-the-hostname\.example\.test\) by its peer URL https:\/\/198\.51\.100\.9:2380/,
    );
  });

  it('the member this run added (its record) is the one exception', async () => {
    const members = [...three(['master-2']), member(0xb0, '', '198.51.100.9', false, { isLearner: true })];
    // In the member list but not in this run's record: refused.
    expect(await failure(assess(members, 'master-2', 'etcd-spare-0'))).toBeInstanceOf(InvalidInputError);
    // Named by this run's record: not refused (the count then ends odd: 4 - 1 + 0).
    const ok = await assess(members, 'master-2', 'etcd-spare-0', undefined, { memberAdded: true, newMemberId: ID(0xb0) });
    expect(ok.output.failedMember?.id).toBe(ID(0xa2));
  });

  it('a failed host that is no member: exit 2 naming the run that replaced it, not "would end with 4 members"', async () => {
    const members = [...three(['master-2']).slice(0, 2), member(0xb1, 'etcd-spare-1', '198.51.100.10', true)];
    const runs = [
      pastRun('r-20260101-000000-abcdef', 'succeeded', { id: ID(0xa2), name: 'master-2.example.test', peerURL: 'https://198.51.100.4:2380' }, true),
    ];
    const error = await failure(assess(members, 'master-2', 'etcd-spare-0', (d) => ({ ...d, pastRuns: async () => runs })));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toMatch(/master-2 is not a member; replaced by run r-20260101-000000-abcdef on 2025-12-31 10:00:00Z/);
    // Without a run record: still the true reason.
    const plain = await failure(assess(members, 'master-2', 'etcd-spare-0'));
    expect(plain.message).toMatch(/master-2 is not a member of the cluster/);
  });

  it("a replacement host that carries the etcd static pod or runs this cluster's etcd: exit 2", async () => {
    const pod = await failure(assess(three(['master-2']), 'master-2', 'etcd-spare-0', (d) => withHostFacts(d, { staticPod: true })));
    expect(pod).toBeInstanceOf(InvalidInputError);
    expect(pod.message).toMatch(/cannot be the replacement: it carries the etcd static pod/);
    const running = { version: '3.2.22', memberId: ID(0xf0), clusterId: FAKE_CLUSTER_ID, leaderId: ID(0xa0), members: 3 };
    const ours = await failure(assess(three(['master-2']), 'master-2', 'etcd-spare-0', (d) => withHostFacts(d, { running })));
    expect(ours.message).toMatch(/its etcd runs as member 00000000000000f0 of this cluster/);
    // An etcd of another cluster is the lead's business (a reused host is prepared later), not this refusal.
    const foreign = await assess(three(['master-2']), 'master-2', 'etcd-spare-0', (d) =>
      withHostFacts(d, { running: { ...running, clusterId: 'ffffffffffffffff' } }),
    );
    expect(foreign.output.failedMember?.id).toBe(ID(0xa2));
  });

  it('the second observation records who confirmed the failure, and when', async () => {
    const cluster = new FakeCluster(three(['master-2']));
    const result = await assessFailure(validatedContext(inventory(), 'master-2', 'etcd-spare-0'), { ...fakeDeps(cluster, NOW), execution: 'exec-1' }, 'second');
    expect(result.output.failureConfirmation).toEqual({ memberId: ID(0xa2), execution: 'exec-1', observedAt: NOW.toISOString() });
  });
});

describe('RemoveFailedMember: acts only on a fresh confirmation of this execution', () => {
  const confirmed = (execution: string, observedAt = NOW) => ({
    failedMember: { id: ID(0xa2), name: 'master-2.example.test', peerURL: 'https://198.51.100.4:2380', clientURL: 'https://198.51.100.4:2379' },
    survivors: [
      { id: ID(0xa1), name: 'master-1.example.test', peerURL: 'https://198.51.100.3:2380', clientURL: 'https://198.51.100.3:2379' },
      { id: ID(0xa0), name: 'master-0.example.test', peerURL: 'https://198.51.100.2:2380', clientURL: 'https://198.51.100.2:2379' },
    ],
    failureConfirmation: { memberId: ID(0xa2), execution, observedAt: observedAt.toISOString() },
  });
  const remove = (cluster: ChangingCluster, extra: Partial<WorkflowContext>, execution: string, now = NOW) =>
    RemoveFailedMember(validatedContext(inventory(), 'master-2', 'etcd-spare-0', extra), { ...fakeDeps(cluster, now), execution });

  it('same execution, fresh: removes without asking the failed member again', async () => {
    const cluster = new ChangingCluster(three([]));
    const result = await remove(cluster, confirmed('e1'), 'e1');
    expect(cluster.changes).toEqual([`remove ${ID(0xa2)}`]);
    expect(result.output.failedMemberRemoved).toBe(true);
  });

  it('a resumed run (another execution) finds the member answering: refused, nothing removed', async () => {
    const cluster = new ChangingCluster(three([]));
    const error = await failure(remove(cluster, confirmed('e1'), 'e2'));
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toMatch(/answers health checks again when observed before its removal \(the failure was confirmed by another execution/);
    expect(error.message).toMatch(/nothing was removed/);
    expect(cluster.changes).toEqual([]);
  });

  it('too long after the confirmation, even in the same execution: observed again', async () => {
    const cluster = new ChangingCluster(three([]));
    const late = new Date(NOW.getTime() + confirmationValidMs(0) + 1000);
    const error = await failure(remove(cluster, confirmed('e1'), 'e1', late));
    expect(error.message).toMatch(/more than the 60 s a confirmation stays good/);
    expect(cluster.changes).toEqual([]);
  });

  it('a resumed run whose member is still down re-confirms, removes, and records the new confirmation', async () => {
    const cluster = new ChangingCluster(three(['master-2']));
    const result = await remove(cluster, confirmed('e1'), 'e2');
    expect(cluster.changes).toEqual([`remove ${ID(0xa2)}`]);
    expect(result.detail).toMatch(/observed again before removal .*: still not answering/);
    expect(result.output.failureConfirmation?.execution).toBe('e2');
  });

  it('"not found" is done only for the member this run confirmed failed', async () => {
    const cluster = new ChangingCluster(three(['master-2']).slice(0, 2));
    const done = await remove(cluster, confirmed('e1'), 'e2');
    expect(done).toMatchObject({ skipped: true, output: { failedMemberRemoved: true } });
    const { failureConfirmation: _, ...unconfirmed } = confirmed('e1');
    const error = await failure(remove(cluster, unconfirmed, 'e1'));
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toMatch(/this run never confirmed its failure/);
  });
});

describe('AddMember: only after this run removed the failed member', () => {
  it('refuses without the removal in its record; adds with it', async () => {
    const cluster = new ChangingCluster(three(['master-2']).slice(0, 2));
    const context = validatedContext(inventory(), 'master-2', 'etcd-spare-0', { survivors: [] });
    const error = await failure(AddMember(context, fakeDeps(cluster, NOW)));
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toMatch(/this run has not removed the failed member/);
    expect(cluster.changes).toEqual([]);
    const added = await AddMember({ ...context, failedMemberRemoved: true }, fakeDeps(cluster, NOW));
    expect(cluster.changes).toEqual(['add https://198.51.100.9:2380']);
    expect(added.output).toMatchObject({ newMemberId: ID(0xb0), memberAdded: true });
  });

  it("a started member on the replacement's peer URL that this run did not add is refused", async () => {
    const cluster = new ChangingCluster([...three(['master-2']).slice(0, 2), member(0xb0, 'etcd-spare-0', '198.51.100.9', true)]);
    const context = validatedContext(inventory(), 'master-2', 'etcd-spare-0', { survivors: [], failedMemberRemoved: true });
    const error = await failure(AddMember(context, fakeDeps(cluster, NOW)));
    expect(error.message).toMatch(/already runs on https:\/\/198\.51\.100\.9:2380, and this run did not add it/);
    expect(cluster.changes).toEqual([]);
  });
});

describe('ValidateInput: a replacement named by member ID or URL', () => {
  const validate = (replacement: string) => {
    const cluster = new FakeCluster(three([]));
    const deps = { ...fakeDeps(cluster, NOW), resolveInventory: async () => inventory() };
    return ValidateInput(
      { runId: 'r-unit-0001', request: { cluster: 'unit', failed: 'master-2', replacement, startedBy: 'test' }, options: { graceSeconds: 0, learner: 'auto' } },
      deps,
    );
  };
  it('a member ID is refused as a member, exit 2', async () => {
    const error = await failure(validate(ID(0xa1)));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toMatch(/00000000000000a1 is member 00000000000000a1 \(master-1\.example\.test\) of the cluster/);
  });
  it('a peer or client URL resolves to its host (refused later as a member); an unknown name is no host', async () => {
    expect((await validate('https://198.51.100.3:2380')).output.replacement?.name).toBe('master-1');
    expect((await validate('https://198.51.100.3:2379')).output.replacement?.name).toBe('master-1');
    expect((await failure(validate('nosuchhost'))).message).toMatch(/no host named nosuchhost/);
  });
});
