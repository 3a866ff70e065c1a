// AwaitApproval: the restore waits for a person before anything changes (issue "restore-quorum", Approval).
// On AWS the state is a `lambda:invoke.waitForTaskToken` task (statemachine/asl.ts): this step gets the
// task token beside the context, keeps it where `etcd-replace approve RUN_ID` finds it by the run's ID
// (ApprovalPort.keep: on AWS the run table's `approval#<runId>` item), and publishes one approval request
// naming the run, the chosen survivor or snapshot, what would be lost (context.expectedLoss), every former
// member that will be fenced, how long it waits, and the exact command that approves it (and the console).
// The state then waits until `approve` answers (SendTaskSuccess: the Approval in context.approval;
// SendTaskFailure RefusedError: declined) or the heartbeat passes (States.HeartbeatTimeout: Refused).
//
// The token is a secret of the run: it is never logged, never written into the context or the step's
// detail, and never put in the message (the command finds it by run ID). What this step returns is not
// the state's output on AWS (the answer is); it writes nothing into the context.
//
// Idempotent: a retried invocation (the same token, or a new one after a Retry of the state) replaces the
// kept token and publishes nothing when the run's request was published already: the command in it names
// the run, not the token. A crash between the publish and its record publishes once more on the retry.
//
// The cluster lock during the wait on AWS: no step runs while Step Functions waits for the token, so
// nothing renews the lock then. Before it asks, this step extends the lock's lease over the wait it is
// about to start: the run's own approval window (options.approvalTimeoutSeconds, the state's heartbeat)
// plus APPROVAL_LEASE_MARGIN_SECONDS for the closing steps or the next step to take the lock again (their
// lease is the usual one: the run's next step shortens it back). A lock this run no longer holds fails the
// step with LockLostError before anything is kept or published. What the lease does not decide, the lock's
// liveness does (functions/adapters/aws/dynamoLock.ts, executionLiveness.ts): a contender asks Step
// Functions about the holder's execution first, so a run whose execution still waits keeps its lock
// whatever its lease, and one whose execution has ended (stopped, timed out, failed) loses it to the next
// run at once; only where Step Functions cannot be asked does the lease decide (and should another run take
// the lock after it, this run's next step finds it lost and ends Refused, having changed nothing). An
// approval not given in time ends with States.HeartbeatTimeout, which goes through the closing steps to
// ReleaseLock.
//
// On the sandbox there is no task token: the run waits in this step (LocalApprovalPort, the files beside
// the run records: sandbox/adapters/fileApprovals.ts). It keeps the request once (a resumed run
// keeps the first request's deadline), prints one line (what would be lost, and the exact command that
// approves it), then looks for the answer every second while the local run renews its lock
// (functions/workflow/lockRenewal.ts), until `etcd-replace approve RUN_ID --target sandbox` answers
// (context.approval), `--decline` refuses (RefusedError), or options.approvalTimeoutSeconds pass: then the
// request is closed, so a later answer finds nothing pending, and the step ends with
// States.HeartbeatTimeout, as Step Functions ends the wait (restoreSpec.ts RESTORE_REFUSED_ERRORS: Refused,
// nothing changed). A step with neither port refuses rather than go on without a person's approval.

import { RefusedError } from '../errors.ts';
import { need } from '../cluster/need.ts';
import { othersThanSurvivor, type RestoreStep } from '../cluster/restoreFacts.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import type { RestoreContext } from '../../statemachine/restoreContext.ts';
import type { Survivor } from '../../statemachine/restorePolicy.ts';

/** The approval request as published: one message a person reads. */
export interface ApprovalRequest {
  runId: string;
  cluster: string;
  subject: string;
  message: string;
  /** When the wait ends without an answer (ISO). */
  expiresAt: string;
}

/** Where a run's approval is kept and announced (AWS: functions/adapters/aws/approvals.ts). */
export interface ApprovalPort {
  /** The state machine `approve --state-machine-arn` names. */
  readonly stateMachineArn: string;
  /** The console page of the execution, where a person can watch the run wait. */
  consoleLink(executionName: string): string;
  /**
   * Keeps the task token under the run's ID, replacing an earlier attempt's (whose token is dead), until
   * `expiresAt`. Answers when the run's request was published already (null: not yet).
   */
  keep(runId: string, token: string, expiresAt: string): Promise<{ publishedAt: string | null }>;
  /** Publishes the request, then records that it was published. */
  publish(request: ApprovalRequest): Promise<void>;
}

/** A person's answer to a run waiting in this process, or the wait's end without one. */
export type ApprovalAnswer =
  { answer: 'approved'; by: string; at: string } | { answer: 'declined'; by: string; at: string; reason?: string } | { answer: 'timed-out'; at: string };

/** A pending approval as the local port keeps it: the request, and when it was first made. */
export interface LocalApprovalRequest extends ApprovalRequest {
  requestedAt: string;
}

/**
 * Where a run that waits in this process (the sandbox) keeps its approval request and finds the answer
 * (sandbox/adapters/fileApprovals.ts). An answer is given once, and the first one stands.
 */
