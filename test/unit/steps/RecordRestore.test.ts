// The restore's measures (functions/steps/RecordRestore.ts): from the confirmed loss of quorum to full
// strength (the last re-added member's start, or the clock when none is recorded), the revision chosen
// against the highest seen, every host fenced and how, derived from the fence records; a rerun gives the
// same measures and does not push the time of full strength back.

import { describe, expect, it } from 'vitest';
import { RecordRestore } from '../../../functions/steps/RecordRestore.ts';
import type { RestoreStepResult } from '../../../functions/cluster/restoreFacts.ts';
import { unitInventory } from '../../support/fakeCluster.ts';
import { failure, HOSTS, NOW, RUN_ID, stepWorld, type StepWorld } from '../../support/stepHarness.ts';
import type { FencedHost, RestoreContext } from '../../../statemachine/restoreContext.ts';
import type { MemberSlot } from '../../../statemachine/context.ts';

const iso = (seconds: number) => new Date(NOW.getTime() + seconds * 1000).toISOString();
const after = (context: RestoreContext, result: RestoreStepResult): RestoreContext => ({ ...context, ...result.output });

const FENCED: FencedHost[] = [
  {
    host: 'master-1',
    how: ['network', 'on-host'],
    backupKey: `runs/${RUN_ID}/fence-master-1.example.test.tgz`,
    backupBytes: 4096,
    backupSha256: 'a'.repeat(64),
    previous: { groups: { 'eni-1': ['sg-1'] } },
  },
  { host: 'master-2', how: ['network', 'stopped-instance'], notOnHost: 'unreachable', notOnHostReason: 'no answer', stoppedAlready: true },
];

/** A restore at its end: quorum loss confirmed at NOW, master-0 forced at revision 1200 of 1250 seen, master-1 and master-2 fenced. */
function restoreContext(extra: Partial<RestoreContext> = {}): RestoreContext {
  return {
    runId: RUN_ID,
    request: { cluster: 'unit', failed: '', startedBy: 'test' },
    options: { graceSeconds: 30, learner: 'auto', approvalTimeoutSeconds: 900 },
    inventory: unitInventory(),
    quorumLossConfirmedAt: iso(0),
    expectedLoss: {
      highestRevision: 1250,
      highestOn: ['master-1'],
      chosenRevision: 1200,
      revisionsLost: 50,
      unread: [],
      text: 'restoring master-0 at revision 1200 loses the 50 revision(s) after it up to 1250, the highest seen (on master-1)',
    },
    fenced: FENCED,
    ...extra,
  };
}

/** The re-add loop with both former members re-added, master-2 started last. */
const reAdded = (): Partial<RestoreContext> => {
  const slot = (host: 'master-1' | 'master-2', startedAt: string): MemberSlot => ({ failed: host, replacement: HOSTS[host], newMemberStartedAt: startedAt });
  return { members: [slot('master-2', iso(700)), slot('master-1', iso(400))], memberIndex: 1, replacement: HOSTS['master-1'], newMemberStartedAt: iso(400) };
};

function expectNothingChanged(world: StepWorld): void {
  expect(world.cluster.calls).toEqual([]);
  expect(world.runner.requests).toEqual([]);
  expect(world.securityGroups.calls).toEqual([]);
  expect(world.artifacts.calls).toEqual([]);
}

