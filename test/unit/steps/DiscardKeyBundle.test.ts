// DiscardKeyBundle (functions/steps/DiscardKeyBundle.ts): whatever the outcome, the new member's key
// bundle leaves the artifact store, found by the key the context names or, after a crash, the key it is
// stored under. A deletion that fails, or that leaves the object there, is named in `remaining`: the step
// never fails over it. It sends no host script.

import { describe, expect, it } from 'vitest';
import { ArtifactStoreError } from '../../../functions/errors.ts';
import { DiscardKeyBundle } from '../../../functions/steps/DiscardKeyBundle.ts';
import { after, confirmedContext, RUN_ID, SPARE, stepWorld } from '../../support/stepHarness.ts';

const KEY = `runs/${RUN_ID}/bundle-${SPARE.hostname}.tgz`;

describe('Step: DiscardKeyBundle', () => {
  it('deletes the bundle the context names from the store', async () => {
    const world = stepWorld();
    world.artifacts.put(KEY, 8192);
    const result = await DiscardKeyBundle(confirmedContext({ bundleKey: KEY }), world.deps);
    expect(world.artifacts.calls).toEqual([`delete ${KEY}`]);
    expect(world.artifacts.objects.has(KEY)).toBe(false);
    expect(result).toEqual({ output: {}, detail: `deleted the key bundle of etcd-spare-0 (s3://unit-artifacts/${KEY}) from the artifact store` });
    expect(world.runner.requests).toEqual([]);
  });

  it('a second run finds no bundle: skipped, nothing deleted', async () => {
    const world = stepWorld();
    world.artifacts.put(KEY, 8192);
    const context = confirmedContext({ bundleKey: KEY });
    const first = await DiscardKeyBundle(context, world.deps);
    const second = await DiscardKeyBundle(after(context, first), world.deps);
    expect(second).toEqual({ output: {}, detail: 'no key bundle of etcd-spare-0 in the artifact store', skipped: true });
    expect(world.artifacts.calls).toEqual([`delete ${KEY}`]);
  });

  it('deletes the bundle under its key when the context does not name it (a crash after the upload)', async () => {
    const world = stepWorld();
    world.artifacts.put(KEY, 8192);
    await DiscardKeyBundle(confirmedContext(), world.deps);
    expect(world.artifacts.objects.has(KEY)).toBe(false);
  });

  it('no replacement chosen: skipped, the store untouched', async () => {
    const world = stepWorld();
    const { replacement: _, ...context } = confirmedContext();
    expect(await DiscardKeyBundle(context, world.deps)).toMatchObject({ output: {}, skipped: true });
    expect(world.artifacts.calls).toEqual([]);
  });

  it('a deletion that fails is named in remaining, after what was there before', async () => {
    const world = stepWorld();
    world.artifacts.put(KEY, 8192);
    world.artifacts.deleteError = new ArtifactStoreError('AccessDenied');
    const result = await DiscardKeyBundle(confirmedContext({ bundleKey: KEY, remaining: ['earlier'] }), world.deps);
    expect(result.output.remaining).toEqual([
      'earlier',
      `the key bundle ${KEY} of etcd-spare-0 (its private keys) may still be in the artifact store: delete it, and every version of it, by hand (AccessDenied)`,
    ]);
    expect(result.skipped).toBeUndefined();
  });

  it('a bundle still there after its deletion is named in remaining', async () => {
    const world = stepWorld();
    world.artifacts.put(KEY, 8192);
    world.artifacts.deleteIgnored = true;
    const result = await DiscardKeyBundle(confirmedContext({ bundleKey: KEY }), world.deps);
    expect(result.output.remaining).toEqual([expect.stringMatching(new RegExp(`s3://unit-artifacts/${KEY} is still there after its deletion`))]);
  });
});