export interface LocalApprovalPort {
  /** The exact command that approves the run. */
  approveCommand(runId: string, cluster: string): string;
  /** Keeps the request, once: a request kept already (a resumed run's) is answered as it was kept, its deadline unchanged. */
  request(request: LocalApprovalRequest): Promise<{ kept: LocalApprovalRequest; first: boolean }>;
  /** The answer given to the run's request, or null while none has been. */
  answer(runId: string): Promise<ApprovalAnswer | null>;
  /** Ends the wait without an answer (timed-out), so a later answer finds nothing pending; the answer that came first, when one did. */
  expire(runId: string, at: string): Promise<ApprovalAnswer>;
}

/** What AwaitApproval needs beyond StepDeps, given by the step handler of a task that waits for an answer. */
export interface ApprovalStepDeps {
  approvals?: ApprovalPort;
  /** The state's task token (the event's `taskToken`, `$$.Task.Token`). */
  taskToken?: string;
  /** The sandbox's approvals: the run waits in the step (AWS gives `approvals` and `taskToken` instead). */
  localApprovals?: LocalApprovalPort;
  /** How often a local wait looks for the answer (default 1000 ms). */
  approvalPollMs?: number;
}

/**
 * The wait ended without an answer: Step Functions' own name for a task's heartbeat passing
 * (States.HeartbeatTimeout), which the restore routes to Refused (restoreSpec.ts RESTORE_REFUSED_ERRORS).
 */
export class ApprovalTimedOutError extends RefusedError {
  override readonly name: string = 'States.HeartbeatTimeout';
}

const DEFAULT_APPROVAL_POLL_MS = 1000;

/**
 * Beyond the approval window, how long the lock's lease lasts when the wait starts on AWS: time for Step
 * Functions to end the wait and for the closing steps (or, once approved, the next step) to start and take
 * the lock again, Lambda throttling and retries included.
 */
export const APPROVAL_LEASE_MARGIN_SECONDS = 30 * 60;

/** SNS subjects: at most 100 printable ASCII characters. */
const MAX_SUBJECT = 100;

function subjectOf(text: string): string {
  const ascii = text
    .replace(/\s+/g, ' ')
    .replace(/[^\x20-\x7e]/g, '?')
    .trim();
  return ascii.length > MAX_SUBJECT ? `${ascii.slice(0, MAX_SUBJECT - 3)}...` : ascii;
}

/** `15 min`, `2 h 30 min`, `24 h`. */
export function waitText(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const rest = minutes % 60;
  return rest === 0 ? `${Math.floor(minutes / 60)} h` : `${Math.floor(minutes / 60)} h ${rest} min`;
}

function survivorText(survivor: Survivor): string {
  if (survivor.kind === 'snapshot') {
    const how = survivor.chosenBy === 'snapshot' ? 'named by --snapshot' : "the newest verified snapshot, no member's data being usable";
    return `snapshot ${survivor.key} of run ${survivor.runId}, taken ${survivor.at} (revision ${survivor.revision}, ${survivor.bytes} bytes, verified; ${how})`;
  }
  const how = survivor.chosenBy === 'from' ? 'named by --from' : 'the highest revision and raft index among the members read';
  const index = survivor.raftIndex === null ? '' : `, raft index ${survivor.raftIndex}`;
  return `member ${survivor.memberId ?? '(id unknown)'} on ${survivor.host} (revision ${survivor.revision}${index}, etcd ${survivor.etcd}; ${how})`;
}

/** The approve command of a run on AWS, as the message and the step's progress line print it. */
export function approveCommand(runId: string, stateMachineArn: string): string {
  return `etcd-replace approve ${runId} --target aws --state-machine-arn ${stateMachineArn}`;
}

/** The approval request of a run waiting at AwaitApproval: what a person reads before answering (`approve`: the exact command that approves it). */
export function approvalRequest(context: RestoreContext, answer: { approve: string; console: string | null }, expiresAt: string): ApprovalRequest {
  const survivor = need(context.survivor, 'survivor');
  const loss = need(context.expectedLoss, 'expectedLoss');
  const fenced = othersThanSurvivor(need(context.formerMembers, 'formerMembers'), survivor).map((m) => m.host);
  const cluster = context.request.cluster;
  const from = survivor.kind === 'member' ? survivor.host : `snapshot of run ${survivor.runId}`;
  const approve = answer.approve;
  const lines = [
    `Run ${context.runId} on cluster ${cluster} waits for your approval to restore etcd quorum.`,
    '',
    `Restore from: ${survivorText(survivor)}`,
    `Expected loss: ${loss.text}`,
    `Fenced first: ${fenced.length > 0 ? fenced.join(', ') : 'none'} (2379/2380 closed by its security group; where it answers, etcd stopped, its static pod moved, its data stored off the host)`,
    `Waits: ${waitText(context.options.approvalTimeoutSeconds)}, until ${expiresAt}; without an answer the run ends Refused and changes nothing.`,
    '',
    `Approve: ${approve}`,
    `Decline: ${approve} --decline --reason TEXT`,
    ...(answer.console ? [`Console: ${answer.console}`] : []),
  ];
  return {
    runId: context.runId,
    cluster,
    subject: subjectOf(`${cluster}: APPROVE restore of etcd quorum from ${from}? (run ${context.runId})`),
    message: `${lines.join('\n')}\n`,
    expiresAt,
  };
}

