// `etcd-replace run` and `etcd-replace resume`: replace a failed member on a sandbox with the XState
// run of the model. Re-running the same request after a crash resumes the unfinished run.

import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { InvalidInputError, RefusedError } from '../functions/errors.ts';
import { SandboxError } from '../sandbox/errors.ts';
import { sandboxDeps, type SandboxDeps } from '../sandbox/adapters/deps.ts';
import { FileRunStore, UnreadableRunRecordError, unreadableAction } from '../sandbox/adapters/fileRunStore.ts';
import { FileLock } from '../sandbox/adapters/fileLock.ts';
import { FileRunOwners, runInProgress } from '../sandbox/adapters/runOwners.ts';
import type { RunRecord } from '../functions/ports.ts';
import { STEPS } from '../functions/steps/index.ts';
import { newRunRecord, runLocally, stepHoldFromEnv, type StepHold } from '../functions/workflow/localRun.ts';
import * as validate from '../functions/validate.ts';
import type { WorkflowContext } from '../statemachine/context.ts';
import { replacementWords, REQUEST_OPTIONS, sandboxRequestArgs } from './requestArgs.ts';
import { integerOption, parse, printJson, progress, runCommand, targetsAws, UsageError } from './common.ts';
import { usageOf } from './help.ts';
import { formatTimeline, printProgress } from './runReport.ts';
import { exitCodeOfRun, runViewOfRecord } from '../functions/workflow/runView.ts';

const RUN_USAGE = usageOf('run');
const RESUME_USAGE = usageOf('resume');

export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-').toLowerCase();
  return `r-${stamp}-${randomBytes(3).toString('hex')}`;
}

/** `cli:USER`, with any character a run record does not keep in a user name as `_`. */
function defaultStartedBy(): string {
  return `cli:${userInfo().username.replace(/[^A-Za-z0-9:@._/-]/g, '_')}`.slice(0, 128);
}

/**
 * The readable runs of `sandbox`. An unreadable record of this sandbox is refused (exit 3), naming its
 * file: that run may have stopped partway through changing the cluster. One whose cluster cannot be
 * known is named on stderr and blocks nothing; one of another sandbox is not read further.
 */
async function recordsOf(runs: FileRunStore, sandbox: string): Promise<RunRecord[]> {
  const { records, unreadable } = await runs.scan({ cluster: sandbox });
  const own = unreadable.filter((u) => u.cluster === sandbox);
  if (own.length > 0) throw new UnreadableRunRecordError(own);
  for (const u of unreadable) progress(`warning: run record ${u.path} (run ${u.runId}, cluster unknown) cannot be read: ${u.error}; if it is a run of ${sandbox}, ${unreadableAction(u)}`);
  return records;
}

/** The sandbox's ports; a sandbox that does not exist is a bad argument, found before any record is written. */
async function depsFor(sandbox: string): Promise<SandboxDeps> {
  try {
    return await sandboxDeps(sandbox, { log: progress });
  } catch (error) {
    if (error instanceof SandboxError) throw new InvalidInputError('--sandbox', error.message);
    throw error;
  }
}

/** The owners' claims of the runs recorded in `runs`, beside their records. */
function ownersOf(runs: FileRunStore): FileRunOwners {
  return new FileRunOwners(join(runs.dir, '.owners'));
}

/**
 * Refuses to continue a run whose owner is alive: the process in its owner claim, or in its cluster
 * lock (RunInProgressError, exit 3, naming the pid and how to stop it). Reads only: nothing is written.
 */
async function refuseIfOwned(record: RunRecord, runs: FileRunStore, command: string): Promise<void> {
  const since = (info: { acquiredAt: string }) => record.owner?.since ?? info.acquiredAt;
  const claimed = await ownersOf(runs).liveOtherOwner(record.runId);
  if (claimed) throw runInProgress(record.runId, claimed, since(claimed), command);
  const locked = await new FileLock().heldElsewhere(record.cluster, { runId: record.runId, startedBy: record.startedBy, pid: process.pid });
  if (locked) throw runInProgress(record.runId, locked, since(locked), command);
}

/**
 * Makes this process the owner of an unfinished run whose owner is gone (exited, killed, a zombie), before
 * it continues the record: the claim is atomic (a contender that claims first wins, and this one is
 * refused), and the takeover is kept in the record's events before anything else runs.
 */
async function takeOver(record: RunRecord, runs: FileRunStore, command: string): Promise<void> {
  await refuseIfOwned(record, runs, command);
  const claim = await ownersOf(runs).claim(record.runId, record.startedBy, process.pid, command);
  const before = claim.takenOver ?? (record.owner ? { pid: record.owner.pid, host: record.owner.host, since: record.owner.since } : undefined);
  const who = before?.pid !== undefined ? `pid ${before.pid}${before.host ? ` on ${before.host}` : ''} (owner since ${before.since})` : 'no recorded owner';
  const now = new Date().toISOString();
  record.events = [...(record.events ?? []), { at: now, type: 'takeover', detail: `pid ${process.pid} took the run over at ${record.state}: ${who} no longer runs it` }];
  record.owner = claim.owner;
  await runs.save(record);
}

/** Takes the run over for `deps`, closing them when it cannot. */
async function takeOverWith(record: RunRecord, runs: FileRunStore, deps: SandboxDeps, command: string): Promise<void> {
  try {
    await takeOver(record, runs, command);
  } catch (error) {
    await deps.close();
    throw error;
  }
}

