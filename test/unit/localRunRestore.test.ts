// One local engine for every workflow (functions/workflow/localRun.ts): the restore of quorum
// (statemachine/restoreSpec.ts) runs on it with its own steps table and names its workflow in its run
// record, so a resume rebuilds the restore's machine. Its AwaitApproval waits on the sandbox's approval
// files (sandbox/adapters/fileApprovals.ts) until an answer, a decline or the deadline: the run
// stays at AwaitApproval meanwhile, an answer is given once, and a run stopped while it waits resumes
// with the first request's deadline. Every step but AwaitApproval is a fake that records that it ran.

import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileApprovals } from '../../sandbox/adapters/fileApprovals.ts';
import { InvalidInputError, RefusedError } from '../../functions/errors.ts';
import { AwaitApproval, type ApprovalStepDeps } from '../../functions/steps/AwaitApproval.ts';
import { newRunRecord, runLocally, type WorkflowStep } from '../../functions/workflow/localRun.ts';
import type { RunRecord } from '../../functions/ports.ts';
import type { StepDeps } from '../../functions/workflow/stepDeps.ts';
import type { RestoreContext } from '../../statemachine/restoreContext.ts';
import { RESTORE_WORKFLOW, type RestoreTaskName } from '../../statemachine/restoreSpec.ts';
import { TASKS } from '../../statemachine/spec.ts';
import { fakeDeps, FakeCluster, threeMembers, unitInventory } from '../support/fakeCluster.ts';
import { heldLock, SavingStore } from '../support/fakePorts.ts';

const RUN_ID = 'r-20261207-150000-0a1b2c';
const LOSS = 'restoring master-0 at revision 1200 loses the 50 revision(s) after it up to 1250, the highest seen (on master-1)';
const APPROVE = `etcd-replace approve ${RUN_ID} --target sandbox --sandbox unit`;

function restoreContext(approvalTimeoutSeconds = 600): RestoreContext {
  return {
    runId: RUN_ID,
    request: { cluster: 'unit', failed: '', startedBy: 'test' },
    options: { graceSeconds: 0, learner: 'auto', approvalTimeoutSeconds },
    inventory: unitInventory(),
  };
}

/** A fake step per restore task that records it ran; ChooseRestorePoint's names the survivor and the loss; AwaitApproval is the real one. */
function restoreSteps(ran: string[]): Record<RestoreTaskName, WorkflowStep<RestoreContext>> {
  const steps = Object.fromEntries(
    RESTORE_WORKFLOW.tasks.map((t) => [
      t.name,
      (async () => {
        ran.push(t.name);
        return { output: {}, detail: `${t.name} done`, skipped: true };
      }) as WorkflowStep<RestoreContext>,
    ]),
  ) as Record<RestoreTaskName, WorkflowStep<RestoreContext>>;
  steps.ObserveQuorumLoss = async (_context, deps) => {
    ran.push('ObserveQuorumLoss');
    return { output: { confirmQuorumLossAfter: deps.now().toISOString() }, detail: 'quorum lost' };
  };
  steps.ChooseRestorePoint = async () => {
    ran.push('ChooseRestorePoint');
    return {
      output: {
        formerMembers: ['master-0', 'master-1', 'master-2'].map((host, i) => ({ host, memberId: `aa0${i + 1}`, name: host, isLearner: false })),
        survivor: { kind: 'member', host: 'master-0', memberId: 'aa01', revision: 1200, raftIndex: 1300, etcd: 'stopped', chosenBy: 'rank' },
        expectedLoss: { highestRevision: 1250, highestOn: ['master-1'], chosenRevision: 1200, revisionsLost: 50, unread: [], text: LOSS },
        fromSnapshot: false,
      },
      detail: 'master-0',
    };
  };
  steps.AwaitApproval = async (context, deps) => {
    ran.push('AwaitApproval');
    return AwaitApproval(context, deps);
  };
  return steps;
}

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'restore-run-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The run's ports: a clock that each wait for the answer moves on by `stepMs`, the approval files in `dir`, every log line. */
function world(stepMs = 1000) {
  let clock = Date.parse('2026-12-07T15:00:00.000Z');
  const logs: string[] = [];
  const approvals = new FileApprovals(dir);
  const deps: StepDeps & ApprovalStepDeps = {
    ...fakeDeps(new FakeCluster(threeMembers([]))),
    lock: heldLock(RUN_ID),
    now: () => new Date(clock),
    sleep: async () => {
      clock += stepMs;
      await new Promise((resolve) => setTimeout(resolve, 2));
    },
    log: (message: string) => logs.push(message),
    localApprovals: approvals,
    approvalPollMs: stepMs,
  };
  return { deps, logs, approvals, store: new SavingStore(), ran: [] as string[], at: () => new Date(clock).toISOString() };
}

