// SnapshotCluster (functions/steps/SnapshotCluster.ts): starts the run's snapshot job on a survivor
// other than the CA host (SnapshotCluster.sh RUN_ID ENDPOINT, its upload URL on stdin). The workflow goes
// on while it runs, with a learner to come or not: AwaitSnapshot waits for it once the new member has
// joined.

import { describe, expect, it } from 'vitest';
import { keyedSnapshotSource, SnapshotCluster } from '../../../functions/steps/SnapshotCluster.ts';
import type { KeysAheadRunner } from '../../../functions/hosts/keysAhead.ts';
import type { Host, HostRunner } from '../../../functions/ports.ts';
import { unitInventory } from '../../support/fakeCluster.ts';
import {
  after,
  confirmedContext,
  exitCases,
  HOST_WORK_RETRIES,
  expectSecretsOnlyOnStdin,
  failure,
  HOSTS,
  ref,
  retried,
  RUN_ID,
  stepWorld,
  type StepWorld,
} from '../../support/stepHarness.ts';

const KEY = `runs/${RUN_ID}/snapshot-${HOSTS['master-1'].hostname}.db`;
const ENDPOINT = `https://${HOSTS['master-1'].ip}:2379`;
const voter = () => confirmedContext({ options: { graceSeconds: 0, learner: 'never' } });

function withJob(world: StepWorld, job: 'started' | 'running' | 'done'): StepWorld {
  world.runner.on('SnapshotCluster', () => ({ stdout: { job } }));
  return world;
}

describe('Step: SnapshotCluster', () => {
  it('starts the job on master-1, not on the CA host, the upload URL on stdin only, and does not wait for it', async () => {
    const world = withJob(stepWorld(), 'started');
    const result = await SnapshotCluster(confirmedContext(), world.deps);
    expect(world.runner.sent()).toEqual([`SnapshotCluster@master-1 ${RUN_ID} ${ENDPOINT}`]);
    expect(world.runner.requests[0]).toMatchObject({ timeoutSeconds: 60, secrets: { UPLOAD_URL: expect.stringContaining(KEY) } });
    expect(world.artifacts.calls).toEqual([`PUT ${KEY} 900s`]);
    expectSecretsOnlyOnStdin(world);
    expect(result.output).toEqual({ snapshotKey: KEY, snapshotHost: 'master-1' });
    expect(result.skipped).toBe(false);
    expect(result.detail).toMatch(/^snapshot job started on master-1; AwaitSnapshot waits for it/);
  });

  it('a second run, the job done: skipped, on the same host and key', async () => {
    const world = withJob(stepWorld(), 'started');
    const first = await SnapshotCluster(confirmedContext(), world.deps);
    withJob(world, 'done');
    const second = await SnapshotCluster(after(confirmedContext(), first), world.deps);
    expect(second.skipped).toBe(true);
    expect(world.runner.sent()).toEqual([`SnapshotCluster@master-1 ${RUN_ID} ${ENDPOINT}`, `SnapshotCluster@master-1 ${RUN_ID} ${ENDPOINT}`]);
    expect(second.output).toEqual(first.output);
  });

  it('without a learner it starts the job the same way and does not wait either: nothing is verified yet', async () => {
    const world = withJob(stepWorld(), 'started');
    const result = await SnapshotCluster(voter(), world.deps);
    expect(world.runner.sent()).toEqual([`SnapshotCluster@master-1 ${RUN_ID} ${ENDPOINT}`]);
    expect(world.runner.requests[0]).toMatchObject({ timeoutSeconds: 60, secrets: { UPLOAD_URL: expect.stringContaining(KEY) } });
    expectSecretsOnlyOnStdin(world);
    expect(result.output).toEqual({ snapshotKey: KEY, snapshotHost: 'master-1' });
    expect(world.runner.of('AwaitSnapshot')).toEqual([]);
  });

  it.each(exitCases(HOST_WORK_RETRIES))('SnapshotCluster.sh exit %i is %s (retried: %s)', async (code, name, isRetried) => {
    const world = stepWorld();
    world.runner.exits('SnapshotCluster', code, 'etcdctl: no such endpoint');
    const error = await failure(SnapshotCluster(confirmedContext(), world.deps));
    expect(error.name).toBe(name);
    expect(error.message).toContain('master-1');
    expect(retried('SnapshotCluster', error)).toBe(isRetried);
    expect(world.runner.of('AwaitSnapshot')).toEqual([]);
  });
});

