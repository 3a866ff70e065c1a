import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { clusterOf, DEFAULT_RUN_DIR, FileRunStore, runDirFromEnv, UnreadableRunRecordError } from '../../sandbox/adapters/fileRunStore.ts';
import { InvalidInputError, RefusedError } from '../../functions/errors.ts';
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
      const big = (n: number) => run('run-000001', 'prod-a', '2030-01-01T00:00:00.000Z', { context: { blob: String(n).repeat(200_000) } });
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

  describe('Records that cannot be read', () => {
    /** Saves a record, then cuts its file to `keep` characters, as a writer killed mid-write would leave it. */
    async function saveTruncated(store: FileRunStore, runId: string, cluster: string, keep: (text: string) => number): Promise<string> {
      await store.save(run(runId, cluster, '2030-01-05T00:00:00.000Z', { context: { blob: 'x'.repeat(5000) } }));
      const path = join(store.dir, `${runId}.json`);
      await truncate(path, keep(await readFile(path, 'utf8')));
      return path;
    }

    it('reports a truncated record with its file, run ID, cluster and what to do, and refuses it for its own cluster', async () => {
      const store = new FileRunStore(dir);
      await store.save(run('run-000001', 'prod-a', '2030-01-01T00:00:00.000Z'));
      const path = await saveTruncated(store, 'run-000002', 'prod-a', () => 4311);

      const error = await store.get('run-000002').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(UnreadableRunRecordError);
      expect(error).toBeInstanceOf(RefusedError);
      expect((error as UnreadableRunRecordError).exitCode).toBe(3);
      const message = (error as Error).message;
      expect(message).toContain(`run record ${path} (run run-000002 on prod-a) cannot be read: `);
      expect(message).toMatch(/Unterminated string in JSON at position 43\d\d/);
      expect(message).toContain(`mv ${path} ${path}.unreadable`);
      expect(message).toContain('check prod-a by hand');

      await expect(store.list({ cluster: 'prod-a' })).rejects.toThrow(UnreadableRunRecordError);
      await expect(store.list()).rejects.toThrow(UnreadableRunRecordError);
      const scan = await store.scan({ cluster: 'prod-a' });
      expect(scan.records.map((r) => r.runId)).toEqual(['run-000001']);
      expect(scan.unreadable).toEqual([{ runId: 'run-000002', path, cluster: 'prod-a', error: expect.stringMatching(/^Unterminated string in JSON/) }]);
      // The readable record is still read whole.
      expect((await store.get('run-000001'))?.cluster).toBe('prod-a');
    });

    it("never lets another cluster's damaged record block or show in this cluster's listing", async () => {
      const store = new FileRunStore(dir);
      await store.save(run('run-000001', 'prod-b', '2030-01-01T00:00:00.000Z'));
      await saveTruncated(store, 'run-000002', 'prod-a', (text) => text.indexOf('"blob"') + 20);
      expect((await store.list({ cluster: 'prod-b' })).map((r) => r.runId)).toEqual(['run-000001']);
      expect(await store.scan({ cluster: 'prod-b' })).toEqual({ records: [expect.objectContaining({ runId: 'run-000001' })], unreadable: [] });
      expect((await store.scan()).unreadable.map((u) => [u.runId, u.cluster])).toEqual([['run-000002', 'prod-a']]);
    });

    it('reports a record whose cluster cannot be known to every cluster and blocks none', async () => {
      const store = new FileRunStore(dir);
      await store.save(run('run-000001', 'prod-b', '2030-01-01T00:00:00.000Z'));
      const cut = await saveTruncated(store, 'run-000002', 'prod-a', (text) => text.indexOf('"cluster"') + 14); // inside the cluster's value
      await writeFile(join(dir, 'run-000003.json'), '');
      await writeFile(join(dir, 'run-000004.json'), '[1, 2]');
      await writeFile(join(dir, 'run-000005.json'), JSON.stringify(run('run-000099', 'prod-d', '2030-01-01T00:00:00.000Z')));
      await writeFile(join(dir, 'run-000006.json'), JSON.stringify({ ...run('run-000006', 'prod-d', '2030-01-01T00:00:00.000Z'), steps: 'none' }));

      expect((await store.list({ cluster: 'prod-b' })).map((r) => r.runId)).toEqual(['run-000001']);
      expect((await store.scan({ cluster: 'prod-b' })).unreadable.map((u) => u.runId)).toEqual(['run-000002', 'run-000003', 'run-000004']);
      const scan = await store.scan();
      expect(scan.unreadable).toEqual([
        { runId: 'run-000002', path: cut, error: expect.stringMatching(/JSON/) },
        { runId: 'run-000003', path: join(dir, 'run-000003.json'), error: 'the file is empty' },
        { runId: 'run-000004', path: join(dir, 'run-000004.json'), error: 'not a run record: not a JSON object' },
        { runId: 'run-000005', path: join(dir, 'run-000005.json'), error: 'not the record of run run-000005: its runId is "run-000099"', cluster: 'prod-d' },
        { runId: 'run-000006', path: join(dir, 'run-000006.json'), error: 'not a run record: steps is not a list', cluster: 'prod-d' },
      ]);
      // Records of a known cluster block that cluster only.
      await expect(store.list({ cluster: 'prod-d' })).rejects.toThrow(/run-000005\.json .*\n.*run-000006\.json/);
      await expect(store.get('run-000003')).rejects.toThrow(
        /run record .*run-000003\.json \(run run-000003\) cannot be read: the file is empty\n  .*check the cluster it was run on by hand/,
      );
    });

    it('ignores records moved aside', async () => {
      const store = new FileRunStore(dir);
      await writeFile(join(dir, 'run-000002.json.unreadable'), '{"runId": "run-0');
      expect(await store.scan()).toEqual({ records: [], unreadable: [] });
    });
  });

  describe('Function: clusterOf', () => {
    it('reads the top-level cluster before the damage, never a nested one', () => {
      expect(clusterOf('{\n  "runId": "r-1",\n  "cluster": "lab",\n  "target": "sand')).toBe('lab');
      expect(clusterOf('{"runId":"r-\\"1","cluster" : "lab-2","context":{"x":')).toBe('lab-2');
      expect(clusterOf('{"request":{"cluster":"inner"},"steps":["cluster","x"],"cluster":"outer","x":"')).toBe('outer');
      expect(clusterOf('{"request":{"cluster":"inner"},"steps":[')).toBeUndefined();
      expect(clusterOf('{"runId": "r-1", "clus')).toBeUndefined();
      expect(clusterOf('{"cluster": "la')).toBeUndefined();
      expect(clusterOf('{"cluster": "../../etc"}')).toBeUndefined();
      expect(clusterOf('{"cluster": 7}')).toBeUndefined();
      expect(clusterOf('["cluster", "lab"]')).toBeUndefined();
      expect(clusterOf('')).toBeUndefined();
    });
  });

  describe('Function: runDirFromEnv', () => {
    it('is ETCD_REPLACE_RUN_DIR when set to an absolute path, else the default', () => {
      expect(runDirFromEnv({})).toBe(DEFAULT_RUN_DIR);
      expect(runDirFromEnv({ ETCD_REPLACE_RUN_DIR: '' })).toBe(DEFAULT_RUN_DIR);
      expect(runDirFromEnv({ ETCD_REPLACE_RUN_DIR: '/tmp/runs-x' })).toBe('/tmp/runs-x');
      expect(() => runDirFromEnv({ ETCD_REPLACE_RUN_DIR: 'runs' })).toThrow(/invalid ETCD_REPLACE_RUN_DIR: must be an absolute path/);
    });
  });
});