async function execute(record: RunRecord, deps: SandboxDeps, json: boolean, runs: FileRunStore, hold: StepHold | null): Promise<number> {
  const owners = ownersOf(runs);
  // `kill PID` (SIGTERM) or Ctrl-C stops the run where it is: the running step's host commands are
  // killed, the record stays at that step, and the same command (or resume) takes it over.
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => stop.abort(new Error(`run ${record.runId} stopped by ${signal} at ${record.state}; the same command, or \`etcd-replace resume ${record.runId}\`, takes it over`));
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    const ended = await runLocally(record, {
      deps,
      steps: STEPS,
      runs,
      target: 'sandbox',
      onProgress: printProgress,
      hold,
      runOwner: { prove: () => owners.prove(record.runId) },
      signal: stop.signal,
    });
    const view = runViewOfRecord(ended);
    if (json) printJson(view);
    else progress(formatTimeline(ended));
    return exitCodeOfRun(view);
  } finally {
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGINT', onSignal);
    await owners.release(record.runId);
    await deps.close();
  }
}

export async function runCommandMain(argv: string[]): Promise<number> {
  if (targetsAws(argv)) return (await import('./aws.ts')).awsRunCommand(argv);
  return runCommand(async () => {
    const { values } = parse(argv, { ...REQUEST_OPTIONS, 'grace-seconds': { type: 'string' }, 'started-by': { type: 'string' }, 'ca-backup-key': { type: 'string' }, 'install-etcd-version': { type: 'string' } }, RUN_USAGE);
    const { sandbox, failed, replacement, learner } = sandboxRequestArgs(values, RUN_USAGE);
    const graceSeconds = integerOption('grace-seconds', values['grace-seconds'], 2);
    if (graceSeconds > 3600) throw new UsageError('--grace-seconds must be at most 3600');
    const caBackupKey = values['ca-backup-key'] === undefined ? undefined : validate.artifactKey('--ca-backup-key', values['ca-backup-key']);
    const etcdVersion = values['install-etcd-version'] === undefined ? undefined : validate.etcdVersion('--install-etcd-version', values['install-etcd-version']);
    const startedBy = validate.startedBy('--started-by', values['started-by'] ?? defaultStartedBy());
    // The hold hook's variables, checked before any record is written: a half-set pair writes nothing.
    const hold = stepHoldFromEnv();

    const runs = new FileRunStore();
    const unfinished = (await recordsOf(runs, sandbox)).filter((r) => r.outcome === 'running');
    const same = unfinished.find((r) => r.request['failed'] === failed && r.request['replacement'] === replacement);
    if (same) {
      await refuseIfOwned(same, runs, 'the same command');
      const deps = await depsFor(sandbox);
      await takeOverWith(same, runs, deps, 'the same command');
      progress(`resuming unfinished run ${same.runId} at ${same.state}`);
      return execute(same, deps, values.json, runs, hold);
    }
    if (unfinished.length > 0) {
      const other = unfinished[0]!;
      const owner = await ownersOf(runs).liveOtherOwner(other.runId);
      const what = owner ? `is in progress in pid ${owner.pid} since ${other.owner?.since ?? owner.acquiredAt}: wait for it, or stop it with \`kill ${owner.pid}\` and finish it with` : 'is unfinished: finish it with';
      throw new RefusedError(`run ${other.runId} (failed ${String(other.request['failed'])}, replacement ${String(other.request['replacement'])}) on ${sandbox} ${what} \`etcd-replace resume ${other.runId} --sandbox ${sandbox}\``);
    }
    const deps = await depsFor(sandbox);
    const context: WorkflowContext = {
      runId: newRunId(),
      request: { cluster: sandbox, failed, ...(replacement ? { replacement } : {}), startedBy },
      options: { graceSeconds, learner, ...(caBackupKey ? { caBackupKey } : {}), ...(etcdVersion ? { etcdVersion } : {}) },
    };
    const record = newRunRecord(context, 'sandbox', new Date());
    try {
      record.owner = (await ownersOf(runs).claim(record.runId, startedBy)).owner;
      await runs.save(record);
    } catch (error) {
      await deps.close();
      throw error;
    }
    progress(`run ${record.runId}: replace ${failed} with ${replacementWords(replacement)} on sandbox ${sandbox}`);
    return execute(record, deps, values.json, runs, hold);
  });
}

export function resumeCommand(argv: string[]): Promise<number> {
  return runCommand(async () => {
    const { values, positionals } = parse(argv, { sandbox: { type: 'string' }, json: { type: 'boolean', default: false } }, RESUME_USAGE, true);
    if (positionals.length !== 1) throw new UsageError(RESUME_USAGE);
    const runId = validate.runId('RUN_ID', positionals[0]);
    const runs = new FileRunStore();
    const record = await runs.get(runId);
    if (!record) throw new InvalidInputError('RUN_ID', `no run ${runId} in the run record`);
    if (record.outcome !== 'running') throw new InvalidInputError('RUN_ID', `run ${runId} already ended: ${record.outcome}`);
    const sandbox = validate.sandboxName('--sandbox', values.sandbox ?? record.cluster);
    const hold = stepHoldFromEnv();
    // A run holds its own cluster's lock and knows its own hosts: it never goes on against another.
    if (sandbox !== record.cluster || record.target !== 'sandbox') {
      throw new InvalidInputError('--sandbox', `run ${runId} is a run of ${record.target} cluster ${record.cluster}; it resumes only there, not on ${sandbox}`);
    }
    const command = `\`etcd-replace resume ${runId}\``;
    await refuseIfOwned(record, runs, command);
    const deps = await depsFor(sandbox);
    await takeOverWith(record, runs, deps, command);
    progress(`resuming run ${runId} at ${record.state}`);
    return execute(record, deps, values.json, runs, hold);
  });
}
