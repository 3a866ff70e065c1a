// The approval request (functions/steps/AwaitApproval.ts): the task token kept by run ID and never shown,
// one request naming the run, the restore point, the expected loss, every host to be fenced, the wait and
// the exact approve command; a retried invocation publishes nothing more; neither a token nor a local store:
// refused. On the sandbox the step waits itself: the approval returned once answered, a rerun's deadline the
// first request's, States.HeartbeatTimeout when it passes, and a cancelled wait stops at once.

import { describe, expect, it } from 'vitest';
import {
  APPROVAL_LEASE_MARGIN_SECONDS,
  AwaitApproval,
  waitText,
  type ApprovalAnswer,
  type ApprovalPort,
  type ApprovalRequest,
  type ApprovalStepDeps,
  type LocalApprovalPort,
  type LocalApprovalRequest,
} from '../../../functions/steps/AwaitApproval.ts';
import { unitInventory } from '../../support/fakeCluster.ts';
import { failure, NOW, RUN_ID, stepWorld } from '../../support/stepHarness.ts';
import type { RestoreContext } from '../../../statemachine/restoreContext.ts';
import type { Survivor } from '../../../statemachine/restorePolicy.ts';
import type { StepDeps } from '../../../functions/workflow/stepDeps.ts';

const ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:etcd-restore-unit';
const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAfake-token-value-0123456789';
const LOSS = 'restoring master-0 at revision 1200 loses the 50 revision(s) after it up to 1250, the highest seen (on master-1)';

const MEMBER: Survivor = { kind: 'member', host: 'master-0', memberId: 'aa01', revision: 1200, raftIndex: 1300, etcd: 'stopped', chosenBy: 'rank' };

function restoreContext(extra: Partial<RestoreContext> = {}): RestoreContext {
  return {
    runId: RUN_ID,
    request: { cluster: 'unit', failed: '', startedBy: 'test' },
    options: { graceSeconds: 30, learner: 'auto', approvalTimeoutSeconds: 5400 },
    inventory: unitInventory(),
    formerMembers: ['master-0', 'master-1', 'master-2'].map((host, i) => ({ host, memberId: `aa0${i + 1}`, name: host, isLearner: false })),
    survivor: MEMBER,
    expectedLoss: { highestRevision: 1250, highestOn: ['master-1'], chosenRevision: 1200, revisionsLost: 50, unread: [], text: LOSS },
    ...extra,
  };
}

/** The run table and the topic, in memory: the token under the run's ID, every message published. */
class FakeApprovals implements ApprovalPort {
  readonly stateMachineArn = ARN;
  readonly kept = new Map<string, { token: string; expiresAt: string; publishedAt: string | null }>();
  readonly published: ApprovalRequest[] = [];
  consoleLink(executionName: string): string {
    return `https://console.test/${executionName}`;
  }
  async keep(runId: string, token: string, expiresAt: string) {
    const before = this.kept.get(runId);
    this.kept.set(runId, { token, expiresAt, publishedAt: before?.publishedAt ?? null });
    return { publishedAt: before?.publishedAt ?? null };
  }
  async publish(request: ApprovalRequest) {
    this.published.push(request);
    this.kept.get(request.runId)!.publishedAt = NOW.toISOString();
  }
}

/** A run that holds its cluster's lock (AcquireLock, the usual lease), waiting at AwaitApproval on AWS. */
async function world(token = TOKEN) {
  const w = stepWorld([]);
  await w.lock.acquire('unit', { runId: RUN_ID, startedBy: 'test', execution: 'sfn:restore-unit-1' }, w.deps.waits.lockTtlSeconds);
  const approvals = new FakeApprovals();
  const deps: StepDeps & ApprovalStepDeps = { ...w.deps, execution: 'sfn:restore-unit-1', approvals, ...(token ? { taskToken: token } : {}) };
  return { ...w, approvals, deps };
}

