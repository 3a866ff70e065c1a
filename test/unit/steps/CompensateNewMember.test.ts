// CompensateNewMember (functions/steps/CompensateNewMember.ts): the new member could not join. Only
// the member this run added is removed again (its recorded ID, or the unstarted member on the new
// host's peer URL when the add's answer was lost), then CompensateNewMember.sh CLUSTER_ID [MEMBER_ID]
// stops and disables etcd on the new host; what remains is recorded. No quorum: QuorumLostError, and
// nothing changes; a new member whose vote the cluster needs now is left in place (RefusedError).

import { describe, expect, it } from 'vitest';
import { HostUnreachableError, QuorumLostError, RefusedError } from '../../../functions/errors.ts';
import { CompensateNewMember } from '../../../functions/steps/CompensateNewMember.ts';
import { FAKE_CLUSTER_ID, fakeMember, threeMembers } from '../../support/fakeCluster.ts';
import {
  after,
  confirmedContext,
  exitCases,
  failure,
  NEW_ID,
  refused,
  retried,
  SPARE,
  stepWorld,
  survivingMembers,
  TRANSIENT_RETRIES,
} from '../../support/stepHarness.ts';

const ERROR = { Error: 'NewMemberFailedError', Cause: 'StartNewMember on etcd-spare-0: etcd did not start listening' };
const joined = (extra = {}) =>
  confirmedContext({ failedMemberRemoved: true, memberAdded: true, newMemberId: NEW_ID, addedAsLearner: true, error: ERROR, ...extra });
const unstartedLearner = () => fakeMember(0xb0, '', SPARE.ip, false, { isLearner: true });

function world(members = [...survivingMembers(), unstartedLearner()]) {
  const w = stepWorld(members);
  w.runner.on('CompensateNewMember', { stdout: { stopped: true } });
  return w;
}

describe('Step: CompensateNewMember', () => {
  it('removes the member this run added, then stops etcd on the new host, naming the cluster and that member', async () => {
    const w = world();
    const result = await CompensateNewMember(joined(), w.deps);
    expect(w.cluster.changes).toEqual([`remove ${NEW_ID}`]);
    expect(w.runner.sent()).toEqual([`CompensateNewMember@etcd-spare-0 ${FAKE_CLUSTER_ID} ${NEW_ID}`]);
    expect(w.runner.requests[0]).toMatchObject({ timeoutSeconds: 60 });
    expect(w.runner.requests[0]?.secrets).toBeUndefined();
    expect(result.detail).toBe(`removed member ${NEW_ID}; stopped etcd on etcd-spare-0`);
    expect(result.output.memberAdded).toBe(false);
    expect(result.output.remaining).toEqual([
      'the failed member 00000000000000a2 is removed and has no replacement: the cluster runs with 2 members',
      `fix the cause (${ERROR.Error}: ${ERROR.Cause}) and run the replacement again`,
      'etcd-spare-0: /var/lib/etcd may hold data of the removed member; the next run uploads it to the artifact store before emptying it',
    ]);
  });

  it('a second run removes nothing more and stops etcd on the new host again', async () => {
    const w = world();
    const first = await CompensateNewMember(joined(), w.deps);
    const second = await CompensateNewMember(after(joined(), first), w.deps);
    expect(w.cluster.changes).toEqual([`remove ${NEW_ID}`]);
    expect(second.detail).toBe('no member had been added; stopped etcd on etcd-spare-0');
    expect(w.runner.requests).toHaveLength(2);
    expect(w.runner.requests[1]).toMatchObject({ script: 'CompensateNewMember', host: SPARE });
    expect(w.runner.requests[1]?.args[0]).toBe(FAKE_CLUSTER_ID);
    // The member is gone from the list but its etcd may still answer as it: the script is told its ID.
    expect(w.runner.requests[1]?.args).toEqual([FAKE_CLUSTER_ID, NEW_ID]);
  });

  it("the add's answer lost (no member ID recorded): removes the unstarted member on the new host's peer URL", async () => {
    const w = world([...survivingMembers(), fakeMember(0xb7, '', SPARE.ip, false)]);
    await CompensateNewMember(joined({ newMemberId: undefined, memberAdded: undefined }), w.deps);
    expect(w.cluster.changes).toEqual(['remove 00000000000000b7']);
  });

  it('refuses, changing nothing, when a started member this run did not add runs on the new host', async () => {
    const w = world([...survivingMembers(), fakeMember(0xc0, 'etcd-spare-0', SPARE.ip, true)]);
    const error = await failure(CompensateNewMember(joined(), w.deps));
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toMatch(
      /etcd-spare-0 is member 00000000000000c0 \(etcd-spare-0\.example\.test\) of this cluster; nothing was stopped or emptied there/,
    );
    expect(w.cluster.changes).toEqual([]);
    expect(w.runner.requests).toEqual([]);
  });

  it('no quorum: QuorumLostError, which no rule retries, and nothing changes', async () => {
    const w = world([...threeMembers(['master-1']).slice(0, 2), fakeMember(0xb0, '', SPARE.ip, false)]);
    const error = await failure(CompensateNewMember(joined({ addedAsLearner: false }), w.deps));
    expect(error).toBeInstanceOf(QuorumLostError);
    expect(retried('CompensateNewMember', error)).toBe(false);
    expect(w.cluster.changes).toEqual([]);
    expect(w.runner.requests).toEqual([]);
  });

  it('a new member that votes and whose vote the cluster needs now is left in place (RefusedError)', async () => {
    const w = world([...threeMembers(['master-1']).slice(0, 2), fakeMember(0xb0, 'etcd-spare-0', SPARE.ip, true)]);
    const error = await failure(CompensateNewMember(joined({ addedAsLearner: false }), w.deps));
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toMatch(/leaves member 00000000000000b0 in place: removing the member would leave 1 healthy voting members where 2 are needed/);
    expect(refused('CompensateNewMember', error)).toBe(true);
    expect(w.cluster.changes).toEqual([]);
  });

  it('an unreachable new host: the member is removed and the stop is left in remaining', async () => {
    const w = world();
    w.runner.on('CompensateNewMember', new HostUnreachableError('etcd-spare-0 does not answer'));
    const result = await CompensateNewMember(joined(), w.deps);
    expect(w.cluster.changes).toEqual([`remove ${NEW_ID}`]);
    expect(result.output.remaining?.[0]).toBe('etcd-spare-0 is unreachable: make sure etcd is stopped and disabled there before it returns');
  });

  it.each(exitCases(TRANSIENT_RETRIES))('CompensateNewMember.sh exit %i is %s (retried: %s)', async (code, name, isRetried) => {
    const w = world();
    w.runner.exits('CompensateNewMember', code, 'this host runs another member');
    const error = await failure(CompensateNewMember(joined(), w.deps));
    expect(error.name).toBe(name);
    expect(retried('CompensateNewMember', error)).toBe(isRetried);
  });
});
