// Resume: the runner is SIGKILLed inside each step of the success path in turn, on one cluster, and the
// same `run` command, started again, resumes the unfinished run and finishes the job
// (test/support/resumeScenario.ts). The learner path's own steps are killed in on etcd 3.4.23 in
// test/sandbox/learner/resume.test.ts.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failHost, type SandboxInfo } from '../../sandbox/index.ts';
import { ADD_METHOD_TASKS, COMPENSATION_TASKS, TASKS } from '../../statemachine/spec.ts';
import { downAll, upSandbox } from '../support/safetyHelpers.ts';
import { replaceKilledInEachStep } from '../support/resumeScenario.ts';

const created: string[] = [];
let sandbox: SandboxInfo;

beforeAll(async () => {
  sandbox = await upSandbox(created, 't-res', { members: 3, spares: 1, nodes: 1, dataMb: 2 });
  // etcd dies, the host stays reachable: the success path then also visits BackUpFailedMemberData.
  await failHost(sandbox.name, 'master-2', 'etcd');
});

afterAll(async () => {
  await downAll(created);
});

/** Task states the success path of this run visits, in TASKS order. */
const VISITED: string[] = TASKS.map((t) => t.name).filter(
  (name) => !COMPENSATION_TASKS.includes(name) && !ADD_METHOD_TASKS.ansible.includes(name) && name !== 'FixLocalhostPeerUrls',
);

describe('resume after the runner is killed inside each step', () => {
  it('kills the CLI in every step of the success path in turn; the same command resumes and finishes', async () => {
    const { kills } = await replaceKilledInEachStep(sandbox, 'master-2', 'etcd-spare-0', VISITED);

    const killedSteps = kills.map((k) => k.step);
    const interrupted = kills.filter((k) => k.interrupted).map((k) => k.step);
    // Every visited step was the one running when some runner was killed, or had already finished
    // before the runner reached it only because an earlier kill landed after it.
    expect(killedSteps.length).toBeGreaterThanOrEqual(VISITED.length - 3);
    expect(interrupted.length).toBeGreaterThanOrEqual(Math.ceil(VISITED.length / 2));
    for (const step of ['SnapshotCluster', 'IssueCertificates', 'RemoveFailedMember', 'AddMember', 'StartNewMember', 'RollMasters']) {
      expect(killedSteps).toContain(step);
    }
  });
});
