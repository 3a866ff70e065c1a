// The plan of a restore of quorum (functions/workflow/restorePlan.ts): the restore's read-only states in
// the run's order, then the path the run would take from what they found (the survivor forced, or the
// snapshot restored; the approval, unless waived), with the loss and the hosts to fence named; a refusal
// or a bad --from is the verdict, with the run's exit code. The read-only steps are fakes here (the real
// ones have their own tests under test/unit/steps/); the plan takes no lock and asks for no approval.

import { describe, expect, it } from 'vitest';
import { InvalidInputError, RefusedError } from '../../functions/errors.ts';
import type { RestoreStep } from '../../functions/cluster/restoreFacts.ts';
import { planRestore, type RestorePlanSteps } from '../../functions/workflow/restorePlan.ts';
import type { StepDeps } from '../../functions/workflow/stepDeps.ts';
import type { RestoreContext } from '../../statemachine/restoreContext.ts';
import type { Survivor } from '../../statemachine/restorePolicy.ts';
import { RESTORE_STATES } from '../support/restorePaths.ts';

const LOSS = 'restoring master-0 at revision 1200 loses the 50 revision(s) after it up to 1250, the highest seen (on master-1)';
const context: RestoreContext = {
  runId: 'r-20261207-150000-0a1b2c',
  request: { cluster: 'lab', failed: '', startedBy: 'test' },
  options: { graceSeconds: 0, learner: 'auto', approvalTimeoutSeconds: 3600 },
};
const MEMBER: Survivor = { kind: 'member', host: 'master-0', memberId: 'aa01', revision: 1200, raftIndex: 1300, etcd: 'stopped', chosenBy: 'rank' };
const SNAPSHOT: Survivor = {
  kind: 'snapshot',
  key: 'runs/r-old-0001/snapshot.db',
  runId: 'r-old-0001',
  at: '2026-12-01T12:00:00.000Z',
  revision: 900,
  bytes: 1024,
  sha256: 'b'.repeat(64),
  location: 'file:///x',
  chosenBy: 'newest',
};

/** The read-only steps as fakes: each records that it ran; ChooseRestorePoint writes `chosen`. */
function steps(ran: string[], chosen: Partial<RestoreContext>, fail?: { step: keyof RestorePlanSteps; error: Error }): RestorePlanSteps {
  const fake =
    (name: keyof RestorePlanSteps, output: Partial<RestoreContext> = {}): RestoreStep =>
    async () => {
      ran.push(name);
      if (fail?.step === name) throw fail.error;
      return { output, detail: name };
    };
  return {
    ValidateRestoreRequest: fake('ValidateRestoreRequest'),
    ObserveQuorumLoss: fake('ObserveQuorumLoss'),
    ChooseRestorePoint: fake('ChooseRestorePoint', {
      formerMembers: ['master-0', 'master-1', 'master-2'].map((host, i) => ({ host, memberId: `aa0${i + 1}`, name: host, isLearner: false })),
      expectedLoss: { highestRevision: 1250, highestOn: ['master-1'], chosenRevision: 1200, revisionsLost: 50, unread: [], text: LOSS },
      ...chosen,
    }),
  };
}

const deps = {} as StepDeps;

describe('Function: planRestore', () => {
  it('from a survivor: the approval with the loss, the fence of the others, the force, the re-add loop once, the closing states', async () => {
    const ran: string[] = [];
    const plan = await planRestore(context, deps, steps(ran, { survivor: MEMBER, fromSnapshot: false }));
    expect(ran).toEqual(['ValidateRestoreRequest', 'ObserveQuorumLoss', 'ChooseRestorePoint']);
    expect(plan.refused).toBe(false);
    expect(plan.verdict).toBe(`the restore would proceed from master-0, after a person approves it: ${LOSS}`);
    expect(plan.facts.fenced).toEqual(['master-1', 'master-2']);
    const names = plan.steps.map((s) => s.name);
    // Every state in order up to the fence.
    expect(names.slice(0, 9)).toEqual(RESTORE_STATES.slice(0, RESTORE_STATES.indexOf('FenceFormerMembers') + 1));
    expect(names).toContain('ForceNewCluster');
    expect(names).not.toContain('RestoreFromSnapshot');
    expect(names).not.toContain('CompensateNewMember');
    expect(names.slice(-3)).toEqual(['ReleaseLock', 'RouteOutcome', 'Succeeded']);
    expect(plan.steps.find((s) => s.name === 'AwaitApproval')?.note).toBe(`waits up to 3600 s for \`etcd-replace approve RUN_ID\`; ${LOSS}`);
    expect(plan.steps.find((s) => s.name === 'FenceFormerMembers')?.note).toBe('fences master-1, master-2');
    expect(plan.steps.find((s) => s.name === 'ForceNewCluster')?.note).toBe('forces master-0 at revision 1200');
    expect(plan.steps.find((s) => s.name === 'PrepareFormerMember')?.note).toMatch(/^the re-add loop: once per former member but the survivor/);
  });

  it('from a snapshot, approval waived: the snapshot restored, no approval wait, every former member fenced', async () => {
    const plan = await planRestore(context, deps, steps([], { survivor: SNAPSHOT, fromSnapshot: true, approvalWaived: true }));
    const names = plan.steps.map((s) => s.name);
    expect(names).toContain('RestoreFromSnapshot');
    expect(names).not.toContain('ForceNewCluster');
    expect(names).not.toContain('AwaitApproval');
    expect(plan.facts.fenced).toEqual(['master-0', 'master-1', 'master-2']);
    expect(plan.verdict).toMatch(/^the restore would proceed from snapshot runs\/r-old-0001\/snapshot\.db, after no approval \(waived\)/);
  });

  it('quorum back: refused (exit 3), nothing planned after the observation', async () => {
    const ran: string[] = [];
    const plan = await planRestore(
      context,
      deps,
      steps(ran, {}, { step: 'ObserveQuorumLoss', error: new RefusedError('quorum is back: 3 of 3 voting members answer') }),
    );
    expect(ran).toEqual(['ValidateRestoreRequest', 'ObserveQuorumLoss']);
    expect(plan).toMatchObject({ refused: true, exitCode: 3, steps: [] });
    expect(plan.verdict).toBe('the restore would be refused: RefusedError: quorum is back: 3 of 3 voting members answer');
  });

  it('a --from naming no readable member: exit 2', async () => {
    const plan = await planRestore(
      context,
      deps,
      steps([], {}, { step: 'ChooseRestorePoint', error: new InvalidInputError('from', 'master-2 does not answer') }),
    );
    expect(plan).toMatchObject({ refused: true, exitCode: 2 });
  });
});
