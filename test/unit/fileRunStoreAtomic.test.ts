// The run record is written atomically: a save that fails, or a writer killed, between writing the
// new record and renaming it into place leaves the old record whole (and readable), never half of one.

import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { FileRunStore } from '../../sandbox/adapters/fileRunStore.ts';
import type { RunRecord } from '../../functions/ports.ts';

const failRename = vi.hoisted(() => ({ on: false }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...actual,
    rename: async (from: string, to: string) => {
      if (failRename.on) throw Object.assign(new Error('EIO: i/o error, rename'), { code: 'EIO' });
      return actual.rename(from, to);
    },
  };
});

const STORE_MODULE = fileURLToPath(new URL('../../sandbox/adapters/fileRunStore.ts', import.meta.url));

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runstore-atomic-'));
  failRename.on = false;
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function record(seq: number, blob = ''): RunRecord {
  return {
    runId: 'run-000001',
    cluster: 'prod-a',
    target: 'sandbox',
    startedBy: 'alice',
    request: { failed: 'master-2' },
    outcome: 'running',
    startedAt: '2030-01-01T00:00:00.000Z',
    state: 'AddMember',
    context: { seq, blob },
    steps: [],
  };
}

describe('Class: FileRunStore, atomic save', () => {
  it('keeps the old record whole when the save fails between the write and the rename', async () => {
    const store = new FileRunStore(dir);
    await store.save(record(1));
    failRename.on = true;
    await expect(store.save(record(2, 'y'.repeat(100_000)))).rejects.toThrow(/EIO/);
    failRename.on = false;
    expect(await store.get('run-000001')).toEqual(record(1));
    expect(await readdir(dir)).toEqual(['run-000001.json']); // the temp file is gone
    expect(await store.scan()).toEqual({ records: [record(1)], unreadable: [] });
  });

  it('leaves a whole record, the last saved or a later one, when the writer is killed mid-save', async () => {
    // A child saves ever larger records in a loop and says after each which one it saved; it is killed
    // (SIGKILL) a moment after a save, at a different point of the next save each round.
    const script = `
      import { FileRunStore } from ${JSON.stringify(STORE_MODULE)};
      const store = new FileRunStore(${JSON.stringify(dir)});
      for (let seq = 1; ; seq++) {
        await store.save({ runId: 'run-000001', cluster: 'prod-a', target: 'sandbox', startedBy: 'alice',
          request: { failed: 'master-2' }, outcome: 'running', startedAt: '2030-01-01T00:00:00.000Z',
          state: 'AddMember', context: { seq, blob: String(seq % 10).repeat(2_000_000) }, steps: [] });
        process.stdout.write('saved ' + seq + '\\n');
      }`;
    for (const delayMs of [0, 3, 7, 15, 30]) {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let lastSaved = 0;
      await new Promise<void>((resolve, reject) => {
        child.on('error', reject);
        child.on('exit', () => resolve());
        child.stdout.on('data', (chunk: Buffer) => {
          const seqs = [...String(chunk).matchAll(/saved (\d+)/g)].map((m) => Number(m[1]));
          if (seqs.length === 0) return;
          const first = lastSaved === 0;
          lastSaved = Math.max(lastSaved, ...seqs);
          if (first) setTimeout(() => child.kill('SIGKILL'), delayMs);
        });
      });
      expect(child.signalCode).toBe('SIGKILL');
      const text = await readFile(join(dir, 'run-000001.json'), 'utf8');
      const saved = JSON.parse(text) as RunRecord; // whole: it parses
      const seq = Number(saved.context['seq']);
      expect(seq).toBeGreaterThanOrEqual(lastSaved);
      expect(saved.context['blob']).toBe(String(seq % 10).repeat(2_000_000));
      // What a kill leaves besides the record is a temp file, which no reader takes for a record.
      const scan = await new FileRunStore(dir).scan();
      expect(scan.unreadable).toEqual([]);
      expect(scan.records.map((r) => r.context['seq'])).toEqual([seq]);
    }
  });
});
