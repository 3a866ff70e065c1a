// Durable run record for the sandbox: one JSON file per run under a directory, written atomically
// (temp file in the same directory, fsync, rename, fsync of the directory), so a reader or a runner
// killed mid-write never sees half a record.
//
// A record that cannot be read (truncated by a crash of an older writer, edited by hand, a disk
// error) is reported with its file, its run ID and what to do; it never hides or blocks the runs of
// another cluster. Its cluster is read from what can be read of it (the top-level "cluster" field
// before the damage); a record whose cluster cannot be known is reported to every cluster and blocks
// none. `scan()` returns both; `list()` (the RunStore port) fails only for an unreadable record of the
// cluster asked for.

import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';

import { errorMessage, InvalidInputError, RefusedError } from '../../functions/errors.ts';
import type { RunRecord, RunStore } from '../../functions/ports.ts';
import { clusterName, positiveInt, runId as validRunId } from '../../functions/validate.ts';

export const DEFAULT_RUN_DIR = '/var/lib/etcd-replace/runs';
/** Environment variable naming another run record directory (an absolute path), e.g. for a rehearsal. */
export const RUN_DIR_ENV = 'ETCD_REPLACE_RUN_DIR';

const RECORD_FILE = /^([a-z0-9][a-z0-9-]{5,79})\.json$/;

/** The run record directory: $ETCD_REPLACE_RUN_DIR when set (an absolute path), else DEFAULT_RUN_DIR. */
export function runDirFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const value = env[RUN_DIR_ENV];
  if (value === undefined || value === '') return DEFAULT_RUN_DIR;
  if (!isAbsolute(value) || /[\u0000-\u001f]/.test(value)) throw new InvalidInputError(RUN_DIR_ENV, 'must be an absolute path');
  return value;
}

/** A record file that is not a readable run record. */
export interface UnreadableRunRecord {
  /** From the file name. */
  runId: string;
  path: string;
  /** Why it cannot be read, e.g. `Unterminated string in JSON at position 4311`. */
  error: string;
  /** The cluster the record names, when what can be read of it says; absent when it cannot be known. */
  cluster?: string;
}

/** What to do about an unreadable record, naming its exact file. */
export function unreadableAction(record: UnreadableRunRecord): string {
  const cluster = record.cluster ?? 'the cluster it was run on';
  return (
    `run ${record.runId} may have stopped partway through changing ${cluster}: check ${cluster} by hand ` +
    `(etcd-replace sandbox status${record.cluster ? ` --sandbox ${record.cluster}` : ''}; its members, their health, and what the replacement host runs), ` +
    `finish or undo what that run left, then move the record aside: mv ${record.path} ${record.path}.unreadable`
  );
}

/** An unreadable record of the cluster a run or a query is for: refused (exit 3) until it is dealt with. */
export class UnreadableRunRecordError extends RefusedError {
  override readonly name: string = 'UnreadableRunRecordError';
  constructor(readonly records: readonly UnreadableRunRecord[]) {
    super(
      records
        .map((r) => `run record ${r.path} (run ${r.runId}${r.cluster ? ` on ${r.cluster}` : ''}) cannot be read: ${r.error}\n  ${unreadableAction(r)}`)
        .join('\n'),
    );
  }
}

export interface RunScan {
  /** Readable records, newest first, up to the limit. */
  records: RunRecord[];
  /** Unreadable records of the cluster asked for, and those whose cluster cannot be known, by run ID. */
  unreadable: UnreadableRunRecord[];
}

function isErrno(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}

export class FileRunStore implements RunStore {
  readonly dir: string;

  constructor(dir?: string) {
    this.dir = dir ?? runDirFromEnv();
  }

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

  /** The run's record, null when there is none; throws UnreadableRunRecordError when it cannot be read. */
  async get(runId: string): Promise<RunRecord | null> {
    const id = validRunId('runId', runId);
    const read = await this.read(id);
    if (read === null || 'record' in read) return read?.record ?? null;
    throw new UnreadableRunRecordError([read.unreadable]);
  }

  /**
   * Newest first. An unreadable record of the cluster asked for (or of any cluster, when none is asked
   * for) throws UnreadableRunRecordError; one of another cluster, or whose cluster cannot be known, is
   * skipped (scan() reports it).
   */
  async list(options: { cluster?: string; limit?: number } = {}): Promise<RunRecord[]> {
    const { records, unreadable } = await this.scan(options);
    const blocking = unreadable.filter((u) => options.cluster === undefined || u.cluster === options.cluster);
    if (blocking.length > 0) throw new UnreadableRunRecordError(blocking);
    return records;
  }

