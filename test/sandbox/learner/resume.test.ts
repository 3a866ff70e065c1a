// Resume on the learner path (etcd 3.4.23): the runner is SIGKILLed inside the steps that differ there
// (the learner's add, its start and catch-up, its promotion), and the same command finishes the job
// with the new member promoted to a voter (test/support/resumeScenario.ts).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failHost, type SandboxInfo } from '../../../sandbox/index.ts';
import { downAll, stepStatus, upSandbox } from '../../support/safetyHelpers.ts';
import { replaceKilledInEachStep } from '../../support/resumeScenario.ts';
import { memberList } from '../../support/clusterFacts.ts';

const created: string[] = [];
let sandbox: SandboxInfo;

beforeAll(async () => {
  sandbox = await upSandbox(created, 't-lres', { members: 3, spares: 1, nodes: 0, dataMb: 2 });
  await failHost(sandbox.name, 'master-2', 'kill');
});

afterAll(async () => {
  await downAll(created);
});

const LEARNER_STEPS = ['AddMember', 'StartNewMember', 'PromoteNewMember'];

describe('resume on the learner path', () => {
  it('kills the CLI in the learner add, start and promotion in turn; the same command resumes and promotes the learner', async () => {
    expect(sandbox.etcdVersion).toMatch(/^3\.(4|[5-9])\./);
    const { kills, result } = await replaceKilledInEachStep(sandbox, 'master-2', 'etcd-spare-0', LEARNER_STEPS);

    expect(kills.map((k) => k.step)).toEqual(LEARNER_STEPS);
    expect(stepStatus(result)['PromoteNewMember']).toMatch(/succeeded|skipped/);
    // No learner is left: every member votes.
    const members = await memberList(sandbox, 'master-0', `https://${sandbox.hosts[0]!.ip}:2379`);
    expect(members).toHaveLength(3);
    expect(members.filter((m) => m.isLearner)).toEqual([]);
  });
});
