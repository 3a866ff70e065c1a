// Durable run record for the sandbox: one JSON file per run under a directory, written atomically
// (temp file in the same directory, fsync, rename, fsync of the directory), so a reader or a runner
// killed mid-write never sees half a record.

import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';

import type { RunRecord, RunStore } from '../../ports.ts';
import { clusterName, positiveInt, runId as validRunId } from '../../validate.ts';

export const DEFAULT_RUN_DIR = '/var/lib/etcd-replace/runs';

const RECORD_FILE = /^([a-z0-9][a-z0-9-]{5,79})\.json$/;

function isErrno(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}

export class FileRunStore implements RunStore {
  constructor(readonly dir: string = DEFAULT_RUN_DIR) {}

  async save(record: RunRecord): Promise<void> {
    const id = validRunId('runId', record.runId);
    clusterName('cluster', record.cluster);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = join(this.dir, `.${id}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    const handle = await open(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
    try {
      try {
        await handle.writeFile(`${JSON.stringify(record, null, 2)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, this.path(id));
    } catch (error) {
      await unlink(tmp).catch(() => undefined);
      throw error;
    }
    const dirHandle = await open(this.dir, fsConstants.O_RDONLY);
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  }

  async get(runId: string): Promise<RunRecord | null> {
    return this.read(this.path(validRunId('runId', runId)));
  }

  async list(options: { cluster?: string; limit?: number } = {}): Promise<RunRecord[]> {
    const cluster = options.cluster === undefined ? undefined : clusterName('cluster', options.cluster);
    const limit = options.limit === undefined ? undefined : positiveInt('limit', options.limit);
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return [];
      throw error;
    }
    const records: RunRecord[] = [];
    for (const name of names) {
      if (!RECORD_FILE.test(name)) continue; // temp files and anything else
      const record = await this.read(join(this.dir, name));
      if (record && (cluster === undefined || record.cluster === cluster)) records.push(record);
    }
    records.sort((a, b) => newestFirst(a, b));
    return limit === undefined ? records : records.slice(0, limit);
  }

  private path(runId: string): string {
    return join(this.dir, `${runId}.json`);
  }

  private async read(path: string): Promise<RunRecord | null> {
    try {
      return JSON.parse(await readFile(path, 'utf8')) as RunRecord;
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return null; // deleted between readdir and read
      throw error;
    }
  }
}

function newestFirst(a: RunRecord, b: RunRecord): number {
  const byStart = Date.parse(b.startedAt) - Date.parse(a.startedAt);
  if (byStart !== 0 && !Number.isNaN(byStart)) return byStart;
  return a.runId < b.runId ? 1 : a.runId > b.runId ? -1 : 0;
}
