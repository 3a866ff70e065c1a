import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { FileRunStore } from '../../functions/adapters/sandbox/fileRunStore.ts';
import { InvalidInputError } from '../../functions/errors.ts';
import type { RunRecord } from '../../functions/ports.ts';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runstore-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function run(runId: string, cluster: string, startedAt: string, extra: Partial<RunRecord> = {}): RunRecord {
  return {
    runId,
    cluster,
    target: 'sandbox',
    startedBy: 'alice',
    request: { failed: 'master-2', replacement: 'etcd-spare-0' },
    outcome: 'running',
    startedAt,
    state: 'CheckClusterHealth',
    context: {},
    steps: [],
    ...extra,
  };
}

describe('Class: FileRunStore', () => {
  describe('Method: save', () => {
    it('writes one JSON file per run and reads it back unchanged', async () => {
      const store = new FileRunStore(join(dir, 'runs'));
      const record = run('run-000001', 'prod-a', '2030-01-01T00:00:00.000Z', {
        steps: [{ name: 'CheckClusterHealth', status: 'succeeded', startedAt: '2030-01-01T00:00:00.000Z', attempts: 1 }],
      });
      await store.save(record);
      expect(await readdir(join(dir, 'runs'))).toEqual(['run-000001.json']);
      expect(JSON.parse(await readFile(join(dir, 'runs', 'run-000001.json'), 'utf8'))).toEqual(record);
      expect(await store.get('run-000001')).toEqual(record);
    });

    it('replaces the record on every save, leaving no temp files behind', async () => {
      const store = new FileRunStore(dir);
      await store.save(run('run-000001', 'prod-a', '2030-01-01T00:00:00.000Z'));
      await store.save(run('run-000001', 'prod-a', '2030-01-01T00:00:00.000Z', { outcome: 'succeeded', state: 'Done' }));
      expect((await store.get('run-000001'))?.outcome).toBe('succeeded');
      expect(await readdir(dir)).toEqual(['run-000001.json']);
    });

    it('never lets a reader see a half-written record while saves race', async () => {
      const store = new FileRunStore(dir);
      const big = (n: number) =>
        run('run-000001', 'prod-a', '2030-01-01T00:00:00.000Z', { context: { blob: String(n).repeat(200_000) } });
      await store.save(big(0));
      const writes = Array.from({ length: 10 }, (_, i) => store.save(big(i + 1)));
      const reads = Array.from({ length: 30 }, () => store.get('run-000001'));
      const seen = await Promise.all(reads);
      await Promise.all(writes);
      for (const record of seen) {
        const blob = String(record?.context['blob']);
        expect(blob.length % 200_000).toBe(0);
        expect(new Set(blob).size).toBeLessThanOrEqual(2);
      }
      expect(await readdir(dir)).toEqual(['run-000001.json']);
    });

    it('refuses a run id that could escape the directory', async () => {
      const store = new FileRunStore(dir);
      await expect(store.save(run('../../etc/passwd', 'prod-a', '2030-01-01T00:00:00.000Z'))).rejects.toThrow(InvalidInputError);
      await expect(store.get('../x')).rejects.toThrow(InvalidInputError);
      expect(await readdir(dir)).toEqual([]);
    });
  });

  describe('Method: get', () => {
    it('returns null for a run it never saved', async () => {
      expect(await new FileRunStore(dir).get('run-999999')).toBeNull();
      expect(await new FileRunStore(join(dir, 'missing')).get('run-999999')).toBeNull();
    });
  });

  describe('Method: list', () => {
    it('lists newest first, filtered by cluster, up to the limit', async () => {
      const store = new FileRunStore(dir);
      await store.save(run('run-000001', 'prod-a', '2030-01-01T00:00:00.000Z'));
      await store.save(run('run-000003', 'prod-a', '2030-01-03T00:00:00.000Z'));
      await store.save(run('run-000002', 'prod-b', '2030-01-02T00:00:00.000Z'));
      await store.save(run('run-000004', 'prod-a', '2030-01-02T12:00:00.000Z'));
      await writeFile(join(dir, '.run-000005.123.abc.tmp'), '{"half":');
      expect((await store.list()).map((r) => r.runId)).toEqual(['run-000003', 'run-000004', 'run-000002', 'run-000001']);
      expect((await store.list({ cluster: 'prod-a' })).map((r) => r.runId)).toEqual(['run-000003', 'run-000004', 'run-000001']);
      expect((await store.list({ cluster: 'prod-a', limit: 2 })).map((r) => r.runId)).toEqual(['run-000003', 'run-000004']);
      expect(await store.list({ cluster: 'prod-c' })).toEqual([]);
    });

    it('returns an empty list when the directory does not exist yet', async () => {
      expect(await new FileRunStore(join(dir, 'nothing-here')).list()).toEqual([]);
    });
  });
});
