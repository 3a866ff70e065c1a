// A run on a sandbox, as `run`, `restore-quorum` and `resume` drive it: the run record and its owner. A
// run has one owner at a time (README "Replace a member"): a run whose owner is alive is refused (exit 3),
// one whose owner is gone is taken over, the takeover kept in its record, and the workflow the record
// names (the replacement, or the quorum restore) runs here with its progress on stderr.

import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { FileApprovals } from '../sandbox/adapters/fileApprovals.ts';
import { InvalidInputError, RefusedError } from '../functions/errors.ts';
import type { RunRecord } from '../functions/ports.ts';
import type { ApprovalStepDeps } from '../functions/steps/AwaitApproval.ts';
import { STEPS } from '../functions/steps/index.ts';
import { RESTORE_STEPS } from '../functions/steps/restoreSteps.ts';
import { recordOfWorkflow, runLocally, stepHoldFromEnv, type StepHold, type WorkflowStep } from '../functions/workflow/localRun.ts';
import type { WorkflowContext } from '../statemachine/context.ts';
import { RESTORE_WORKFLOW } from '../statemachine/restoreSpec.ts';
import { REPLACE_WORKFLOW, type TaskSpec, type WorkflowSpec } from '../statemachine/spec.ts';
import { exitCodeOfRun, runViewOfRecord } from '../functions/workflow/runView.ts';
import { sandboxDeps, type SandboxDeps } from '../sandbox/adapters/deps.ts';
import { FileLock } from '../sandbox/adapters/fileLock.ts';
import { FileRunStore, UnreadableRunRecordError, unreadableAction } from '../sandbox/adapters/fileRunStore.ts';
import { FileRunOwners, runInProgress } from '../sandbox/adapters/runOwners.ts';
import { SandboxError } from '../sandbox/errors.ts';
import { printJson } from './printers/json.ts';
import { formatTimeline, printProgress, progress } from './printers/text.ts';

/** A workflow the sandbox runs: its spec and its steps, one per task. */
export interface SandboxWorkflow {
  spec: WorkflowSpec<string, WorkflowContext>;
  steps: Readonly<Partial<Record<string, WorkflowStep>>>;
}

/** Every workflow a sandbox run record may name (RunRecord.workflow: the spec's id; none: the replacement). */
export const SANDBOX_WORKFLOWS: readonly SandboxWorkflow[] = [
  { spec: REPLACE_WORKFLOW as unknown as SandboxWorkflow['spec'], steps: STEPS as unknown as SandboxWorkflow['steps'] },
  { spec: RESTORE_WORKFLOW as unknown as SandboxWorkflow['spec'], steps: RESTORE_STEPS as unknown as SandboxWorkflow['steps'] },
];

/** The workflow the record runs; InvalidInputError for a workflow this version does not know. */
export function workflowOf(record: Pick<RunRecord, 'runId' | 'workflow'>): SandboxWorkflow {
  const found = SANDBOX_WORKFLOWS.find((w) => recordOfWorkflow(record, w.spec));
  if (!found) throw new InvalidInputError('RUN_ID', `run ${record.runId} runs workflow ${record.workflow}, which this version does not know`);
  return found;
}

/** The workflow's tasks that have no step in this version: a run of it would stop there. */
export function tasksWithoutStep(workflow: SandboxWorkflow): string[] {
  return workflow.spec.tasks.filter((t) => typeof workflow.steps[t.name] !== 'function').map((t) => t.name);
}

/** Refuses (exit 3, nothing written) a workflow that this version cannot run to its end. */
export function refuseUnbuilt(workflow: SandboxWorkflow): void {
  const missing = tasksWithoutStep(workflow);
  if (missing.length > 0) {
    throw new RefusedError(`workflow ${workflow.spec.id} cannot run here yet: no step for ${missing.join(', ')}; nothing was started or changed`);
  }
}

/** The hold before one step the environment asks for (localRun.ts stepHoldFromEnv), among the workflow's own tasks. */
export function holdFor(workflow: SandboxWorkflow): StepHold<string> | null {
  return stepHoldFromEnv(process.env, workflow.spec.tasks as readonly TaskSpec<string>[]);
}

export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-').toLowerCase();
  return `r-${stamp}-${randomBytes(3).toString('hex')}`;
}

/** `cli:USER`, with any character a run record does not keep in a user name as `_`. */
export function defaultStartedBy(): string {
  return `cli:${userInfo().username.replace(/[^A-Za-z0-9:@._/-]/g, '_')}`.slice(0, 128);
}

