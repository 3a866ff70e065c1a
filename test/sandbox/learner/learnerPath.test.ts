// The learner path on real etcd 3.4 (Debian's 3.4.23, the only version with `member add --learner` and
// `member promote`): what differs from OpenShift 3.11's 3.2.22, on which every other sandbox suite runs.
// Run with ETCD_REPLACE_ETCD_VERSION=3.4.23 (the vitest project `learner`). The scenarios and checks are
// the ones the 3.2.22 suites run (test/support/), asserted here on the learner path.
//
// One sandbox of 3 members and 4 spares, in order:
//   1. the EtcdClusterPort contract of both adapters (a learner added and refused promotion), then with
//      master-2 down: its etcd stopped, then its host powered off (etcd 3.4's peer-connection report)
//   2. a learner that never starts (master-2 → etcd-spare-0, its peer port taken): compensation removes it
//   3. the same command finishes: learner added, caught up, promoted; the cluster replaced
//   4. --learner never (master-1 → etcd-spare-1): the plain member add, though every member runs 3.4
//   5. the leader moves during the membership changes (etcd-spare-0 → etcd-spare-2), at the add and at
//      the promotion
//   6. double fault (etcd-spare-1 → etcd-spare-3, etcd-spare-2 dies once the learner is added): quorum lost

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultEtcdVersion, failHost, loadSandbox, type SandboxInfo } from '../../../sandbox/index.ts';
import { getGroupHosts } from '../../../functions/config/inventory.ts';
import { cli } from '../../support/cli.ts';
import { readFileOn } from '../../support/clusterFacts.ts';
import { adaptersContract, memberDownContract } from '../../support/etcdMembershipContract.ts';
import { doubleFault, finishAfterCompensation, fqdn, leaderMovesDuringChanges, newHostNeverStarts } from '../../support/faultScenarios.ts';
import { afterReplacements, expectLearnerAdded, expectVerifiedSnapshot, hasLearners, replaceWithoutLearner } from '../../support/runChecks.ts';
import { downAll, upSandbox } from '../../support/safetyHelpers.ts';
import { recordBefore, verifyReplaced, type Before } from '../../support/verifyReplaced.ts';

const created: string[] = [];
let l: SandboxInfo | undefined;
let before: Before;

const sandbox = (): SandboxInfo => {
  if (!l) throw new Error('the sandbox did not come up');
  return l;
};

beforeAll(async () => {
  l = await upSandbox(created, 't-lrn', { members: 3, spares: 4, dataMb: 2 });
  before = await recordBefore(l);
});

afterAll(async () => {
  await downAll(created);
});

describe('the learner suite runs on etcd with learners', () => {
  it('the sandbox, built in this process, and the CLI, a child process, both run etcd 3.4 or later', async () => {
    expect(defaultEtcdVersion().version).toBe(process.env.ETCD_REPLACE_ETCD_VERSION);
    expect(hasLearners(sandbox().etcdVersion)).toBe(true);
    const status = await cli(['sandbox', 'status', '--sandbox', sandbox().name, '--json']);
    expect(status.code).toBe(0);
    const doc = JSON.parse(status.stdout) as { etcdVersion: string; hosts: Array<{ roles: string[]; etcd: { version: string | null } }> };
    expect(doc.etcdVersion).toBe(sandbox().etcdVersion);
    const members = doc.hosts.filter((h) => h.roles.includes('etcd'));
    expect(members.map((h) => h.etcd.version)).toEqual(members.map(() => sandbox().etcdVersion));
  });
});

adaptersContract(sandbox);
memberDownContract(sandbox, 'master-2');

describe('a replacement on the learner path', () => {
  it('a learner that never starts: compensation removes it again; two healthy survivors; the record says what remains', async () => {
    const { record, status } = await newHostNeverStarts(sandbox(), 'master-2', 'etcd-spare-0', ['master-0', 'master-1']);
    // Added as a learner; it never caught up, so nothing was promoted.
    expect(record.context['addedAsLearner']).toBe(true);
    expect(record.steps.find((s) => s.name === 'AddMember')?.detail).toMatch(/\(learner\)$/);
    expect(status).toMatchObject({ AwaitSnapshot: 'skipped', PromoteNewMember: 'skipped' });
  });

  it('the same command finishes the replacement: a learner, caught up, then promoted; the cluster replaced', async () => {
    const { record } = await finishAfterCompensation(sandbox(), 'master-2', 'etcd-spare-0');
    expect(record.context['addedAsLearner']).toBe(true);
    expectLearnerAdded(record);
    const info = await loadSandbox(sandbox().name);
    await verifyReplaced(info, 'master-2', 'etcd-spare-0', before);
    await expectVerifiedSnapshot(info, record);
  });

  it('--learner never takes the plain member add although every member runs etcd 3.4', async () => {
    // Now master-0, master-1, etcd-spare-0.
    await failHost(sandbox().name, 'master-1', 'kill');
    const { record } = await replaceWithoutLearner(sandbox(), 'master-1', 'etcd-spare-1');
    expect(record.context['addedAsLearner']).toBe(false);
    const info = afterReplacements(await loadSandbox(sandbox().name), [{ failed: 'master-2', replacement: 'etcd-spare-0' }]);
    await verifyReplaced(info, 'master-1', 'etcd-spare-1', before);
    await expectVerifiedSnapshot(info, record);
  });

  it('the leader moves at the add and at the promotion: retries absorb it and the run succeeds', async () => {
    // Now master-0, etcd-spare-0, etcd-spare-1.
    await failHost(sandbox().name, 'etcd-spare-0', 'kill');
    const { record, moves } = await leaderMovesDuringChanges(sandbox(), 'etcd-spare-0', 'etcd-spare-2', ['master-0', 'etcd-spare-1']);
    expect(moves).toHaveLength(2);
    expect(record.context['addedAsLearner']).toBe(true);
    expectLearnerAdded(record);
    const info = afterReplacements(await loadSandbox(sandbox().name), [
      { failed: 'master-2', replacement: 'etcd-spare-0' },
      { failed: 'master-1', replacement: 'etcd-spare-1' },
    ]);
    // etcd-spare-0 is no master: the inventory's [etcd] group is checked here, not its [masters].
    await verifyReplaced(info, 'etcd-spare-0', 'etcd-spare-2', before, { installer: null });
    const inventory = await readFileOn(info, 'master-0', '/etc/ansible/hosts');
    expect(getGroupHosts(inventory, 'etcd').sort()).toEqual(['master-0', 'etcd-spare-1', 'etcd-spare-2'].map(fqdn).sort());
  });

  it('double fault: a voter dies right after the learner is added: quorum is lost; the record names the learner, the quorum and the snapshot', async () => {
    // Now master-0, etcd-spare-1, etcd-spare-2.
    const { record } = await doubleFault(sandbox(), { failed: 'etcd-spare-1', replacement: 'etcd-spare-3', second: 'etcd-spare-2', caHost: 'master-0' });
    expect(record.context['addedAsLearner']).toBe(true);
  });
});