/** A runner whose hosts named in `keyed` hold a one-time key made ahead (as the SSM runner's, functions/hosts/keysAhead.ts). */
function keyedRunner(runner: HostRunner, keyed: string[]): HostRunner {
  const withKeys: KeysAheadRunner = {
    run: (request) => runner.run(request),
    keyAhead: () => undefined,
    carryKeysAhead: () => undefined,
    keysAheadLeft: () => [],
    holdsKeyAhead: (host: Host) => keyed.includes(host.name),
  };
  return withKeys;
}

describe('Step: SnapshotCluster, a member whose host holds a key made ahead', () => {
  // Five members, master-2 failed: master-1, master-3 and master-4 followers, master-0 the CA host, the leader last.
  const five = () => {
    const m = (name: string, ip: string): Host => ({ name, hostname: `${name}.example.test`, ip, roles: ['master', 'etcd'] });
    const inventory = unitInventory([m('master-3', '198.51.100.5'), m('master-4', '198.51.100.6')]);
    const member = (name: string, n: number) => {
      const h = inventory.hosts.find((x) => x.name === name)!;
      return { id: n.toString(16).padStart(16, '0'), name: h.hostname, peerURL: `https://${h.ip}:2380`, clientURL: `https://${h.ip}:2379` };
    };
    const context = confirmedContext({
      inventory,
      survivors: [member('master-1', 0xa1), member('master-3', 0xa3), member('master-0', 0xa0), member('master-4', 0xa4)],
    });
    return context;
  };
  const sourceOf = (keyed: string[], context = five()) =>
    keyedSnapshotSource(context, { runner: keyedRunner(stepWorld().runner, keyed) }).snapshotHost ?? 'chosen';

  it('prefers a follower other than the CA host whose host holds a key; never the CA host or the leader for a key', () => {
    expect(sourceOf(['master-3'])).toBe('master-3');
    expect(sourceOf(['master-1', 'master-3'])).toBe('chosen'); // the choice holds one itself
    expect(sourceOf(['master-0'])).toBe('chosen'); // the CA host
    expect(sourceOf(['master-4'])).toBe('chosen'); // the leader (last)
    expect(sourceOf([])).toBe('chosen');
    // Three members: master-1 is the one survivor other than the CA host; nothing to prefer.
    expect(sourceOf(['master-0'], confirmedContext({ survivors: [ref('master-1', 0xa1), ref('master-0', 0xa0)] }))).toBe('chosen');
  });

  it("takes the snapshot there, under that host's key name; a runner that needs no keys (the sandbox) keeps the first follower", async () => {
    const world = stepWorld();
    const key3 = `runs/${RUN_ID}/snapshot-master-3.example.test.db`;
    world.runner.on('SnapshotCluster', () => ({ stdout: { job: 'started' } }));
    const result = await SnapshotCluster(five(), { ...world.deps, runner: keyedRunner(world.runner, ['master-3']) });
    expect(result.output).toEqual({ snapshotKey: key3, snapshotHost: 'master-3' });
    expect(world.runner.sent()).toEqual([`SnapshotCluster@master-3 ${RUN_ID} https://198.51.100.5:2379`]);
    const plain = await SnapshotCluster(five(), world.deps);
    expect(plain.output).toMatchObject({ snapshotHost: 'master-1' });
  });
});
