// StartNewMember's wait, on a fake cluster and clock: without a learner the new member is started only
// once it is listed under its name and healthy; the wait goes on while its data directory grows, fails
// after memberStartSeconds without progress, and hands a member still catching up at the attempt's
// budget to the next attempt with its own error.

import { describe, expect, it } from 'vitest';
import { NewMemberCatchingUpError, NewMemberFailedError } from '../../functions/errors.ts';
import type { EndpointHealth, ScriptRequest } from '../../functions/ports.ts';
import { StartNewMember } from '../../functions/steps/StartNewMember.ts';
import { DEFAULT_WAITS } from '../../functions/steps/deps.ts';
import { FAKE_CLUSTER_ID, FakeCluster, fakeDeps, fakeMember, memberId, threeMembers, unitInventory, validatedContext } from '../support/fakeCluster.ts';

const NEW_ID = memberId(0xb0);
const SPARE_IP = '198.51.100.9';

/** The cluster after the failed member's removal and the plain add; `at(seconds)` says how the new member looks then. */
class JoiningCluster extends FakeCluster {
  constructor(
    private readonly clock: { t: number },
    private readonly at: (seconds: number) => { named: boolean; healthy: boolean },
  ) {
    super([...threeMembers([]).slice(0, 2), fakeMember(0xb0, '', SPARE_IP, false)]);
  }
  override async memberList() {
    const list = await super.memberList();
    return list.map((m) => (m.id === NEW_ID && this.at(this.clock.t).named ? { ...m, name: 'etcd-spare-0.example.test', clientURLs: [`https://${SPARE_IP}:2379`] } : m));
  }
  override async health(endpoints: string[]): Promise<EndpointHealth[]> {
    return endpoints.map((endpoint) => ({ endpoint, healthy: this.at(this.clock.t).healthy }));
  }
}

function setup(at: (seconds: number) => { named: boolean; healthy: boolean }, dataBytes: (seconds: number) => number) {
  const clock = { t: 0 };
  const t0 = Date.parse('2026-12-02T04:00:00Z');
  const cluster = new JoiningCluster(clock, at);
  const scripts: string[] = [];
  const deps = {
    ...fakeDeps(cluster),
    now: () => new Date(t0 + clock.t * 1000),
    sleep: async (ms: number) => {
      clock.t += ms / 1000;
    },
    runner: {
      run: async (request: ScriptRequest) => {
        scripts.push(`${request.script} ${request.args[0] ?? ''}`);
        const out = request.script === 'StartNewMember' ? { started: 'now', backedUpData: false } : { dataBytes: dataBytes(clock.t) };
        return { exitCode: 0, stdout: `${JSON.stringify(out)}\n`, stderr: '' };
      },
    },
    artifacts: { uploadUrl: async () => 'http://store/up', downloadUrl: async () => 'http://store/down', head: async () => null, delete: async () => {} },
  };
  const context = validatedContext(unitInventory(), 'master-2', 'etcd-spare-0', {
    newMemberId: NEW_ID,
    memberAdded: true,
    addedAsLearner: false,
    memberAddedAt: new Date(t0).toISOString(),
    bundleKey: 'runs/r-unit-0001/bundle.tgz',
    clusterId: FAKE_CLUSTER_ID,
    clusterVersion: '3.2.22',
    survivors: [
      { id: memberId(0xa0), name: 'master-0.example.test', peerURL: 'https://198.51.100.2:2380', clientURL: 'https://198.51.100.2:2379' },
      { id: memberId(0xa1), name: 'master-1.example.test', peerURL: 'https://198.51.100.3:2380', clientURL: 'https://198.51.100.3:2379' },
    ],
  });
  return { clock, deps, context, scripts };
}

describe('Step: StartNewMember, without a learner', () => {
  it('is done only once the member is listed and healthy, and records when: the add-to-caught-up window', async () => {
    // etcd 3.2: listed almost at once (the others commit its name), healthy after 100 s of replay.
    const { deps, context } = setup((t) => ({ named: t > 1, healthy: t > 100 }), (t) => Math.floor(t) * 1_000_000);
    const result = await StartNewMember(context, deps);
    const started = Date.parse(result.output.newMemberStartedAt!) - Date.parse(context.memberAddedAt!);
    expect(started / 1000).toBeGreaterThan(100);
    expect(started / 1000).toBeLessThan(103);
    expect(result.detail).toMatch(/voted 10\d\.\d s before it had caught up \(no learner\)/);
  });

  it('fails with NewMemberFailedError after memberStartSeconds without progress (nothing answers, the data directory does not grow)', async () => {
    const { clock, deps, context } = setup(() => ({ named: false, healthy: false }), () => 4096);
    const error = await StartNewMember(context, deps).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NewMemberFailedError);
    expect((error as Error).message).toMatch(/has not answered, and its data directory on etcd-spare-0 has not grown, for 60s/);
    expect(clock.t).toBeGreaterThan(DEFAULT_WAITS.memberStartSeconds);
    expect(clock.t).toBeLessThan(DEFAULT_WAITS.memberStartSeconds + 5);
  });

  it('waits on while the data directory grows, and at the budget hands over with NewMemberCatchingUpError', async () => {
    const { clock, deps, context, scripts } = setup(() => ({ named: true, healthy: false }), (t) => Math.floor(t) * 1_000_000);
    const error = await StartNewMember(context, { ...deps, waits: { ...deps.waits, memberCatchUpSeconds: 300 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NewMemberCatchingUpError);
    expect(clock.t).toBeGreaterThanOrEqual(300);
    expect(clock.t).toBeLessThan(305);
    expect(scripts.filter((s) => s === 'DescribeEtcdHost data-bytes').length).toBeGreaterThan(100);
  });
});
