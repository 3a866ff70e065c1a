// Several failed members in one run on etcd 3.4.23, where each new member joins as a learner and is
// promoted once caught up, before the next add. One five-member sandbox (no other learner test has five
// members, two of them down at once): master-3 and master-4 powered off under write load, one run brings
// the cluster back to five voting members; every acknowledged write is on every member, the writer's
// longest wait during the run, the timeline remove, remove, add, start, promote, add, start, promote.
// The same on 3.2.22 without learners, with a kill and a refusal: test/sandbox/severalMembers.test.ts.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failHost, type SandboxInfo } from '../../../sandbox/index.ts';
import { downAll, exitOf, memberNames, membersNow, parseRunJson, runsOf, upSandbox } from '../../support/safetyHelpers.ts';
import { fqdn } from '../../support/runChecks.ts';
import { expectOnEveryMember, membershipTimeline, runUnderWriteLoad } from '../../support/underLoad.ts';

const created: string[] = [];
let sandbox: SandboxInfo;

beforeAll(async () => {
  sandbox = await upSandbox(created, 't-twol', { members: 5, spares: 2, nodes: 0, dataMb: 2 });
});

afterAll(async () => {
  await downAll(created);
});

describe('several failed members in one run, with learners (etcd 3.4.23)', () => {
  it('replaces master-3 and master-4, powered off under write load: each new member a learner, promoted before the next add', async () => {
    expect(sandbox.etcdVersion).toBe('3.4.23');
    await failHost(sandbox.name, 'master-3', 'kill');
    await failHost(sandbox.name, 'master-4', 'kill');
    const { out, writes } = await runUnderWriteLoad(
      sandbox,
      ['master-0', 'master-1', 'master-2'],
      ['run', '--sandbox', sandbox.name, '--failed', 'master-3', '--failed', 'master-4', '--grace-seconds', '0', '--json'],
      'two-member learner run',
    );
    expect(exitOf(out)).toMatchObject({ code: 0 });
    expect(parseRunJson(out.stdout).outcome).toBe('succeeded');

    // No replacement named: the spare pool's next free host for each, in order.
    const live = ['master-0', 'master-1', 'master-2', 'etcd-spare-0', 'etcd-spare-1'];
    const members = await membersNow(sandbox, live);
    expect(memberNames(members)).toEqual(live.map(fqdn).sort());
    expect(members.filter((m) => m.isLearner)).toEqual([]);
    const words = { RemoveFailedMember: 'remove', AddMember: 'add', StartNewMember: 'start', PromoteNewMember: 'promote' };
    expect(await membershipTimeline(sandbox, words)).toEqual([
      'remove master-3 → etcd-spare-0 (1 of 2)',
      'remove master-4 → etcd-spare-1 (2 of 2)',
      'add master-3 → etcd-spare-0 (1 of 2)',
      'start master-3 → etcd-spare-0 (1 of 2)',
      'promote master-3 → etcd-spare-0 (1 of 2)',
      'add master-4 → etcd-spare-1 (2 of 2)',
      'start master-4 → etcd-spare-1 (2 of 2)',
      'promote master-4 → etcd-spare-1 (2 of 2)',
    ]);
    const [record] = await runsOf(sandbox.name);
    expect(record!.steps.find((s) => s.name === 'AddMember' && s.status === 'succeeded')?.detail).toMatch(/\(learner\)/);

    // The writer's gap is measured and printed, not bounded: on etcd 3.4.23 it stalled about 10 s around the
    // two removals in two full suite runs (9.6 s and 10.0 s, no put failing), and stayed under 250 ms run
    // alone; 3.2.22 stays under 300 ms. Every acknowledged write must be on every member.
    await expectOnEveryMember(sandbox, writes.acknowledged, live);
  });
});
