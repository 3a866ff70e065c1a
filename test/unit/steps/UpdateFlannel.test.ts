// UpdateFlannel (functions/steps/UpdateFlannel.ts): on every master and node, FLANNEL_ETCD_ENDPOINTS in
// /etc/sysconfig/flanneld is set to exactly the live members and flanneld restarted where it changed, in
// one command per host: UpdateFlannel.sh live HOSTNAMES reads, edits and writes the file there (with the
// restart marker) and restarts flanneld. A file the host's edit declines is read and edited by the
// workflow, then written and restarted by UpdateFlannel.sh EXPECTED_SHA256 CONTENT_BASE64 (lib/hostFile.sh).
// A host without the file has no flannel; an unreachable one is left in `remaining` with the exact change.
// The live members are the list VerifyClusterHealth verified for this new member, else etcd's.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { getFlannelEndpoints } from '../../../functions/config/flanneld.ts';
import { HostUnreachableError } from '../../../functions/errors.ts';
import { FLANNELD_PATH } from '../../../functions/config/paths.ts';
import { UpdateFlannel } from '../../../functions/steps/UpdateFlannel.ts';
import { fakeMember, host, unitInventory } from '../../support/fakeCluster.ts';
import {
  after,
  confirmedContext,
  exitCases,
  failure,
  HOST_WORK_RETRIES,
  NEW_ID,
  retried,
  SPARE,
  stepWorld,
  survivingMembers,
  type StepWorld,
} from '../../support/stepHarness.ts';

const FLANNELD = readFileSync(new URL('../../../sandbox/templates/flanneld', import.meta.url), 'utf8').replaceAll('.example.com', '.example.test');
const LIVE = ['https://master-0.example.test:2379', 'https://master-1.example.test:2379', 'https://etcd-spare-0.example.test:2379'];
const replaced = () =>
  confirmedContext({
    inventory: unitInventory([host('node-0', '198.51.100.20', ['node'])]),
    failedMemberRemoved: true,
    memberAdded: true,
    newMemberId: NEW_ID,
  });

/** flanneld on master-0, master-1 and master-2 (powered off unless `failedHostUp`); node-0 runs no flannel. */
function flannelHosts(options: { failedHostUp?: boolean } = {}): StepWorld {
  const world = stepWorld([...survivingMembers(), fakeMember(0xb0, 'etcd-spare-0', SPARE.ip, true)]);
  for (const h of ['master-0', 'master-1', 'master-2']) world.runner.putFile(h, FLANNELD_PATH, FLANNELD);
  world.runner.on('UpdateFlannel', (request) => ({ stdout: { restarted: world.runner.takeRestartMarker(request.host.name, FLANNELD_PATH) } }));
  if (!options.failedHostUp) {
    for (const script of ['UpdateFlannel', 'ReadHostFile']) world.runner.on(script, new HostUnreachableError('master-2 is powered off'), { host: 'master-2' });
  }
  return world;
}

const LIVE_ARG = LIVE.map((url) => url.slice('https://'.length, -':2379'.length)).join(',');

