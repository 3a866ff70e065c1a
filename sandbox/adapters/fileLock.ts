// One run per cluster at a time, for the sandbox: a JSON lock file per cluster under a directory.
//
// Atomicity comes from the file system alone:
// - a lock is created by writing a private temp file (fsync) and hard-linking it to `<cluster>.json`;
//   link(2) fails with EEXIST when the name exists, so of two racing acquirers exactly one wins;
// - every write of a lock gets a fresh random `token`;
// - a stale lock is taken over by first linking it to
//   `<cluster>.json.stale-<token>`: link(2) again lets exactly one contender claim that token. The winner
//   checks the claimed file still carries the token it judged stale (so a lock renewed or replaced in the
//   meantime is never replaced), then renames its own lock over `<cluster>.json` (the name never goes
//   missing, so no plain acquirer slips in). The new lock records what it took over (`takenOver`).
// - renew rewrites the holder's file through a temp file and rename(2).
//
// Stale means: for a lock that names a process on this machine, that the process is gone or a zombie
// (liveness decides: a live holder keeps its lock past expiresAt, a dead one loses it at once); for
// any other lock, that it expired. The run renews its lock as it goes (functions/workflow/lockRenewal.ts), so
// expiry matters only for a holder on another machine. A holder whose lock was taken over learns so
// at its next renew (LockLostError).

import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { access, link, mkdir, open, readdir, readFile, rename, rm, rmdir, unlink, writeFile } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';

import { LockHeldError, LockLostError } from '../../functions/errors.ts';
import type { JoinAnswer, JoinRequest, LastHolder, LockInfo, LockOwner, LockPort } from '../../functions/ports.ts';
import { clusterName, positiveInt, runId as validRunId } from '../../functions/validate.ts';

export const DEFAULT_LOCK_DIR = '/var/lib/etcd-replace/locks';

/** Why a lock was judged stale. */
export type StaleReason = 'expired' | 'holder process is dead';

/** The lock a takeover replaced. */
export interface TakenOverLock {
  runId: string;
  startedBy: string;
  pid?: number;
  host?: string;
  acquiredAt: string;
  expiresAt: string;
  reason: StaleReason;
  at: string;
}

/** What the lock file holds and current() returns. */
export interface FileLockInfo extends LockInfo {
  /** Start time of `pid` (clock ticks since boot, /proc/<pid>/stat), so a reused pid is not taken for the holder. */
  pidStartTime?: string;
  /** Set when this lock replaced a stale one. */
  takenOver?: TakenOverLock;
}

interface LockFile extends FileLockInfo {
  token: string;
}

export interface FileLockOptions {
  /** Clock, for tests. */
  now?: () => Date;
  /** This machine's name, recorded with a pid; liveness is judged only for locks taken on this machine. */
  hostname?: string;
  /** How many times acquire() retries after losing a race before giving up (each retry re-reads the lock). */
  maxAttempts?: number;
}

/** The fields of /proc/<pid>/stat after comm (field 2), or undefined when there is no such process or no /proc. */
async function statFields(pid: number): Promise<string[] | undefined> {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Process start time from /proc/<pid>/stat (field 22), or undefined when there is no such process or no /proc. */
export async function processStartTime(pid: number): Promise<string | undefined> {
  return (await statFields(pid))?.[19];
}

/**
 * Whether a process with that pid is alive on this machine: it exists (EPERM means it exists but is not
 * ours) and has not exited. A zombie (state Z in /proc/<pid>/stat, field 3) or a dying process (X) has
 * exited and only waits for its parent to reap it: it holds nothing. A pid that is no positive integer
 * names no process (kill(2) would read 0 and -1 as groups).
 */
export async function processExists(pid: number): Promise<boolean> {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const state = (await statFields(pid))?.[0];
  return state !== 'Z' && state !== 'X' && state !== 'x';
}

/** The marker of a holder that has closed joins (closeJoins). */
const CLOSED = '.closed';

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return false;
    throw error;
  }
}

function isErrno(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}

export class FileLock implements LockPort {
  private readonly now: () => Date;
  private readonly host: string;
  private readonly maxAttempts: number;

  constructor(
    readonly dir: string = DEFAULT_LOCK_DIR,
    options: FileLockOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.host = options.hostname ?? osHostname();
    this.maxAttempts = options.maxAttempts ?? 20;
  }

