// FenceFormerMembers (functions/steps/FenceFormerMembers.ts): every former member but the survivor fenced on
// the network first (what the fence replaced kept for unfence), then, where the host answers,
// FenceFormerMember.sh (etcd stopped, data uploaded, checked in the store, confirmed). Idempotent: the fence
// state is read first and a host fenced already says "marked"; a refusal on the host stops the step.

import { describe, expect, it } from 'vitest';
import { HostUnreachableError } from '../../../functions/errors.ts';
import type { RestoreStepResult } from '../../../functions/cluster/restoreFacts.ts';
import type { FencePrevious, FenceState, Host } from '../../../functions/ports.ts';
import { FenceFormerMembers } from '../../../functions/steps/FenceFormerMembers.ts';
import { memberId, threeMembers, unitInventory } from '../../support/fakeCluster.ts';
import { FakeSecurityGroups } from '../../support/fakePorts.ts';
import { expectSecretsOnlyOnStdin, failure, RUN_ID, stepWorld, type StepWorld } from '../../support/stepHarness.ts';
import { hostFenced, type RestoreContext, type RestoreRunOptions } from '../../../statemachine/restoreContext.ts';

const BYTES = 2_097_152;
const SHA = 'd'.repeat(64);
const MANIFEST = 'f'.repeat(64);

/** Security groups as EC2's fence keeps them: each host's interface with its groups, replaced by the quarantine group. */
class QuarantineGroups extends FakeSecurityGroups {
  readonly groups = new Map<string, string[]>([
    ['master-0', ['sg-0000000a']],
    ['master-1', ['sg-0000000a', 'sg-0000000b']],
    ['master-2', ['sg-0000000a']],
  ]);
  override async fence(host: Host): Promise<{ changed: boolean; previous?: FencePrevious }> {
    const had = this.groups.get(host.name) ?? [];
    const result = await super.fence(host);
    if (!result.changed) return result;
    this.groups.set(host.name, ['sg-quarantine']);
    return { changed: true, previous: { groups: { [`eni-${host.name}`]: had } } };
  }
  override async describeFence(host: Host): Promise<FenceState> {
    const state = await super.describeFence(host);
    return { ...state, groups: { [`eni-${host.name}`]: this.groups.get(host.name) ?? [] } };
  }
}

/** The context after a step's output, as the machine merges it. */
const after = (context: RestoreContext, result: RestoreStepResult): RestoreContext => ({ ...context, ...result.output });

function restoreContext(extra: Partial<RestoreContext> = {}, options: Partial<RestoreRunOptions> = {}): RestoreContext {
  return {
    runId: RUN_ID,
    request: { cluster: 'unit', failed: '', startedBy: 'test' },
    options: { graceSeconds: 0, learner: 'auto', approvalTimeoutSeconds: 900, ...options },
    inventory: unitInventory(),
    survivor: { kind: 'member', host: 'master-2', memberId: memberId(0xa2), revision: 1240, raftIndex: 1544, etcd: 'running', chosenBy: 'rank' },
    formerMembers: ['master-0', 'master-1', 'master-2'].map((host, i) => ({
      host,
      memberId: memberId(0xa0 + i),
      name: `${host}.example.test`,
      isLearner: false,
    })),
    ...extra,
  };
}

/** A host that runs FenceFormerMember.sh as the real one does: the first `fence` stops and uploads, `confirm` marks, later ones say marked. */
function formerHost(world: StepWorld, name: string): void {
  let marked = false;
  let stopped = false;
  world.runner.on(
    'FenceFormerMember',
    () => {
      const first = !stopped;
      stopped = true;
      if (marked)
        return { stdout: { stopped: false, kind: 'pod', backup: { marked: true, bytes: BYTES, sha256: SHA, manifest: MANIFEST, at: '2026-01-01T00:00:00Z' } } };
      world.artifacts.put(`runs/${RUN_ID}/fence-${name}.example.test.tgz`, BYTES);
      return { stdout: { stopped: first, kind: 'pod', backup: { marked: false, empty: false, bytes: BYTES, sha256: SHA, manifest: MANIFEST } } };
    },
    { host: name, args: ['fence'] },
  );
  world.runner.on(
    'FenceFormerMember',
    () => {
      const before = marked;
      marked = true;
      return { stdout: { confirmed: true, markedBefore: before } };
    },
    { host: name, args: ['confirm'] },
  );
}

/** The cluster as the approval left it: master-0 and master-1 do not answer (quorum lost), unless `down` says otherwise. */
function world(down: string[] = ['master-0', 'master-1']): StepWorld & { groups: QuarantineGroups } {
  const w = stepWorld(threeMembers(down));
  const groups = new QuarantineGroups();
  w.deps.securityGroups = groups;
  formerHost(w, 'master-0');
  formerHost(w, 'master-1');
  return { ...w, securityGroups: groups, groups };
}

