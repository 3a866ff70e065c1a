// RollMasters (functions/steps/RollMasters.ts): every master's master-config.yaml is read at once; then
// one master at a time its etcdClientInfo.urls is set to exactly the live members and RollMasters.sh
// WAIT [EXPECTED_SHA256 CONTENT_BASE64] writes it (with the restart marker, only over the content read,
// lib/hostFile.sh), restarts the API and controllers where the marker is and waits until the API is
// healthy, in one command. An unreachable master, a missing config, or
// the failed host's API not healthy (exit 4) is left in `remaining`; another master's exit 4 is
// MasterUnhealthyError.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { getEtcdClientUrls } from '../../../functions/config/masterConfig.ts';
import { HostUnreachableError, MasterUnhealthyError } from '../../../functions/errors.ts';
import { MASTER_CONFIG_PATH } from '../../../functions/config/paths.ts';
import { RollMasters } from '../../../functions/steps/RollMasters.ts';
import { fakeMember } from '../../support/fakeCluster.ts';
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

const CONFIG = readFileSync(new URL('../../../sandbox/templates/master-config.yaml', import.meta.url), 'utf8').replaceAll('.example.com', '.example.test');
const LIVE = ['https://master-0.example.test:2379', 'https://master-1.example.test:2379', 'https://etcd-spare-0.example.test:2379'];
const replaced = () => confirmedContext({ failedMemberRemoved: true, memberAdded: true, newMemberId: NEW_ID });
const MASTERS = ['master-0', 'master-1', 'master-2'] as const;
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** The masters with their configs, their APIs healthy; master-2 (the failed host) powered off unless `failedHostUp`. */
function masters(options: { failedHostUp?: boolean } = {}): StepWorld {
  const world = stepWorld([...survivingMembers(), fakeMember(0xb0, 'etcd-spare-0', SPARE.ip, true)]);
  for (const m of MASTERS) world.runner.putFile(m, MASTER_CONFIG_PATH, CONFIG);
  world.runner.on('RollMasters', (request) => ({
    stdout: { restarted: world.runner.takeRestartMarker(request.host.name, MASTER_CONFIG_PATH), healthy: true },
  }));
  if (!options.failedHostUp) world.runner.on('ReadHostFile', new HostUnreachableError('master-2: the SSM agent is offline'), { host: 'master-2' });
  return world;
}

const scriptsOn = (world: StepWorld) => world.runner.requests.map((r) => `${r.script}@${r.host.name}`);

