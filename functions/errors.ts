// Named errors. Step Functions Retry/Catch and the XState run match on `name`, never on message text.
// Each class sets `name` to its own class name and keeps the underlying `cause`.

export abstract class WorkflowError extends Error {
  /** Exit code the CLI uses when a run ends on this error. */
  readonly exitCode: number = 1;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad arguments or input: nothing was changed. CLI exit code 2. */
export class InvalidInputError extends WorkflowError {
  override readonly exitCode = 2;
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`invalid ${field}: ${message}`);
  }
}

/** The workflow refuses to go on because going on could lose quorum, data or the CA. CLI exit code 3. */
export class RefusedError extends WorkflowError {
  override readonly exitCode = 3;
}

/** Another run holds the cluster's lock. */
export class LockHeldError extends RefusedError {}

/** The host cannot be reached (powered off, SSM agent offline, not managed). */
export class HostUnreachableError extends WorkflowError {}

/** A host script ran and exited non-zero. */
export class ScriptFailedError extends WorkflowError {
  constructor(
    readonly host: string,
    readonly script: string,
    readonly scriptExitCode: number,
    readonly stderrTail: string,
  ) {
    super(`${script} on ${host} exited ${scriptExitCode}: ${stderrTail}`);
  }
}

/** A host script did not finish in its time. */
export class ScriptTimedOutError extends WorkflowError {}

/** etcd answered "unhealthy cluster" (the leader has not seen a quorum for long enough): retry. */
export class EtcdUnhealthyClusterError extends WorkflowError {}

/** A learner cannot be promoted until it has caught up with the leader: retry. */
export class LearnerNotReadyError extends WorkflowError {}

/** `member promote` of a member that already votes (an earlier attempt promoted it). */
export class MemberNotLearnerError extends WorkflowError {}

/** An etcd request failed in a way worth retrying (timeout, no leader, connection refused). */
export class EtcdUnavailableError extends WorkflowError {}

/** The member the step needs is not where it should be. */
export class MemberNotFoundError extends WorkflowError {}

/** The cluster does not pass the health check (yet). */
export class ClusterUnhealthyError extends WorkflowError {}

/** An issued certificate does not pass verification: it never leaves the CA host. */
export class CertificateInvalidError extends WorkflowError {}

/** A configuration file could not be edited safely. */
export class ConfigEditError extends WorkflowError {}

/** The new member could not join; compensation runs after this. */
export class NewMemberFailedError extends WorkflowError {}

/** A master did not report healthy after its restart. */
export class MasterUnhealthyError extends WorkflowError {}

/** The artifact store could not store or hand out an artifact. */
export class ArtifactStoreError extends WorkflowError {}

/** The host that should run the run's snapshot job knows no such job (never started there, or lost in a reboot). */
export class SnapshotJobMissingError extends WorkflowError {}

/** The sandbox named does not exist or is broken. */
export class SandboxError extends WorkflowError {}

export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'Error';
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** etcd already has a member with that peer URL (an earlier attempt added it): find it by peer URL. */
export class MemberAlreadyExistsError extends WorkflowError {}

/** An SSM Run Command invocation was cancelled (by an operator or the system) before the script finished. Terminal. */
export class CommandCancelledError extends WorkflowError {}

/** A run no longer holds the cluster's lock it renews (it expired and another run took it, or it was released). */
export class LockLostError extends RefusedError {}

/** The new member makes progress but has not caught up within one StartNewMember attempt: the next attempt waits on. */
export class NewMemberCatchingUpError extends WorkflowError {}

/** Quorum is gone and nothing the run could still do brings it back: it stops at once, changing nothing more. */
export class QuorumLostError extends WorkflowError {}