async function pending(approvals: FileApprovals): Promise<void> {
  while (!(await approvals.pending(RUN_ID))) await new Promise((resolve) => setTimeout(resolve, 2));
}

/** Runs `record` to its end on `w`'s ports with the restore's steps (restoreSteps), stopped when `signal` aborts. */
function runRestore(w: ReturnType<typeof world>, record: RunRecord, signal?: AbortSignal): Promise<RunRecord> {
  return runLocally(record, {
    deps: w.deps,
    workflow: RESTORE_WORKFLOW,
    steps: restoreSteps(w.ran),
    runs: w.store,
    target: 'sandbox',
    hold: null,
    ...(signal ? { signal } : {}),
  });
}

describe('Function: runLocally, the restore of quorum', () => {
  it('waits at AwaitApproval, printing one line with the loss and the approve command, until approved; the record names its workflow', async () => {
    const w = world();
    const record = newRunRecord(restoreContext(), 'sandbox', new Date(), RESTORE_WORKFLOW);
    expect(record).toMatchObject({ workflow: 'RestoreEtcdQuorum', state: 'ValidateRestoreRequest', request: { options: { approvalTimeoutSeconds: 600 } } });
    const run = runRestore(w, record);
    await pending(w.approvals);
    // Waiting: the record is at AwaitApproval and nothing after it has run.
    expect(w.store.saved.at(-1)?.state).toBe('AwaitApproval');
    expect(w.ran).not.toContain('FenceFormerMembers');
    await w.approvals.give(RUN_ID, { answer: 'approved', by: 'cli:ops', at: w.at() });
    const ended = await run;
    expect(ended.state).toBe('Succeeded');
    expect(ended.workflow).toBe('RestoreEtcdQuorum');
    expect((ended.context as unknown as RestoreContext).approval).toEqual({ by: 'cli:ops', at: expect.any(String) });
    expect(ended.steps.find((s) => s.name === 'AwaitApproval')?.detail).toMatch(/^approved by cli:ops at /);
    expect(w.ran.indexOf('FenceFormerMembers')).toBeGreaterThan(w.ran.indexOf('AwaitApproval'));
    const waiting = w.logs.filter((l) => l.startsWith('waiting for approval'));
    expect(waiting).toEqual([`waiting for approval of run ${RUN_ID} until 2026-12-07T15:10:00.000Z: ${LOSS}; approve with: ${APPROVE}`]);
    // Answered once: a second answer finds nothing pending (exit 3).
    await expect(w.approvals.give(RUN_ID, { answer: 'approved', by: 'cli:other', at: w.at() })).rejects.toThrow(
      /has no pending approval: it was approved by cli:ops/,
    );
  });

  it('ends Refused with States.HeartbeatTimeout once the approval window passes, having run nothing after AwaitApproval but the closing steps', async () => {
    const w = world(30_000);
    const ended = await runRestore(w, newRunRecord(restoreContext(60), 'sandbox', new Date(), RESTORE_WORKFLOW));
    expect(ended.outcome).toBe('refused');
    expect(ended.state).toBe('Refused');
    expect(ended.reason).toMatch(/^States\.HeartbeatTimeout: run r-20261207-150000-0a1b2c was not approved by 2026-12-07T15:01:00\.000Z \(1 min\)/);
    expect(w.ran.slice(w.ran.indexOf('AwaitApproval'))).toEqual(['AwaitApproval', 'DiscardKeyBundle', 'ReleaseLock']);
    // A late answer finds nothing pending.
    const late = await w.approvals.give(RUN_ID, { answer: 'approved', by: 'cli:ops', at: w.at() }).catch((error: unknown) => error);
    expect(late).toBeInstanceOf(RefusedError);
    expect((late as Error).message).toMatch(/it timed out at 2026-12-07T15:01:00/);
  });

  it('ends Refused when declined, naming who and why', async () => {
    const w = world();
    const run = runRestore(w, newRunRecord(restoreContext(), 'sandbox', new Date(), RESTORE_WORKFLOW));
    await pending(w.approvals);
    await w.approvals.give(RUN_ID, { answer: 'declined', by: 'cli:ops', at: w.at(), reason: 'master-2 is back' });
    const ended = await run;
    expect(ended.outcome).toBe('refused');
    expect(ended.reason).toMatch(/^RefusedError: run r-20261207-150000-0a1b2c was declined by cli:ops at .*: master-2 is back; nothing was changed$/);
    expect(w.ran).not.toContain('FenceFormerMembers');
  });

  it('a run stopped while it waits resumes at AwaitApproval with the first request and its deadline, and goes on once approved', async () => {
    const w = world();
    const stop = new AbortController();
    const first = runRestore(w, newRunRecord(restoreContext(), 'sandbox', new Date(), RESTORE_WORKFLOW), stop.signal);
    await pending(w.approvals);
    const asked = await w.approvals.pending(RUN_ID);
    stop.abort(new Error('killed'));
    await expect(first).rejects.toThrow('killed');
    const stopped = (await w.store.get(RUN_ID))!;
    expect(stopped.state).toBe('AwaitApproval');
    expect(stopped.outcome).toBe('running');

    const resumed = runRestore(w, stopped);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await w.approvals.pending(RUN_ID)).toEqual(asked);
    await w.approvals.give(RUN_ID, { answer: 'approved', by: 'cli:ops', at: w.at() });
    expect((await resumed).state).toBe('Succeeded');
    expect(readdirSync(join(dir, '.approvals')).sort()).toEqual([`${RUN_ID}.answer.json`, `${RUN_ID}.request.json`]);
  });

  it('resumes a record only with the machine it names, and runs a workflow only with a step for each task', async () => {
    const w = world();
    const restoreRecord = newRunRecord(restoreContext(), 'sandbox', new Date(), RESTORE_WORKFLOW);
    const replaceSteps = Object.fromEntries(TASKS.map((t) => [t.name, async () => ({ output: {}, detail: '' })]));
    const wrong = await runLocally(restoreRecord, { deps: w.deps, steps: replaceSteps, runs: w.store, target: 'sandbox', hold: null }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(InvalidInputError);
    expect((wrong as Error).message).toMatch(/is a run of workflow RestoreEtcdQuorum, not ReplaceFailedEtcdMember/);
    const { ForceNewCluster: _missing, ...partial } = restoreSteps(w.ran);
    const missing = await runLocally(restoreRecord, {
      deps: w.deps,
      workflow: RESTORE_WORKFLOW,
      steps: partial as Record<RestoreTaskName, WorkflowStep<RestoreContext>>,
      runs: w.store,
      target: 'sandbox',
      hold: null,
    }).catch((e: unknown) => e);
    expect((missing as Error).message).toMatch(/workflow RestoreEtcdQuorum has no step for ForceNewCluster/);
    expect(w.store.saved).toEqual([]);
    expect(existsSync(join(dir, '.approvals'))).toBe(false);
  });
});