  /** The readable records (newest first, up to the limit) and the unreadable ones the query may cover. */
  async scan(options: { cluster?: string; limit?: number } = {}): Promise<RunScan> {
    const cluster = options.cluster === undefined ? undefined : clusterName('cluster', options.cluster);
    const limit = options.limit === undefined ? undefined : positiveInt('limit', options.limit);
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return { records: [], unreadable: [] };
      throw error;
    }
    const records: RunRecord[] = [];
    const unreadable: UnreadableRunRecord[] = [];
    for (const name of names.sort()) {
      const id = RECORD_FILE.exec(name)?.[1];
      if (id === undefined) continue; // temp files, records moved aside, anything else
      const read = await this.read(id);
      if (read === null) continue;
      if ('record' in read) {
        if (cluster === undefined || read.record.cluster === cluster) records.push(read.record);
      } else if (cluster === undefined || read.unreadable.cluster === undefined || read.unreadable.cluster === cluster) {
        unreadable.push(read.unreadable);
      }
    }
    records.sort((a, b) => newestFirst(a, b));
    return { records: limit === undefined ? records : records.slice(0, limit), unreadable };
  }

  private path(runId: string): string {
    return join(this.dir, `${runId}.json`);
  }

  /** The record, or why it cannot be read; null when the file does not exist (or went between readdir and read). */
  private async read(runId: string): Promise<{ record: RunRecord } | { unreadable: UnreadableRunRecord } | null> {
    const path = this.path(runId);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return null;
      return { unreadable: { runId, path, error: errorMessage(error) } };
    }
    let problem: string | undefined;
    try {
      const value: unknown = JSON.parse(text);
      problem = notARunRecord(value, runId);
      if (problem === undefined) return { record: value as RunRecord };
    } catch (error) {
      problem = text.trim() === '' ? 'the file is empty' : errorMessage(error);
    }
    const cluster = clusterOf(text);
    return { unreadable: { runId, path, error: problem, ...(cluster ? { cluster } : {}) } };
  }
}

/** Why a parsed value is not the record of run `runId`, or undefined when it is one. */
function notARunRecord(value: unknown, runId: string): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a run record: not a JSON object';
  const record = value as Record<string, unknown>;
  if (record['runId'] !== runId) return `not the record of run ${runId}: its runId is ${JSON.stringify(record['runId'])}`;
  for (const field of ['cluster', 'target', 'startedBy', 'outcome', 'startedAt', 'state'] as const) {
    if (typeof record[field] !== 'string') return `not a run record: ${field} is not a string`;
  }
  if (typeof record['request'] !== 'object' || record['request'] === null) return 'not a run record: request is not an object';
  if (typeof record['context'] !== 'object' || record['context'] === null) return 'not a run record: context is not an object';
  if (!Array.isArray(record['steps'])) return 'not a run record: steps is not a list';
  return undefined;
}

/**
 * The top-level "cluster" of a record that does not parse, from the text before the damage: a
 * scan of the JSON text that follows nesting and strings and stops where they break. Undefined when
 * that part holds no valid cluster name.
 */
export function clusterOf(text: string): string | undefined {
  let i = 0;
  while (/\s/.test(text[i] ?? '')) i++;
  if (text[i] !== '{') return undefined;
  let depth = 0;
  let key: string | undefined;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      const end = stringEnd(text, i);
      if (end < 0) return undefined;
      let value: unknown;
      try {
        value = JSON.parse(text.slice(i, end + 1));
      } catch {
        return undefined;
      }
      i = end + 1;
      if (depth === 1 && key === undefined) {
        while (/\s/.test(text[i] ?? '')) i++;
        if (text[i] !== ':') return undefined;
        key = String(value);
        i++;
        continue;
      }
      if (depth === 1 && key === 'cluster') {
        try {
          return clusterName('cluster', value);
        } catch {
          return undefined;
        }
      }
      continue;
    }
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    else if (c === ',' && depth === 1) key = undefined;
    else if (c === ':' && depth === 1 && key === undefined) return undefined;
    i++;
  }
  return undefined;
}

/** Index of the quote that closes the string opening at `start`, or -1 when it is not closed. */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i;
  }
  return -1;
}

function newestFirst(a: RunRecord, b: RunRecord): number {
  const byStart = Date.parse(b.startedAt) - Date.parse(a.startedAt);
  if (byStart !== 0 && !Number.isNaN(byStart)) return byStart;
  return a.runId < b.runId ? 1 : a.runId > b.runId ? -1 : 0;
}