describe('Step: AwaitApproval', () => {
  it('keeps the token by run ID and publishes one request: run, survivor, loss, fenced hosts, wait, the approve command and the console', async () => {
    const w = await world();
    const result = await AwaitApproval(restoreContext(), w.deps);
    const until = new Date(NOW.getTime() + 5400_000).toISOString();
    expect(w.approvals.kept.get(RUN_ID)).toEqual({ token: TOKEN, expiresAt: until, publishedAt: NOW.toISOString() });
    expect(w.approvals.published).toHaveLength(1);
    const request = w.approvals.published[0]!;
    expect(request.subject).toBe(`unit: APPROVE restore of etcd quorum from master-0? (run ${RUN_ID})`);
    expect(request.message).toBe(
      [
        `Run ${RUN_ID} on cluster unit waits for your approval to restore etcd quorum.`,
        '',
        'Restore from: member aa01 on master-0 (revision 1200, raft index 1300, etcd stopped; the highest revision and raft index among the members read)',
        `Expected loss: ${LOSS}`,
        'Fenced first: master-1, master-2 (2379/2380 closed by its security group; where it answers, etcd stopped, its static pod moved, its data stored off the host)',
        `Waits: 1 h 30 min, until ${until}; without an answer the run ends Refused and changes nothing.`,
        '',
        `Approve: etcd-replace approve ${RUN_ID} --target aws --state-machine-arn ${ARN}`,
        `Decline: etcd-replace approve ${RUN_ID} --target aws --state-machine-arn ${ARN} --decline --reason TEXT`,
        'Console: https://console.test/restore-unit-1',
        '',
      ].join('\n'),
    );
    // Nothing in the context; the token nowhere but the kept item.
    expect(result.output).toEqual({});
    expect(result.detail).toBe(`approval requested; waiting until ${until}`);
    const shown = JSON.stringify([result, w.logs, w.approvals.published]);
    expect(shown).not.toContain(TOKEN);
    expect(w.logs).toEqual([
      `waiting for approval of run ${RUN_ID} until ${until}: ${LOSS}; approve with: etcd-replace approve ${RUN_ID} --target aws --state-machine-arn ${ARN}`,
    ]);
    // Nothing else changed.
    expect(w.runner.requests).toEqual([]);
    expect(w.securityGroups.calls).toEqual([]);
  });

  it('a retried invocation keeps the newer token and publishes nothing more', async () => {
    const w = await world();
    await AwaitApproval(restoreContext(), w.deps);
    const retried: StepDeps & ApprovalStepDeps = { ...w.deps, taskToken: `${TOKEN}-2` };
    const again = await AwaitApproval(restoreContext(), retried);
    expect(w.approvals.published).toHaveLength(1);
    expect(w.approvals.kept.get(RUN_ID)?.token).toBe(`${TOKEN}-2`);
    expect(again.skipped).toBe(true);
    expect(again.output).toEqual({});
    expect(again.detail).toBe(`approval requested already at ${NOW.toISOString()}; waiting until ${new Date(NOW.getTime() + 5400_000).toISOString()}`);
    expect(JSON.stringify([again, w.logs])).not.toContain(TOKEN);
  });

  it('names a snapshot and every former member when a snapshot is restored', async () => {
    const w = await world();
    const snapshot: Survivor = {
      kind: 'snapshot',
      key: 'runs/r-old-0001/snapshot.db',
      runId: 'r-old-0001',
      at: '2025-12-31T12:00:00.000Z',
      revision: 900,
      bytes: 33554432,
      sha256: 'b'.repeat(64),
      location: 's3://bucket/runs/r-old-0001/snapshot.db',
      chosenBy: 'newest',
    };
    await AwaitApproval(restoreContext({ survivor: snapshot, options: { graceSeconds: 30, learner: 'auto', approvalTimeoutSeconds: 900 } }), w.deps);
    const request = w.approvals.published[0]!;
    expect(request.subject).toBe(`unit: APPROVE restore of etcd quorum from snapshot of run r-old-0001? (run ${RUN_ID})`);
    expect(request.message).toContain(
      "Restore from: snapshot runs/r-old-0001/snapshot.db of run r-old-0001, taken 2025-12-31T12:00:00.000Z (revision 900, 33554432 bytes, verified; the newest verified snapshot, no member's data being usable)",
    );
    expect(request.message).toContain('Fenced first: master-0, master-1, master-2 (');
    expect(request.message).toContain('Waits: 15 min, until');
  });

  it("extends the lock's lease over the run's own approval window before it asks: nothing renews it while Step Functions waits", async () => {
    const w = await world();
    await AwaitApproval(restoreContext(), w.deps);
    // The window (5400 s) and the margin, from now: longer than the usual lease (7200 s) the run took the lock with.
    expect(w.lock.calls.at(-1)).toBe(`renew unit ${RUN_ID} ${5400 + APPROVAL_LEASE_MARGIN_SECONDS}`);
    expect((await w.lock.current('unit'))?.expiresAt).toBe(new Date(NOW.getTime() + (5400 + APPROVAL_LEASE_MARGIN_SECONDS) * 1000).toISOString());

    // A run that lost its lock asks nobody: nothing kept or published (LockLostError ends it Refused).
    const lost = await world();
    await lost.lock.release('unit', RUN_ID);
    await lost.lock.acquire('unit', { runId: 'r-other-0002', startedBy: 'alarm' }, 600);
    expect((await failure(AwaitApproval(restoreContext(), lost.deps))).name).toBe('LockLostError');
    expect(lost.approvals.kept.size).toBe(0);
    expect(lost.approvals.published).toEqual([]);
  });

  it('with neither a task token nor a local approval store refuses, keeping and publishing nothing', async () => {
    const w = await world('');
    const error = await failure(AwaitApproval(restoreContext(), w.deps));
    expect(error.name).toBe('RefusedError');
    expect(error.message).toMatch(/^no way to ask for approval on the sandbox \(no task token and no approval store\)/);
    expect(w.approvals.kept.size).toBe(0);
    expect(w.approvals.published).toEqual([]);
  });

  it('needs the restore point and what it loses from ChooseRestorePoint', async () => {
    const w = await world();
    const { expectedLoss: _loss, ...context } = restoreContext();
    expect((await failure(AwaitApproval(context, w.deps))).name).toBe('InvalidInputError');
    expect(w.approvals.kept.size).toBe(0);
  });

  it('words the wait', () => {
    expect([30, 900, 3600, 5400, 86400].map(waitText)).toEqual(['30 s', '15 min', '1 h', '1 h 30 min', '24 h']);
  });
});