describe('Step: FenceFormerMembers', () => {
  it('refuses when quorum is back by the time it runs (an approval long after the loss): nothing fenced, nothing run on any host', async () => {
    const w = world(['master-0']);
    const error = await failure(FenceFormerMembers(restoreContext(), w.deps));
    expect(error.name).toBe('RefusedError');
    expect(error.message).toMatch(/^restore-quorum refused: quorum holds/);
    expect(w.groups.calls.filter((c) => !c.startsWith('describeFence'))).toEqual([]);
    expect(w.groups.fenced.size).toBe(0);
    expect(w.runner.of('FenceFormerMember')).toEqual([]);
  });

  it('fences master-0 and master-1 on the network first, keeping their groups, then on the host; never the survivor', async () => {
    const w = world();
    const result = await FenceFormerMembers(restoreContext(), w.deps);
    // Every fence read first (none set: quorum observed lost once more), then each set and checked.
    expect(w.groups.calls).toEqual([
      'describeFence master-0',
      'describeFence master-1',
      'fence master-0',
      'describeFence master-0',
      'fence master-1',
      'describeFence master-1',
    ]);
    expect(w.runner.sent()).toEqual([
      `FenceFormerMember@master-0 fence ${RUN_ID}`,
      `FenceFormerMember@master-0 confirm ${RUN_ID} ${BYTES} ${SHA} ${MANIFEST}`,
      `FenceFormerMember@master-1 fence ${RUN_ID}`,
      `FenceFormerMember@master-1 confirm ${RUN_ID} ${BYTES} ${SHA} ${MANIFEST}`,
    ]);
    expectSecretsOnlyOnStdin(w);
    expect(result.output.fenced).toEqual([
      {
        host: 'master-0',
        how: ['network', 'on-host'],
        previous: { groups: { 'eni-master-0': ['sg-0000000a'] } },
        backupKey: `runs/${RUN_ID}/fence-master-0.example.test.tgz`,
        backupBytes: BYTES,
        backupSha256: SHA,
      },
      {
        host: 'master-1',
        how: ['network', 'on-host'],
        previous: { groups: { 'eni-master-1': ['sg-0000000a', 'sg-0000000b'] } },
        backupKey: `runs/${RUN_ID}/fence-master-1.example.test.tgz`,
        backupBytes: BYTES,
        backupSha256: SHA,
      },
    ]);
    expect(w.logs).toContain('master-1: fenced on the network; the security groups to put back: {"eni-master-1":["sg-0000000a","sg-0000000b"]}');
    expect(result.detail).toBe(
      `master-0: fenced on the network, its groups kept to put back; etcd stopped, data backed up (${BYTES} bytes); master-1: fenced on the network, its groups kept to put back; etcd stopped, data backed up (${BYTES} bytes)`,
    );
    expect(result.skipped).toBeUndefined();
  });

  it('a rerun fences nothing again, uploads and confirms nothing, and keeps the groups the first run recorded', async () => {
    const w = world();
    const first = await FenceFormerMembers(restoreContext(), w.deps);
    const calls = w.groups.calls.length;
    const sent = w.runner.requests.length;
    const second = await FenceFormerMembers(after(restoreContext(), first), w.deps);
    expect(w.groups.calls.slice(calls)).toEqual(['describeFence master-0', 'describeFence master-1']);
    expect(w.runner.sent().slice(sent)).toEqual([`FenceFormerMember@master-0 fence ${RUN_ID}`, `FenceFormerMember@master-1 fence ${RUN_ID}`]);
    expect(second.output.fenced?.map((f) => [f.host, f.how, f.networkAlready, f.previous, f.backupBytes])).toEqual([
      ['master-0', ['network', 'on-host'], true, { groups: { 'eni-master-0': ['sg-0000000a'] } }, BYTES],
      ['master-1', ['network', 'on-host'], true, { groups: { 'eni-master-1': ['sg-0000000a', 'sg-0000000b'] } }, BYTES],
    ]);
    // The model's measure of the fences is derived from the step's record, not kept beside it.
    expect(second.output.fenced?.map(hostFenced)).toEqual([
      { host: 'master-0', how: ['network', 'on-host'] },
      { host: 'master-1', how: ['network', 'on-host'] },
    ]);
    expect(second.skipped).toBe(true);
  });

  it('a fence found in place with no record of what it replaced says so, and leaves it for the operator', async () => {
    const w = world();
    await w.groups.fence(unitInventory().hosts[0]!);
    const result = await FenceFormerMembers(restoreContext(), w.deps);
    expect(result.output.fenced?.[0]).toMatchObject({ host: 'master-0', how: ['network', 'on-host'], networkAlready: true, previousUnknown: true });
    expect(result.output.fenced?.[0]).not.toHaveProperty('previous');
    expect(result.output.remaining).toEqual([
      "master-0: the security groups it had before the network fence are not in the run record; the step's log names them",
    ]);
  });

  it('an unreachable host keeps the network fence alone; with fenceUnreachable: stop-instance it is powered off too', async () => {
    const w = world();
    w.runner.on('FenceFormerMember', new HostUnreachableError('master-1 is powered off'), { host: 'master-1' });
    const result = await FenceFormerMembers(restoreContext(), w.deps);
    expect(result.output.fenced?.[1]).toEqual({
      host: 'master-1',
      how: ['network'],
      previous: { groups: { 'eni-master-1': ['sg-0000000a', 'sg-0000000b'] } },
      notOnHost: 'unreachable',
      notOnHostReason: 'master-1 is powered off',
    });
    expect(w.groups.stopped.size).toBe(0);
    const stopping = await FenceFormerMembers(after(restoreContext({}, { fenceUnreachable: 'stop-instance' }), result), w.deps);
    expect(stopping.output.fenced?.[1]).toMatchObject({ how: ['network', 'stopped-instance'], notOnHost: 'unreachable' });
    expect(stopping.output.fenced?.[1]).not.toHaveProperty('stoppedAlready');
    expect([...w.groups.stopped]).toEqual(['master-1']);
    expect(stopping.detail).toContain('master-1: already fenced on the network, its groups kept to put back; unreachable on the host, powered off');
    const again = await FenceFormerMembers(after(restoreContext({}, { fenceUnreachable: 'stop-instance' }), stopping), w.deps);
    expect(again.output.fenced?.[1]).toMatchObject({ how: ['network', 'stopped-instance'], stoppedAlready: true });
    expect(again.detail).toContain('master-1: already fenced on the network, its groups kept to put back; unreachable on the host, powered off already');
    expect(hostFenced(again.output.fenced![1]!)).toEqual({ host: 'master-1', how: ['network', 'stopped-instance'] });
  });

  it('a snapshot restore fences every former member', async () => {
    const w = world();
    formerHost(w, 'master-2');
    const snapshot = {
      kind: 'snapshot',
      key: 'runs/r-2/s.db',
      runId: 'r-2',
      at: '2025-12-20T00:00:00Z',
      revision: 1150,
      bytes: 1,
      sha256: SHA,
      location: 's3://x',
      chosenBy: 'newest',
    } as const;
    const result = await FenceFormerMembers(restoreContext({ survivor: snapshot }), w.deps);
    expect(result.output.fenced?.map((f) => f.host)).toEqual(['master-0', 'master-1', 'master-2']);
  });

  it('refused on the host (its etcd serves a working cluster): the step stops, the network fences stay', async () => {
    const w = world();
    w.runner.exits('FenceFormerMember', 3, 'refusing: this host’s etcd answers with leader 00000000000000a1', { host: 'master-1', args: ['fence'] });
    const error = await failure(FenceFormerMembers(restoreContext(), w.deps));
    expect(error).toMatchObject({ name: 'RefusedError', exitCode: 3 });
    expect([...w.groups.fenced].sort()).toEqual(['master-0', 'master-1']);
    expect(w.runner.sent('FenceFormerMember')).not.toContain(`FenceFormerMember@master-1 confirm ${RUN_ID} ${BYTES} ${SHA} ${MANIFEST}`);
  });

  it('an upload the store does not hold whole is not confirmed', async () => {
    const w = world();
    w.runner.on(
      'FenceFormerMember',
      { stdout: { stopped: true, kind: 'pod', backup: { marked: false, empty: false, bytes: BYTES, sha256: SHA, manifest: MANIFEST } } },
      { host: 'master-0', args: ['fence'] },
    );
    const error = await failure(FenceFormerMembers(restoreContext(), w.deps));
    expect(error.name).toBe('ArtifactStoreError');
    expect(w.runner.sent()).toEqual([`FenceFormerMember@master-0 fence ${RUN_ID}`]);
  });

  it('a data directory that cannot leave the host (exit 5): etcd stopped, fenced on the network, said in remaining', async () => {
    const w = world();
    w.runner.exits('FenceFormerMember', 5, 'curl: (7) Failed to connect', { host: 'master-0', args: ['fence'] });
    const result = await FenceFormerMembers(restoreContext(), w.deps);
    expect(result.output.fenced?.[0]).toMatchObject({
      host: 'master-0',
      how: ['network'],
      notOnHost: 'not-backed-up',
      notOnHostReason: 'the host could not upload its data to the artifact store',
    });
    expect(JSON.stringify(result.output)).not.toContain('curl');
    expect(result.output.remaining?.[0]).toMatch(/^master-0: etcd is stopped but \/var\/lib\/etcd was not backed up/);
  });

  it('a fence that does not hold after it was set is refused before anything on the host', async () => {
    const w = world();
    w.groups.describeFence = async () => ({ fenced: false, reason: 'not in the quarantine group alone: eni-master-0' });
    const error = await failure(FenceFormerMembers(restoreContext(), w.deps));
    expect(error.name).toBe('RefusedError');
    expect(error.message).toBe(
      'master-0: the network fence does not hold after it was set (not in the quarantine group alone: eni-master-0); the cluster is not forced',
    );
    expect(w.runner.requests).toEqual([]);
  });
});
