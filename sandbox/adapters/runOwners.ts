// A run has one owner at a time: on the sandbox, the process (pid and its start time) that runs it.
// The owner's claim is a lock file per run beside the cluster locks (`<locks>/runs/run-<runId>.json`),
// with FileLock's atomicity and liveness: a claim by a live process is refused to every other process
// (RunInProgressError, naming the owner and how to stop it); a claim whose process is gone, or a zombie,
// or whose pid now names another process, is taken over. The claim lives from the first record of a run
// (or a resume's takeover) until the process that owns the run has written its last record.

import { createHash } from 'node:crypto';
import { join } from 'node:path';

import { LockHeldError, LockLostError, RefusedError } from '../../functions/errors.ts';
import type { RunOwner } from '../../functions/ports.ts';
import { DEFAULT_LOCK_DIR, FileLock, processStartTime, type FileLockInfo, type FileLockOptions } from './fileLock.ts';

export const DEFAULT_RUN_OWNER_DIR = join(DEFAULT_LOCK_DIR, 'runs');

/**
 * A command met a run another live process (or execution) owns: it changed nothing and records nothing
 * (CLI exit 3). Never raised inside the workflow, so no state routes on it (a step that finds its run
 * owned elsewhere raises LockLostError, which the workflow routes to Refused).
 */
export class RunInProgressError extends RefusedError {
  override readonly name: string = 'RunInProgressError';
}

/** Owners' claims never expire by time: the owner's liveness alone decides (a claim names a local pid). */
const CLAIM_TTL_SECONDS = 365 * 24 * 3600;

/** What a claim found before it: the owner it took the run over from. */
export interface TakenOverOwner {
  pid?: number;
  host?: string;
  since: string;
}

export interface OwnerClaim {
  owner: RunOwner;
  /** Set when the run had an owner whose process is gone: this claim took it over. */
  takenOver?: TakenOverOwner;
}

/** The refusal of a process that does not own a live run: what runs it, since when, and a safe way to stop it. */
export function runInProgress(runId: string, owner: { pid?: number; host?: string; execution?: string }, since: string, command?: string): RunInProgressError {
  const who = owner.pid !== undefined ? `pid ${owner.pid}${owner.host ? ` on ${owner.host}` : ''}` : `execution ${owner.execution ?? 'unknown'}`;
  const stop =
    owner.pid !== undefined
      ? `stop it with \`kill ${owner.pid}\` (it stops where it is and keeps its record), after which ${command ?? 'the same command'} takes it over`
      : 'stop that execution first';
  return new RunInProgressError(`run ${runId} is in progress in ${who} since ${since}; wait for it, or ${stop}; nothing was changed`);
}

export class FileRunOwners {
  private readonly claims: FileLock;

  constructor(
    readonly dir: string = DEFAULT_RUN_OWNER_DIR,
    options: FileLockOptions = {},
  ) {
    this.claims = new FileLock(dir, options);
  }

  /**
   * Claims `runId` for the process `pid` (default: this one). RunInProgressError when another live
   * process owns it; a dead owner's claim is taken over and named in `takenOver`.
   */
  async claim(runId: string, startedBy: string, pid: number = process.pid, command?: string): Promise<OwnerClaim> {
    const key = claimKey(runId);
    const before = await this.claims.current(key);
    let info: FileLockInfo;
    try {
      info = await this.claims.acquire(key, { runId, startedBy, pid }, CLAIM_TTL_SECONDS);
    } catch (error) {
      if (!(error instanceof LockHeldError)) throw error;
      const holder = await this.claims.current(key);
      throw runInProgress(runId, holder ?? {}, holder?.acquiredAt ?? 'unknown', command);
    }
    const since = new Date().toISOString();
    const owner: RunOwner = { pid, ...(info.pidStartTime ? { pidStartTime: info.pidStartTime } : {}), ...(info.host ? { host: info.host } : {}), since };
    const takenOver =
      before && before.runId === runId && before.pid !== pid
        ? { ...(before.pid !== undefined ? { pid: before.pid } : {}), ...(before.host ? { host: before.host } : {}), since: before.acquiredAt }
        : undefined;
    return { owner, ...(takenOver ? { takenOver } : {}) };
  }

  /** The live owner of `runId` other than `pid`, or null (no claim, a dead owner, or `pid` itself). */
  async liveOtherOwner(runId: string, pid: number = process.pid): Promise<FileLockInfo | null> {
    return this.claims.heldElsewhere(claimKey(runId), { runId, startedBy: 'owner-check', pid });
  }

  /** Proves `pid` (default: this process) owns `runId`; LockLostError naming the owner otherwise. */
  async prove(runId: string, pid: number = process.pid): Promise<void> {
    const current = await this.claims.current(claimKey(runId));
    const start = await processStartTime(pid);
    if (current?.runId === runId && current.pid === pid && (current.pidStartTime === undefined || current.pidStartTime === start)) return;
    const who = current ? `pid ${current.pid ?? 'unknown'} since ${current.acquiredAt}` : 'no process';
    throw new LockLostError(`process ${pid} does not own run ${runId} (${who} owns it): it changes and records nothing`);
  }

  /** Gives up the claim of `pid` (default: this process); a no-op when another process owns the run. */
  async release(runId: string, pid: number = process.pid): Promise<void> {
    await this.claims.release(claimKey(runId), runId, { runId, startedBy: 'owner-release', pid });
  }
}

/** The claim file's name: `run-<runId>`, or a digest of a run ID too long for a lock name. */
function claimKey(runId: string): string {
  const key = `run-${runId}`;
  return key.length <= 64 ? key : `run-${createHash('sha256').update(runId).digest('hex').slice(0, 40)}`;
}