/** The sandbox's approval store in memory: one request and one answer per run, the first of each standing. */
class MemoryLocalApprovals implements LocalApprovalPort {
  readonly requests = new Map<string, LocalApprovalRequest>();
  readonly answers = new Map<string, ApprovalAnswer>();
  approveCommand(runId: string, cluster: string): string {
    return `etcd-replace approve ${runId} --target sandbox --sandbox ${cluster}`;
  }
  async request(request: LocalApprovalRequest) {
    const kept = this.requests.get(request.runId);
    if (kept) return { kept, first: false };
    this.requests.set(request.runId, request);
    return { kept: request, first: true };
  }
  async answer(runId: string) {
    return this.answers.get(runId) ?? null;
  }
  async expire(runId: string, at: string) {
    if (!this.answers.has(runId)) this.answers.set(runId, { answer: 'timed-out', at });
    return this.answers.get(runId)!;
  }
}

describe('Step: AwaitApproval on the sandbox (no task token: the wait is in the step)', () => {
  function local(options: { answerAfter?: number; signal?: AbortSignal } = {}) {
    const w = stepWorld([]);
    const store = new MemoryLocalApprovals();
    let clock = NOW.getTime();
    let polls = 0;
    const deps: StepDeps & ApprovalStepDeps = {
      ...w.deps,
      now: () => new Date(clock),
      sleep: async (ms) => {
        clock += ms;
        polls += 1;
        if (polls === options.answerAfter) store.answers.set(RUN_ID, { answer: 'approved', by: 'cli:ops', at: new Date(clock).toISOString() });
      },
      localApprovals: store,
      approvalPollMs: 1000,
      ...(options.signal ? { signal: options.signal } : {}),
    };
    return { ...w, deps, store, polls: () => polls };
  }

  it('keeps the request with the sandbox approve command, prints one line, and returns the approval once answered', async () => {
    const w = local({ answerAfter: 3 });
    const result = await AwaitApproval(restoreContext(), w.deps);
    expect(result.output).toEqual({ approval: { by: 'cli:ops', at: new Date(NOW.getTime() + 3000).toISOString() } });
    const request = w.store.requests.get(RUN_ID)!;
    expect(request.expiresAt).toBe(new Date(NOW.getTime() + 5400_000).toISOString());
    expect(request.message).toContain(`Approve: etcd-replace approve ${RUN_ID} --target sandbox --sandbox unit`);
    expect(w.logs).toEqual([
      `waiting for approval of run ${RUN_ID} until ${request.expiresAt}: ${LOSS}; approve with: etcd-replace approve ${RUN_ID} --target sandbox --sandbox unit`,
    ]);
    // Nothing changed on any host while it waited.
    expect(w.runner.requests).toEqual([]);
    expect(w.securityGroups.calls).toEqual([]);
  });

  it("a rerun keeps the first request's deadline, and times out on it with States.HeartbeatTimeout", async () => {
    const w = local();
    const first = { ...restoreContext(), options: { graceSeconds: 30, learner: 'auto' as const, approvalTimeoutSeconds: 10 } };
    const deadline = new Date(NOW.getTime() + 10_000).toISOString();
    await w.store.request({ runId: RUN_ID, cluster: 'unit', subject: 's', message: 'm', expiresAt: deadline, requestedAt: NOW.toISOString() });
    const error = await failure(AwaitApproval({ ...first, options: { ...first.options, approvalTimeoutSeconds: 3600 } }, w.deps));
    expect(error.name).toBe('States.HeartbeatTimeout');
    expect(error.message).toContain(`was not approved by ${deadline}`);
    expect(w.polls()).toBe(10);
    expect(w.store.answers.get(RUN_ID)).toEqual({ answer: 'timed-out', at: deadline });
  });

  it('stops at once when cancelled (a kill), answering nothing', async () => {
    const stop = new AbortController();
    const w = local({ signal: stop.signal });
    const sleep = w.deps.sleep;
    w.deps.sleep = async (ms) => {
      await sleep(ms);
      if (w.polls() === 2) stop.abort(new Error('killed'));
    };
    await expect(AwaitApproval(restoreContext(), w.deps)).rejects.toThrow('killed');
    expect(w.store.answers.size).toBe(0);
  });
});