describe('Step: RecordRestore', () => {
  it('measures the restore: confirmed loss to the last re-added member’s start, revision chosen against the highest seen, each host fenced and how', async () => {
    const world = stepWorld([], { now: new Date(NOW.getTime() + 900_000) });
    const result = await RecordRestore(restoreContext(reAdded()), world.deps);
    expect(result.output).toEqual({
      restoreMeasures: {
        quorumLossConfirmedAt: iso(0),
        fullStrengthAt: iso(700),
        secondsToFullStrength: 700,
        revisionChosen: 1200,
        highestRevisionSeen: 1250,
        revisionsLost: 50,
        fenced: [
          { host: 'master-1', how: ['network', 'on-host'] },
          { host: 'master-2', how: ['network', 'stopped-instance'] },
        ],
      },
    });
    expect(result.detail).toBe(
      `quorum loss confirmed at ${iso(0)}, full strength 700s later (the last re-added member (master-2) started at ${iso(700)}); revision 1200 chosen against the highest seen 1250 (on master-1): 50 revision(s) lost; fenced: master-1 (network, on-host), master-2 (network, stopped-instance)`,
    );
    expect(result.skipped).toBeUndefined();
    expectNothingChanged(world);
  });

  it('full strength is the last re-add’s VerifyClusterHealth once the loop has no member left, not a start and not now', async () => {
    const world = stepWorld([], { now: new Date(NOW.getTime() + 900_000) });
    const done = { ...reAdded(), memberPhase: 'readd' as const, anotherMember: false, clusterVerifiedAt: iso(760) };
    const result = await RecordRestore(restoreContext(done), world.deps);
    expect(result.output.restoreMeasures).toMatchObject({ fullStrengthAt: iso(760), secondsToFullStrength: 760 });
    expect(result.detail).toContain(`(the cluster verified healthy after the last re-added member (master-1) at ${iso(760)})`);
    // A verification between two re-adds is not full strength: the last start stands in.
    const between = await RecordRestore(restoreContext({ ...done, anotherMember: true }), world.deps);
    expect(between.output.restoreMeasures?.fullStrengthAt).toBe(iso(700));
  });

  it('the fenced hosts come from the fence records: what they hold beyond host and how stays out, and a later record change shows', async () => {
    const result = await RecordRestore(restoreContext(reAdded()), stepWorld([]).deps);
    for (const f of result.output.restoreMeasures!.fenced) expect(Object.keys(f).sort()).toEqual(['host', 'how']);
    const onlyNetwork = restoreContext({ ...reAdded(), fenced: [{ host: 'master-1', how: ['network'], notOnHost: 'not-backed-up' }] });
    const again = await RecordRestore(onlyNetwork, stepWorld([]).deps);
    expect(again.output.restoreMeasures?.fenced).toEqual([{ host: 'master-1', how: ['network'] }]);
    // Not the record itself: the measure is a copy that a later change of the measure cannot reach back through.
    again.output.restoreMeasures!.fenced[0]!.how.push('on-host');
    expect(onlyNetwork.fenced![0]!.how).toEqual(['network']);
  });

  it('no re-added member’s start recorded: full strength is now, and a rerun later keeps it', async () => {
    const first = await RecordRestore(restoreContext(), stepWorld([], { now: new Date(NOW.getTime() + 90_000) }).deps);
    expect(first.output.restoreMeasures).toMatchObject({ fullStrengthAt: iso(90), secondsToFullStrength: 90 });
    expect(first.detail).toContain(`(no re-added member's start is recorded: taken at ${iso(90)})`);

    const later = stepWorld([], { now: new Date(NOW.getTime() + 300_000) });
    const second = await RecordRestore(after(restoreContext(), first), later.deps);
    expect(second.output).toEqual(first.output);
    expect(second.skipped).toBe(true);
    expectNothingChanged(later);
  });

  it('a rerun with the same records gives the same measures', async () => {
    const context = restoreContext(reAdded());
    const first = await RecordRestore(context, stepWorld([], { now: new Date(NOW.getTime() + 800_000) }).deps);
    const second = await RecordRestore(after(context, first), stepWorld([], { now: new Date(NOW.getTime() + 5_000_000) }).deps);
    expect(second.output).toEqual(first.output);
    expect(second.skipped).toBe(true);
  });

  it('nothing lost, and no data read anywhere, are said so', async () => {
    const none = restoreContext({
      ...reAdded(),
      expectedLoss: { highestRevision: 1200, highestOn: ['master-0'], chosenRevision: 1200, revisionsLost: 0, unread: [], text: '' },
    });
    const result = await RecordRestore(none, stepWorld([]).deps);
    expect(result.output.restoreMeasures).toMatchObject({ revisionChosen: 1200, highestRevisionSeen: 1200, revisionsLost: 0 });
    expect(result.detail).toContain('revision 1200 chosen against the highest seen 1200 (on master-0): 0 revision(s) lost');

    const unread = restoreContext({
      ...reAdded(),
      expectedLoss: { highestRevision: null, highestOn: [], chosenRevision: 900, revisionsLost: null, unread: ['master-1'], text: '' },
    });
    const blind = await RecordRestore(unread, stepWorld([]).deps);
    expect(blind.output.restoreMeasures).toMatchObject({ revisionChosen: 900, highestRevisionSeen: null, revisionsLost: null });
    expect(blind.detail).toContain('revision 900 chosen against no member’s data showed a revision: how many revisions were lost is not known');
  });

  it('a context without the confirmation, the expected loss or the fences fails loudly; a start before the confirmation is refused', async () => {
    for (const field of ['quorumLossConfirmedAt', 'expectedLoss', 'fenced'] as const) {
      const context = restoreContext(reAdded());
      delete context[field];
      expect(await failure(RecordRestore(context, stepWorld([]).deps))).toMatchObject({ name: 'InvalidInputError', field });
    }
    const early = restoreContext({ ...reAdded(), quorumLossConfirmedAt: iso(1000) });
    expect((await failure(RecordRestore(early, stepWorld([]).deps))).message).toContain('comes before the loss of quorum was confirmed');
  });
});