describe('Step: UpdateFlannel', () => {
  it('names exactly the live members on every host running flanneld and restarts it there, one command per host; the unreachable one is left in remaining', async () => {
    const world = flannelHosts();
    const result = await UpdateFlannel(replaced(), world.deps);
    for (const h of ['master-0', 'master-1']) expect(getFlannelEndpoints(world.runner.file(h, FLANNELD_PATH)!)).toEqual(LIVE);
    expect(world.runner.sent()).toEqual(['master-0', 'master-1', 'master-2', 'node-0'].map((h) => `UpdateFlannel@${h} live ${LIVE_ARG}`));
    expect(world.cluster.calls.filter((c) => c === 'memberList')).toHaveLength(1);
    expect(result.output.remaining).toEqual([
      `master-2 is unreachable: when it returns, set FLANNEL_ETCD_ENDPOINTS in ${FLANNELD_PATH} to ${LIVE.join(',')} and restart flanneld`,
    ]);
    expect(result.detail).toBe('flanneld updated on master-0, master-1; already right on none; no flannel on node-0');
  });

  it('a second run writes nothing and restarts nothing', async () => {
    const world = flannelHosts({ failedHostUp: true });
    const first = await UpdateFlannel(replaced(), world.deps);
    const before = world.runner.requests.length;
    const second = await UpdateFlannel(after(replaced(), first), world.deps);
    expect(world.runner.requests.slice(before).map((r) => r.args[0])).toEqual(['live', 'live', 'live', 'live']);
    expect(second.output).toEqual({});
    expect(second.detail).toBe('flanneld updated on none; already right on master-0, master-1, master-2; no flannel on node-0');
    expect(second.skipped).toBe(true);
    expect(first.skipped).toBeUndefined();
  });

  it('takes the live members from the list VerifyClusterHealth verified for this new member, without asking etcd', async () => {
    const world = flannelHosts();
    const verified = { newMemberId: NEW_ID, hostnames: ['master-1.example.test', 'etcd-spare-0.example.test'] };
    await UpdateFlannel({ ...replaced(), verifiedMembers: verified }, world.deps);
    expect(world.cluster.calls).not.toContain('memberList');
    expect(world.runner.of('UpdateFlannel').map((r) => r.args)).toEqual(Array.from({ length: 4 }, () => ['live', verified.hostnames.join(',')]));
    expect(getFlannelEndpoints(world.runner.file('master-0', FLANNELD_PATH)!)).toEqual([LIVE[1], LIVE[2]]);
  });

  it('asks etcd when the verified list is for another new member (a membership change followed it)', async () => {
    const world = flannelHosts();
    await UpdateFlannel({ ...replaced(), verifiedMembers: { newMemberId: '00000000000000c1', hostnames: ['master-1.example.test'] } }, world.deps);
    expect(world.cluster.calls).toContain('memberList');
    expect(getFlannelEndpoints(world.runner.file('master-0', FLANNELD_PATH)!)).toEqual(LIVE);
  });

  it("a file the host's edit declines is read and edited by the workflow, then written and restarted in one command", async () => {
    const world = flannelHosts();
    world.runner.declineHostEdits.add('master-1');
    const result = await UpdateFlannel(replaced(), world.deps);
    expect(
      world.runner
        .sent()
        .filter((line) => line.includes('@master-1'))
        .map((line) => line.split(' ')[0]),
    ).toEqual(['UpdateFlannel@master-1', 'ReadHostFile@master-1', 'UpdateFlannel@master-1']);
    expect(
      world.runner
        .of('UpdateFlannel')
        .filter((r) => r.host.name === 'master-1')
        .map((r) => r.args.length),
    ).toEqual([2, 2]);
    expect(world.runner.of('UpdateFlannel').filter((r) => r.host.name === 'master-1')[1]?.args[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(getFlannelEndpoints(world.runner.file('master-1', FLANNELD_PATH)!)).toEqual(LIVE);
    expect(world.logs.some((line) => line.includes('master-1') && line.includes('edited by the workflow itself'))).toBe(true);
    expect(result.detail).toBe('flanneld updated on master-0, master-1; already right on none; no flannel on node-0');
  });

  it('a live member whose name is no hostname: every host is read and edited by the workflow, which names the bad value', async () => {
    const world = flannelHosts();
    const error = await failure(
      UpdateFlannel({ ...replaced(), verifiedMembers: { newMemberId: NEW_ID, hostnames: ['master-1.example.test', 'Spare_0'] } }, world.deps),
    );
    expect(error.name).toBe('InvalidInputError');
    expect(world.runner.of('UpdateFlannel').filter((r) => r.args[0] === 'live')).toEqual([]);
  });

  it.each(exitCases(HOST_WORK_RETRIES))('UpdateFlannel.sh exit %i is %s (retried: %s)', async (code, name, isRetried) => {
    const world = flannelHosts();
    world.runner.exits('UpdateFlannel', code, 'flanneld is not active', { host: 'master-1' });
    const error = await failure(UpdateFlannel(replaced(), world.deps));
    expect(error.name).toBe(name);
    expect(error.message).toContain('master-1');
    expect(retried('UpdateFlannel', error)).toBe(isRetried);
  });

  it('the file changed since the workflow read it (the write refuses, exit 3): RefusedError, nothing written or restarted there', async () => {
    const world = flannelHosts();
    world.runner.declineHostEdits.add('master-0');
    world.runner.on('ReadHostFile', { stdout: `${'0'.repeat(64)}\n${FLANNELD}` }, { host: 'master-0' }); // read before someone else's edit
    const error = await failure(UpdateFlannel(replaced(), world.deps));
    expect(error.name).toBe('RefusedError');
    expect(world.runner.file('master-0', FLANNELD_PATH)).toBe(FLANNELD);
    expect(world.runner.takeRestartMarker('master-0', FLANNELD_PATH)).toBe(false);
  });
});