/** The execution's name, from StepDeps.execution (`sfn:<name>`), or null off Step Functions. */
function executionName(deps: StepDeps): string | null {
  return deps.execution?.startsWith('sfn:') ? deps.execution.slice(4) : null;
}

export const AwaitApproval: RestoreStep = async (context, deps) => {
  const { approvals, taskToken, localApprovals } = deps as StepDeps & ApprovalStepDeps;
  if (localApprovals && !taskToken) return awaitLocally(context, deps, localApprovals);
  if (!approvals || !taskToken) {
    throw new RefusedError(
      `no way to ask for approval on the ${deps.target} (no task token and no approval store): run ${context.runId} cannot wait for a person's approval here, so it restores nothing`,
    );
  }
  const expiresAt = new Date(deps.now().getTime() + context.options.approvalTimeoutSeconds * 1000).toISOString();
  const name = executionName(deps);
  const request = approvalRequest(
    context,
    { approve: approveCommand(context.runId, approvals.stateMachineArn), console: name ? approvals.consoleLink(name) : null },
    expiresAt,
  );
  // Nothing renews the lock while Step Functions waits for the token: its lease covers the wait, and a lost lock asks nothing.
  await deps.lock.renew(context.request.cluster, context.runId, context.options.approvalTimeoutSeconds + APPROVAL_LEASE_MARGIN_SECONDS);
  const kept = await approvals.keep(context.runId, taskToken, expiresAt);
  const approve = approveCommand(context.runId, approvals.stateMachineArn);
  if (kept.publishedAt !== null) {
    deps.log(
      `waiting for approval of run ${context.runId} (requested at ${kept.publishedAt}): ${need(context.expectedLoss, 'expectedLoss').text}; approve with: ${approve}`,
    );
    return { output: {}, detail: `approval requested already at ${kept.publishedAt}; waiting until ${expiresAt}`, skipped: true };
  }
  await approvals.publish(request);
  deps.log(`waiting for approval of run ${context.runId} until ${expiresAt}: ${need(context.expectedLoss, 'expectedLoss').text}; approve with: ${approve}`);
  return { output: {}, detail: `approval requested; waiting until ${expiresAt}` };
};

/** Waits with `ms` of the clock, or stops at once when the step is cancelled (its signal's reason). */
async function pause(deps: StepDeps, ms: number): Promise<void> {
  if (deps.signal?.aborted) throw deps.signal.reason;
  await deps.sleep(ms);
  if (deps.signal?.aborted) throw deps.signal.reason;
}

/** The answer as the step ends with it: the approval in the context, or the refusal. */
function answered(context: RestoreContext, answer: ApprovalAnswer, expiresAt: string) {
  switch (answer.answer) {
    case 'approved':
      return { output: { approval: { by: answer.by, at: answer.at } }, detail: `approved by ${answer.by} at ${answer.at}` };
    case 'declined':
      throw new RefusedError(
        `run ${context.runId} was declined by ${answer.by} at ${answer.at}${answer.reason ? `: ${answer.reason}` : ''}; nothing was changed`,
      );
    case 'timed-out':
      throw new ApprovalTimedOutError(
        `run ${context.runId} was not approved by ${expiresAt} (${waitText(context.options.approvalTimeoutSeconds)}): the restore is refused, nothing was changed`,
      );
  }
}

/** The sandbox: the request kept beside the run's record, then the wait for its answer in this step. */
async function awaitLocally(context: RestoreContext, deps: StepDeps, port: LocalApprovalPort) {
  const pollMs = (deps as StepDeps & ApprovalStepDeps).approvalPollMs ?? DEFAULT_APPROVAL_POLL_MS;
  const now = deps.now();
  const approve = port.approveCommand(context.runId, context.request.cluster);
  const expiresAt = new Date(now.getTime() + context.options.approvalTimeoutSeconds * 1000).toISOString();
  const { kept } = await port.request({ ...approvalRequest(context, { approve, console: null }, expiresAt), requestedAt: now.toISOString() });
  const loss = need(context.expectedLoss, 'expectedLoss').text;
  deps.log(`waiting for approval of run ${context.runId} until ${kept.expiresAt}: ${loss}; approve with: ${approve}`);
  for (;;) {
    const answer = await port.answer(context.runId);
    if (answer) return answered(context, answer, kept.expiresAt);
    if (deps.now().getTime() >= Date.parse(kept.expiresAt))
      return answered(context, await port.expire(context.runId, deps.now().toISOString()), kept.expiresAt);
    await pause(deps, pollMs);
  }
}