describe('Step: RollMasters', () => {
  it('reads every config at once, then writes and restarts one master at a time, each in one command; the unreachable failed host is left in remaining', async () => {
    const world = masters();
    const result = await RollMasters(replaced(), world.deps);
    expect(scriptsOn(world)).toEqual([
      'ReadHostFile@master-0',
      'ReadHostFile@master-1',
      'ReadHostFile@master-2',
      'RollMasters@master-0',
      'RollMasters@master-1',
    ]);
    // RollMasters.sh WAIT EXPECTED_SHA256 CONTENT_BASE64: the write over the content read, then the restart.
    expect(world.runner.of('RollMasters').map((r) => [r.args[0], r.args[1], r.args.length, r.timeoutSeconds])).toEqual([
      ['120', sha256(CONFIG), 3, 240],
      ['120', sha256(CONFIG), 3, 240],
    ]);
    for (const m of ['master-0', 'master-1']) expect(getEtcdClientUrls(world.runner.file(m, MASTER_CONFIG_PATH)!)).toEqual(LIVE);
    expect(world.runner.file('master-2', MASTER_CONFIG_PATH)).toBe(CONFIG);
    expect(result.output.remaining).toEqual([
      `master-2 is unreachable: when it returns, set etcdClientInfo.urls in ${MASTER_CONFIG_PATH} to ${LIVE.join(', ')} and run master-restart api and controllers`,
    ]);
    expect(result.detail).toBe('masters rolled one at a time: master-0 (restarted), master-1 (restarted); left: 1');
  });

  it("takes the live members from the list VerifyClusterHealth verified for this new member, without asking etcd; another member's list is asked again", async () => {
    const world = masters();
    const hostnames = LIVE.map((url) => url.slice('https://'.length, -':2379'.length));
    await RollMasters({ ...replaced(), verifiedMembers: { newMemberId: NEW_ID, hostnames } }, world.deps);
    expect(world.cluster.calls).not.toContain('memberList');
    for (const m of ['master-0', 'master-1']) expect(getEtcdClientUrls(world.runner.file(m, MASTER_CONFIG_PATH)!)).toEqual(LIVE);
    await RollMasters({ ...replaced(), verifiedMembers: { newMemberId: '00000000000000c1', hostnames: ['master-0.example.test'] } }, world.deps);
    expect(world.cluster.calls).toContain('memberList');
    for (const m of ['master-0', 'master-1']) expect(getEtcdClientUrls(world.runner.file(m, MASTER_CONFIG_PATH)!)).toEqual(LIVE);
  });

  it('a second run writes nothing and restarts nothing: each master only checked', async () => {
    const world = masters({ failedHostUp: true });
    const first = await RollMasters(replaced(), world.deps);
    const second = await RollMasters(after(replaced(), first), world.deps);
    expect(second.detail).toBe('masters rolled one at a time: master-0, master-1, master-2');
    expect(second.skipped).toBe(true);
    expect(first.skipped).toBeUndefined();
    expect(second.output).toEqual({});
    expect(world.runner.of('WriteHostFile')).toHaveLength(0);
    expect(world.runner.of('RollMasters').map((r) => r.args.length)).toEqual([3, 3, 3, 1, 1, 1]);
  });

  it('a master on a host the network fence holds (a former member after a restore) is left in remaining, neither written nor restarted', async () => {
    const world = masters({ failedHostUp: true });
    world.securityGroups.fenced.add('master-1');
    const result = await RollMasters(replaced(), world.deps);
    expect(world.runner.of('RollMasters').map((r) => r.host.name)).toEqual(['master-0', 'master-2']);
    expect(world.runner.file('master-1', MASTER_CONFIG_PATH)).toBe(CONFIG);
    expect(result.output.remaining).toEqual([
      `master-1 is fenced on the network (2379/2380 closed to and from it): its API cannot reach the members; once it is re-added or unfenced, set etcdClientInfo.urls in ${MASTER_CONFIG_PATH} to ${LIVE.join(', ')} and run master-restart api and controllers`,
    ]);
  });

  it('a master without master-config.yaml is left in remaining, not restarted', async () => {
    const world = masters({ failedHostUp: true });
    world.runner.putFile('master-1', MASTER_CONFIG_PATH, null);
    const result = await RollMasters(replaced(), world.deps);
    expect(world.runner.of('RollMasters').map((r) => r.host.name)).toEqual(['master-0', 'master-2']);
    expect(result.output.remaining).toEqual([`master-1: ${MASTER_CONFIG_PATH} is missing; set etcdClientInfo.urls by hand`]);
  });

  it("the failed host's API not healthy (exit 4) is left in remaining, and the step goes on", async () => {
    const world = masters({ failedHostUp: true });
    world.runner.exits('RollMasters', 4, 'the master API is not healthy 120s after the restart', { host: 'master-2' });
    const result = await RollMasters(replaced(), world.deps);
    expect(result.output.remaining).toEqual([
      expect.stringMatching(
        /^master-2 \(the replaced member's host\): etcdClientInfo.urls .* its API is not healthy after master-restart \(the master API is not healthy 120s after the restart\)/,
      ),
    ]);
  });

  it("another master's API not healthy stops the roll there: MasterUnhealthyError, retried by its rule", async () => {
    const world = masters({ failedHostUp: true });
    world.runner.exits('RollMasters', 4, 'the master API is not healthy', { host: 'master-0' });
    const error = await failure(RollMasters(replaced(), world.deps));
    expect(error).toBeInstanceOf(MasterUnhealthyError);
    expect(retried('RollMasters', error)).toBe(true);
    expect(world.runner.of('RollMasters').map((r) => r.host.name)).toEqual(['master-0']);
  });

  it.each(exitCases([...HOST_WORK_RETRIES, 'MasterUnhealthyError'], { 4: 'MasterUnhealthyError' }))(
    'RollMasters.sh exit %i on a surviving master is %s (retried: %s)',
    async (code, name, isRetried) => {
      const world = masters();
      world.runner.exits('RollMasters', code, 'master-restart api failed', { host: 'master-1' });
      const error = await failure(RollMasters(replaced(), world.deps));
      expect(error.name).toBe(name);
      expect(error.message).toContain('master-1');
      expect(retried('RollMasters', error)).toBe(isRetried);
    },
  );

  it('the config changed since it was read (the write refuses, exit 3): RefusedError, nothing written, no restart', async () => {
    const world = masters();
    const edited = `${CONFIG}# edited meanwhile\n`;
    world.runner.on('ReadHostFile', (request) => {
      world.runner.putFile(request.host.name, MASTER_CONFIG_PATH, edited);
      return { stdout: `${sha256(CONFIG)}\n${CONFIG}` };
    });
    const error = await failure(RollMasters(replaced(), world.deps));
    expect(error.name).toBe('RefusedError');
    expect(world.runner.file('master-0', MASTER_CONFIG_PATH)).toBe(edited);
    expect(world.runner.takeRestartMarker('master-0', MASTER_CONFIG_PATH)).toBe(false);
  });
});
