// UpdateFlannel (functions/steps/UpdateFlannel.ts): on every master and node, FLANNEL_ETCD_ENDPOINTS in
// /etc/sysconfig/flanneld is set to exactly the live members and flanneld restarted where it changed: the
// write (with the restart marker, only over the content read) and the restart in one command,
// UpdateFlannel.sh EXPECTED_SHA256 CONTENT_BASE64 (lib/hostFile.sh). A host without the
// file has no flannel; an unreachable one is left in `remaining` with the exact change.

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
  if (!options.failedHostUp) world.runner.on('ReadHostFile', new HostUnreachableError('master-2 is powered off'), { host: 'master-2' });
  return world;
}

describe('Step: UpdateFlannel', () => {
  it('names exactly the live members on every host running flanneld and restarts it there; the unreachable one is left in remaining', async () => {
    const world = flannelHosts();
    const result = await UpdateFlannel(replaced(), world.deps);
    for (const h of ['master-0', 'master-1']) {
      expect(getFlannelEndpoints(world.runner.file(h, FLANNELD_PATH)!)).toEqual(LIVE);
      expect(
        world.runner
          .sent()
          .filter((line) => line.includes(`@${h}`))
          .map((line) => line.split(' ')[0]),
      ).toEqual([`ReadHostFile@${h}`, `UpdateFlannel@${h}`]);
    }
    expect(world.runner.of('UpdateFlannel').map((r) => r.args.length)).toEqual([2, 2]);
    expect(world.runner.of('WriteHostFile')).toEqual([]);
    expect(world.runner.sent().filter((line) => line.includes('@node-0'))).toEqual([`ReadHostFile@node-0 ${FLANNELD_PATH}`]);
    expect(world.runner.sent().some((line) => line.includes('@etcd-spare-0'))).toBe(false);
    expect(result.output.remaining).toEqual([
      `master-2 is unreachable: when it returns, set FLANNEL_ETCD_ENDPOINTS in ${FLANNELD_PATH} to ${LIVE.join(',')} and restart flanneld`,
    ]);
    expect(result.detail).toBe('flanneld updated on master-0, master-1; already right on none; no flannel on node-0');
  });

  it('a second run writes nothing and restarts nothing', async () => {
    const world = flannelHosts({ failedHostUp: true });
    const first = await UpdateFlannel(replaced(), world.deps);
    const second = await UpdateFlannel(after(replaced(), first), world.deps);
    expect(world.runner.of('UpdateFlannel').map((r) => r.args.length)).toEqual([2, 2, 2, 0, 0, 0]);
    expect(second.output).toEqual({});
    expect(second.detail).toBe('flanneld updated on none; already right on master-0, master-1, master-2; no flannel on node-0');
    expect(second.skipped).toBe(true);
    expect(first.skipped).toBeUndefined();
  });

  it.each(exitCases(HOST_WORK_RETRIES))('UpdateFlannel.sh exit %i is %s (retried: %s)', async (code, name, isRetried) => {
    const world = flannelHosts();
    world.runner.exits('UpdateFlannel', code, 'flanneld is not active', { host: 'master-1' });
    const error = await failure(UpdateFlannel(replaced(), world.deps));
    expect(error.name).toBe(name);
    expect(error.message).toContain('master-1');
    expect(retried('UpdateFlannel', error)).toBe(isRetried);
  });

  it('the file changed since it was read (the write refuses, exit 3): RefusedError, nothing written or restarted there', async () => {
    const world = flannelHosts();
    world.runner.on('ReadHostFile', { stdout: `${'0'.repeat(64)}\n${FLANNELD}` }, { host: 'master-0' }); // read before someone else's edit
    const error = await failure(UpdateFlannel(replaced(), world.deps));
    expect(error.name).toBe('RefusedError');
    expect(world.runner.file('master-0', FLANNELD_PATH)).toBe(FLANNELD);
    expect(world.runner.takeRestartMarker('master-0', FLANNELD_PATH)).toBe(false);
  });
});