  async acquire(cluster: string, owner: LockOwner, ttlSeconds: number): Promise<FileLockInfo> {
    const name = clusterName('cluster', cluster);
    const runId = validRunId('runId', owner.runId);
    const ttl = positiveInt('ttlSeconds', ttlSeconds);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const pidStartTime = owner.pid !== undefined ? await processStartTime(owner.pid) : undefined;

    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      const current = await this.read(name);
      const now = this.now();
      const fresh = (acquiredAt: string, takenOver?: TakenOverLock): LockFile => ({
        cluster: name,
        runId,
        startedBy: owner.startedBy,
        ...(owner.pid !== undefined ? { pid: owner.pid } : {}),
        ...(owner.host !== undefined || owner.pid !== undefined ? { host: owner.host ?? this.host } : {}),
        ...(pidStartTime !== undefined ? { pidStartTime } : {}),
        ...(owner.covers !== undefined ? { covers: owner.covers } : {}),
        acquiredAt,
        expiresAt: new Date(now.getTime() + ttl * 1000).toISOString(),
        ...(takenOver ? { takenOver } : {}),
        token: randomBytes(16).toString('hex'),
      });

      if (current === null) {
        const lock = fresh(now.toISOString());
        if (await this.create(name, lock)) return publicInfo(lock);
        continue; // someone else created it first: look again
      }

      if (current.runId === runId && !(await this.heldByOtherLiveProcess(current, owner))) {
        // Re-entrant: the same run (perhaps resumed in a new process) extends its hold. The same run in
        // two live processes at once is refused below like any other holder.
        const lock = fresh(current.acquiredAt, current.takenOver);
        await this.replace(name, lock);
        return publicInfo(lock);
      }

      const reason = await this.staleReason(current, now);
      if (reason === null) throw heldError(current);

      const takenOver: TakenOverLock = {
        runId: current.runId,
        startedBy: current.startedBy,
        ...(current.pid !== undefined ? { pid: current.pid } : {}),
        ...(current.host !== undefined ? { host: current.host } : {}),
        acquiredAt: current.acquiredAt,
        expiresAt: current.expiresAt,
        reason,
        at: now.toISOString(),
      };
      const lock = fresh(now.toISOString(), takenOver);
      if (await this.replaceStale(name, current, lock)) {
        await this.dropJoins(name, current.runId); // what was left for the stale holder goes with it
        return publicInfo(lock);
      }
      // lost a race (another contender took it over or created it): look again
    }
    const holder = await this.read(name);
    if (holder) throw heldError(holder);
    throw new LockHeldError(`could not take the lock of cluster ${name}: too much contention`);
  }

  async renew(cluster: string, runId: string, ttlSeconds: number): Promise<void> {
    const name = clusterName('cluster', cluster);
    const id = validRunId('runId', runId);
    const ttl = positiveInt('ttlSeconds', ttlSeconds);
    const current = await this.read(name);
    if (current === null) throw new LockLostError(`run ${id} does not hold the lock of cluster ${name}: nobody holds it`);
    if (current.runId !== id) {
      throw new LockLostError(`run ${id} no longer holds the lock of cluster ${name}: ${describeHolder(current)}`);
    }
    await this.replace(name, {
      ...current,
      expiresAt: new Date(this.now().getTime() + ttl * 1000).toISOString(),
      token: randomBytes(16).toString('hex'),
    });
  }

  /**
   * Releases the lock of `runId` held by `owner` (default: this process). A no-op when another run holds
   * it, and when another live process of the same run holds it: a process that does not own the run
   * never releases its lock. The file is removed only if it still carries the token that was judged
   * (a claim link, as a takeover makes), so a lock renewed or taken in between is never removed.
   */
  async release(cluster: string, runId: string, owner?: LockOwner): Promise<void> {
    const name = clusterName('cluster', cluster);
    const id = validRunId('runId', runId);
    const current = await this.read(name);
    if (current === null || current.runId !== id) return; // not ours (any more): nothing to release
    if (await this.heldByOtherLiveProcess(current, owner ?? { runId: id, startedBy: current.startedBy, pid: process.pid })) return;
    const claim = join(this.dir, `${name}.json.stale-${current.token}`);
    try {
      await link(this.path(name), claim);
    } catch (error) {
      if (isErrno(error, 'EEXIST') || isErrno(error, 'ENOENT')) return; // being taken over, or gone
      throw error;
    }
    try {
      const claimed = await this.read(name, claim);
      if (claimed?.token !== current.token) return; // renewed or replaced since it was judged
      await unlink(this.path(name));
      await this.dropJoins(name, id);
    } catch (error) {
      if (!isErrno(error, 'ENOENT')) throw error;
    } finally {
      await unlink(claim).catch(() => undefined);
    }
  }

  async heldElsewhere(cluster: string, owner: LockOwner): Promise<FileLockInfo | null> {
    const current = await this.read(clusterName('cluster', cluster));
    if (current === null || current.runId !== owner.runId) return null;
    return (await this.heldByOtherLiveProcess(current, owner)) ? publicInfo(current) : null;
  }

  async current(cluster: string): Promise<FileLockInfo | null> {
    const name = clusterName('cluster', cluster);
    const lock = await this.read(name);
    if (!lock) return null;
    const joins = await this.joinsOf(name, lock.runId);
    return { ...publicInfo(lock), ...(joins.list.length > 0 ? { joins: joins.list } : {}), ...(joins.closed ? { joinsClosed: true } : {}) };
  }

  // Join requests: one file per waiting run under <cluster>.joins/<holder run>/, each written whole once
  // (temp file and rename); the holder's `.closed` marker is the cut. The holder writes the marker before
  // it lists the requests, and a waiting run writes its request before it looks for the marker, so a
  // request the holder did not list finds the marker: nothing is taken in without the holder seeing it.

  async requestJoin(cluster: string, holderRunId: string, request: JoinRequest): Promise<JoinAnswer> {
    const name = clusterName('cluster', cluster);
    const holder = validRunId('holderRunId', holderRunId);
    const waiting = validRunId('join.runId', request.runId);
    const current = await this.read(name);
    if (current === null || current.runId !== holder) return 'not-held';
    const dir = this.joinsDir(name, holder);
    if (await exists(join(dir, CLOSED))) return 'closed';
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, `${waiting}.json`);
    if (!(await exists(file))) {
      const tmp = join(dir, `.${waiting}.${process.pid}.${randomBytes(8).toString('hex')}.tmp`);
      await writeFile(tmp, `${JSON.stringify(request)}\n`, { mode: 0o600 });
      await rename(tmp, file);
    }
    return (await exists(join(dir, CLOSED))) ? 'closed' : 'requested';
  }

  async closeJoins(cluster: string, runId: string): Promise<JoinRequest[]> {
    const name = clusterName('cluster', cluster);
    const id = validRunId('runId', runId);
    await this.holderOrLost(name, id);
    const dir = this.joinsDir(name, id);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(join(dir, CLOSED), `${this.now().toISOString()}\n`, { mode: 0o600 });
    return (await this.joinsOf(name, id)).list;
  }

  private async holderOrLost(name: string, id: string): Promise<LockFile> {
    const current = await this.read(name);
    if (current === null) throw new LockLostError(`run ${id} does not hold the lock of cluster ${name}: nobody holds it`);
    if (current.runId !== id) throw new LockLostError(`run ${id} no longer holds the lock of cluster ${name}: ${describeHolder(current)}`);
    return current;
  }

  // The last holder: one file per cluster beside the lock (<cluster>.last.json), replaced whole.
  async recordLastHolder(cluster: string, last: LastHolder): Promise<void> {
    const name = clusterName('cluster', cluster);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = join(this.dir, `${name}.last.json`);
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, `${JSON.stringify({ ...last, runId: validRunId('runId', last.runId) }, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, file);
  }

  async lastHolder(cluster: string): Promise<LastHolder | null> {
    try {
      return JSON.parse(await readFile(join(this.dir, `${clusterName('cluster', cluster)}.last.json`), 'utf8')) as LastHolder;
    } catch (error) {
      if (isErrno(error, 'ENOENT') || error instanceof SyntaxError) return null;
      throw error;
    }
  }

  /** Forgets what the cluster left beside its lock (its last holder, join requests): the sandbox is gone. */
  async forget(cluster: string): Promise<void> {
    const name = clusterName('cluster', cluster);
    await rm(join(this.dir, `${name}.last.json`), { force: true });
    await rm(join(this.dir, `${name}.joins`), { recursive: true, force: true });
  }

  /** Removes the join requests left for `runId`, and the cluster's join folder once it is empty. */
  private async dropJoins(cluster: string, runId: string): Promise<void> {
    await rm(this.joinsDir(cluster, runId), { recursive: true, force: true });
    await rmdir(join(this.dir, `${cluster}.joins`)).catch((error: unknown) => {
      if (!isErrno(error, 'ENOENT') && !isErrno(error, 'ENOTEMPTY')) throw error;
    });
  }

  private joinsDir(cluster: string, runId: string): string {
    return join(this.dir, `${cluster}.joins`, runId);
  }

  private async joinsOf(cluster: string, runId: string): Promise<{ list: JoinRequest[]; closed: boolean }> {
    const dir = this.joinsDir(cluster, runId);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return { list: [], closed: false };
      throw error;
    }
    const list: JoinRequest[] = [];
    for (const file of names.filter((n) => n.endsWith('.json') && !n.startsWith('.'))) {
      try {
        list.push(JSON.parse(await readFile(join(dir, file), 'utf8')) as JoinRequest);
      } catch (error) {
        if (!isErrno(error, 'ENOENT')) throw error;
      }
    }
    list.sort((a, b) => a.at.localeCompare(b.at) || a.runId.localeCompare(b.runId));
    return { list, closed: names.includes(CLOSED) };
  }

  // -------------------------------------------------------------------------------------------

  private path(cluster: string): string {
    return join(this.dir, `${cluster}.json`);
  }

  private async read(cluster: string, path = this.path(cluster)): Promise<LockFile | null> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return null;
      throw error;
    }
    // Files are only ever created complete (link/rename of an fsynced temp file), so this parses.
    return JSON.parse(text) as LockFile;
  }

  /** Writes a private temp file beside the lock, fsynced; returns its path. */
  private async writeTemp(cluster: string, lock: LockFile): Promise<string> {
    const tmp = join(this.dir, `.${cluster}.json.${process.pid}.${randomBytes(8).toString('hex')}.tmp`);
    const handle = await open(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(lock, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return tmp;
  }

  /** Creates the lock file only if none exists. */
  private async create(cluster: string, lock: LockFile): Promise<boolean> {
    const tmp = await this.writeTemp(cluster, lock);
    try {
      await link(tmp, this.path(cluster));
      await this.syncDir();
      return true;
    } catch (error) {
      if (isErrno(error, 'EEXIST')) return false;
      throw error;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  /** Replaces the lock file's content atomically (the caller holds it). */
  private async replace(cluster: string, lock: LockFile): Promise<void> {
    const tmp = await this.writeTemp(cluster, lock);
    try {
      await rename(tmp, this.path(cluster));
    } catch (error) {
      await unlink(tmp).catch(() => undefined);
      throw error;
    }
    await this.syncDir();
  }

  /**
   * Replaces the stale lock `judged` with `lock` if this contender is the one to claim it; false when
   * another contender claimed it first or the lock changed since it was judged.
   */
  private async replaceStale(cluster: string, judged: LockFile, lock: LockFile): Promise<boolean> {
    const claim = join(this.dir, `${cluster}.json.stale-${judged.token}`);
    try {
      await link(this.path(cluster), claim);
    } catch (error) {
      if (isErrno(error, 'EEXIST') || isErrno(error, 'ENOENT')) return false;
      throw error;
    }
    try {
      const claimed = await this.read(cluster, claim);
      if (claimed?.token !== judged.token) return false; // the lock changed since it was judged
      // While the claim exists no other contender can claim this token, and the name is never absent.
      await this.replace(cluster, lock);
      return true;
    } finally {
      await unlink(claim).catch(() => undefined);
    }
  }

  /** The lock names a pid on this machine other than the owner's, and that process is alive. */
  private async heldByOtherLiveProcess(lock: LockFile, owner: LockOwner): Promise<boolean> {
    if (lock.pid === undefined || lock.pid === owner.pid) return false;
    if (lock.host !== undefined && lock.host !== this.host) return false;
    return (await this.staleReason(lock, this.now())) === null;
  }

  private async staleReason(lock: LockFile, now: Date): Promise<StaleReason | null> {
    if (lock.pid !== undefined && (lock.host === undefined || lock.host === this.host)) {
      // A process of this machine: its liveness decides, whatever the expiry says.
      if (!(await processExists(lock.pid))) return 'holder process is dead'; // gone, or a zombie
      if (lock.pidStartTime !== undefined) {
        const start = await processStartTime(lock.pid);
        if (start !== undefined && start !== lock.pidStartTime) return 'holder process is dead'; // pid reused
      }
      return null;
    }
    return Date.parse(lock.expiresAt) <= now.getTime() ? 'expired' : null;
  }

  private async syncDir(): Promise<void> {
    const handle = await open(this.dir, fsConstants.O_RDONLY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

function publicInfo(lock: LockFile): FileLockInfo {
  const { token: _token, ...info } = lock;
  return info;
}

function describeHolder(lock: LockFile): string {
  const pid = lock.pid !== undefined ? `, pid ${lock.pid}${lock.host ? ` on ${lock.host}` : ''}` : '';
  return `held by run ${lock.runId} (started by ${lock.startedBy}${pid}), acquired at ${lock.acquiredAt}, expires at ${lock.expiresAt}`;
}

function heldError(lock: LockFile): LockHeldError {
  return new LockHeldError(`cluster ${lock.cluster} is locked: ${describeHolder(lock)}`);
}
