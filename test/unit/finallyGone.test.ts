// The observations under final evidence (functions/cluster/observe.ts finallyGone): when EC2 reports the
// failed member's instance terminated, the failed member is still asked, within etcdctl.sh's short
// QUICK_COMMAND; every other member keeps the usual status timeout. Only in a run that replaces one member.

import { describe, expect, it } from 'vitest';
import { finallyGone, observe } from '../../functions/cluster/observe.ts';
import type { ClusterView, ViewOptions } from '../../functions/ports.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { FakeCluster, fakeDeps, threeMembers, unitInventory, validatedContext } from '../support/fakeCluster.ts';

const FAILED_URL = 'https://198.51.100.4:2379';
const terminated = { signal: 'ec2-state-change' as const, state: 'terminated', at: '2026-01-01T00:00:00Z', instanceId: 'i-0abc', final: true };

function context(extra: Partial<WorkflowContext> = {}, final = true): WorkflowContext {
  const c = validatedContext(unitInventory(), 'master-2', 'etcd-spare-0', extra);
  return { ...c, request: { ...c.request, evidence: { ...terminated, final } } };
}

/** A FakeCluster that keeps the options each view was asked with. */
class QuickRecordingCluster extends FakeCluster {
  readonly quick: Array<string[] | undefined> = [];
  override async view(statusEndpoints: string[], options?: ViewOptions): Promise<ClusterView> {
    this.quick.push(options?.quick);
    return super.view(statusEndpoints);
  }
}

describe('finallyGone: the endpoints asked within the short timeout', () => {
  it("the failed host's client URL under the request's final evidence, before CheckClusterHealth records it", () => {
    expect(finallyGone(context())).toEqual([FAILED_URL]);
  });

  it('follows the recorded evidence once there is one: final, or not', () => {
    expect(finallyGone(context({ failureEvidence: { ...terminated } }, false))).toEqual([FAILED_URL]);
    expect(finallyGone(context({ failureEvidence: { ...terminated, final: false } }))).toEqual([]);
  });

  it('none without final evidence, or in a run that replaces several members', () => {
    expect(finallyGone(context({}, false))).toEqual([]);
    const several = context({ members: [{ failed: 'master-2' }, { failed: 'master-1' }] });
    expect(finallyGone(several)).toEqual([]);
  });

  it('observe() asks the failed member quickly and the others as usual', async () => {
    const cluster = new QuickRecordingCluster(threeMembers(['master-2']));
    const seen = await observe(context(), fakeDeps(cluster));
    expect(cluster.quick).toEqual([[FAILED_URL]]);
    expect(seen.health.map((h) => h.healthy)).toEqual([true, true, false]);
    const plain = new QuickRecordingCluster(threeMembers(['master-2']));
    await observe(context({}, false), fakeDeps(plain));
    expect(plain.quick).toEqual([undefined]);
  });
});