/**
 * The readable runs of `sandbox`. An unreadable record of this sandbox is refused (exit 3), naming its
 * file: that run may have stopped partway through changing the cluster. One whose cluster cannot be
 * known is named on stderr and blocks nothing; one of another sandbox is not read further.
 */
export async function recordsOf(runs: FileRunStore, sandbox: string): Promise<RunRecord[]> {
  const { records, unreadable } = await runs.scan({ cluster: sandbox });
  const own = unreadable.filter((u) => u.cluster === sandbox);
  if (own.length > 0) throw new UnreadableRunRecordError(own);
  for (const u of unreadable)
    progress(
      `warning: run record ${u.path} (run ${u.runId}, cluster unknown) cannot be read: ${u.error}; if it is a run of ${sandbox}, ${unreadableAction(u)}`,
    );
  return records;
}

/** The sandbox's ports; a sandbox that does not exist is a bad argument, found before any record is written. */
export async function depsFor(sandbox: string): Promise<SandboxDeps> {
  try {
    return await sandboxDeps(sandbox, { log: progress });
  } catch (error) {
    if (error instanceof SandboxError) throw new InvalidInputError('--sandbox', error.message);
    throw error;
  }
}

/** The owners' claims of the runs recorded in `runs`, beside their records. */
export function ownersOf(runs: FileRunStore): FileRunOwners {
  return new FileRunOwners(join(runs.dir, '.owners'));
}

/**
 * Refuses to continue a run whose owner is alive: the process in its owner claim, or in its cluster
 * lock (RunInProgressError, exit 3, naming the pid and how to stop it). Reads only: nothing is written.
 */
export async function refuseIfOwned(record: RunRecord, runs: FileRunStore, command: string): Promise<void> {
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
  record.events = [
    ...(record.events ?? []),
    { at: now, type: 'takeover', detail: `pid ${process.pid} took the run over at ${record.state}: ${who} no longer runs it` },
  ];
  record.owner = claim.owner;
  await runs.save(record);
}

/** Takes the run over for `deps`, closing them when it cannot. */
export async function takeOverWith(record: RunRecord, runs: FileRunStore, deps: SandboxDeps, command: string): Promise<void> {
  try {
    await takeOver(record, runs, command);
  } catch (error) {
    await deps.close();
    throw error;
  }
}

/**
 * Continues the unfinished run the same command started (a `run` or `restore-quorum` repeated after a
 * crash): refused while its owner lives, otherwise taken over and run to its end here.
 */
export async function resumeSame(
  record: RunRecord,
  sandbox: string,
  runs: FileRunStore,
  json: boolean,
  hold: StepHold<string> | null,
  what: string,
): Promise<number> {
  await refuseIfOwned(record, runs, 'the same command');
  const deps = await depsFor(sandbox);
  await takeOverWith(record, runs, deps, 'the same command');
  progress(`resuming unfinished ${what} ${record.runId} at ${record.state}`);
  return execute(record, deps, json, runs, hold);
}

/** Makes this process the owner of a new run and saves its record, closing `deps` when it cannot. */
export async function claimNew(record: RunRecord, runs: FileRunStore, deps: SandboxDeps, startedBy: string): Promise<void> {
  try {
    record.owner = (await ownersOf(runs).claim(record.runId, startedBy)).owner;
    await runs.save(record);
  } catch (error) {
    await deps.close();
    throw error;
  }
}

/** Runs the workflow from the record's state to its end, printing progress; returns the run's exit code. */
export async function execute(record: RunRecord, deps: SandboxDeps, json: boolean, runs: FileRunStore, hold: StepHold<string> | null): Promise<number> {
  const owners = ownersOf(runs);
  const workflow = workflowOf(record);
  // `kill PID` (SIGTERM) or Ctrl-C stops the run where it is: the running step's host commands are
  // killed, the record stays at that step, and the same command (or resume) takes it over.
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) =>
    stop.abort(
      new Error(`run ${record.runId} stopped by ${signal} at ${record.state}; the same command, or \`etcd-replace resume ${record.runId}\`, takes it over`),
    );
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    // A restore waits for a person's approval in its AwaitApproval step: the answer comes through the files
    // beside the run records (`etcd-replace approve RUN_ID --target sandbox`).
    const approvals: ApprovalStepDeps = { localApprovals: new FileApprovals(runs.dir) };
    const ended = await runLocally<string, WorkflowContext>(record, {
      deps: { ...deps, ...approvals },
      workflow: workflow.spec,
      steps: workflow.steps as Readonly<Record<string, WorkflowStep>>,
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
