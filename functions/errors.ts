// Named errors. Step Functions Retry/Catch and the XState run match on `name`, never on message text.
// Each class sets `name` to its own class name as a literal (a bundler that renames classes cannot
// change it; test/unit/errors.test.ts ties every name statemachine/spec.ts routes on to its class) and
// keeps the underlying `cause`.

import { EXIT } from './exitCodes.ts';

export abstract class WorkflowError extends Error {
  /** The name Retry/Catch match on: the class's own name, written out in each class. */
  abstract override readonly name: string;
  /** Exit code the CLI uses when a run ends on this error. */
  readonly exitCode: number = EXIT.failed;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Bad arguments or input: nothing was changed. CLI exit code 2. */
export class InvalidInputError extends WorkflowError {
  override readonly name: string = 'InvalidInputError';
  override readonly exitCode = EXIT.invalidInput;
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`invalid ${field}: ${message}`);
  }
}

/** The workflow refuses to go on because going on could lose quorum, data or the CA. CLI exit code 3. */
export class RefusedError extends WorkflowError {
  override readonly name: string = 'RefusedError';
  override readonly exitCode = EXIT.refused;
}

/** Another run holds the cluster's lock. */
export class LockHeldError extends RefusedError {
  override readonly name: string = 'LockHeldError';
}

/**
 * Another run holds the cluster's lock and the run waits for it, as a cluster's queue does, up to its
 * lockWaitSeconds (AcquireLock retries it; LockHeldError once the wait is over).
 */
export class LockWaitingError extends WorkflowError {
  override readonly name: string = 'LockWaitingError';
}

/** The host cannot be reached (powered off, SSM agent offline, not managed). */
export class HostUnreachableError extends WorkflowError {
  override readonly name: string = 'HostUnreachableError';
}

/** A host script failed: exit 1, or a code neither the convention (functions/scripts/lib/exitCodes.sh) nor its step names. */
export class ScriptFailedError extends WorkflowError {
  override readonly name: string = 'ScriptFailedError';
  constructor(
    readonly host: string,
    readonly script: string,
    readonly scriptExitCode: number,
    readonly stderrTail: string,
  ) {
    super(`${script} on ${host} exited ${scriptExitCode}: ${stderrTail}`);
  }
}

/** A host script did not finish in its time, or what it waits for was not ready within its wait (exit 4): worth another try. */
export class ScriptTimedOutError extends WorkflowError {
  override readonly name: string = 'ScriptTimedOutError';
}

/** etcd answered "unhealthy cluster" (the leader has not seen a quorum for long enough): retry. */
export class EtcdUnhealthyClusterError extends WorkflowError {
  override readonly name: string = 'EtcdUnhealthyClusterError';
}

/** A learner cannot be promoted until it has caught up with the leader: retry. */
export class LearnerNotReadyError extends WorkflowError {
  override readonly name: string = 'LearnerNotReadyError';
}

/** `member promote` of a member that already votes (an earlier attempt promoted it). */
export class MemberNotLearnerError extends WorkflowError {
  override readonly name: string = 'MemberNotLearnerError';
}

/** An etcd request failed in a way worth retrying (timeout, no leader, connection refused). */
export class EtcdUnavailableError extends WorkflowError {
  override readonly name: string = 'EtcdUnavailableError';
}

/** The member the step needs is not where it should be. */
export class MemberNotFoundError extends WorkflowError {
  override readonly name: string = 'MemberNotFoundError';
}

/** The cluster does not pass the health check (yet). */
export class ClusterUnhealthyError extends WorkflowError {
  override readonly name: string = 'ClusterUnhealthyError';
}

/** An issued certificate does not pass verification: it never leaves the CA host. */
export class CertificateInvalidError extends WorkflowError {
  override readonly name: string = 'CertificateInvalidError';
}

/** A configuration file could not be edited safely. */
export class ConfigEditError extends WorkflowError {
  override readonly name: string = 'ConfigEditError';
}

/** The new member could not join; compensation runs after this. */
export class NewMemberFailedError extends WorkflowError {
  override readonly name: string = 'NewMemberFailedError';
}

/**
 * The new member's etcd stopped for lack of space under /var/lib/etcd (df's numbers in the message).
 * Retried by no rule: another attempt on the same disk fails the same way; compensation runs after it.
 */
export class NoSpaceLeftError extends WorkflowError {
  override readonly name: string = 'NoSpaceLeftError';
}

/** A master did not report healthy after its restart. */
export class MasterUnhealthyError extends WorkflowError {
  override readonly name: string = 'MasterUnhealthyError';
}

/** The artifact store could not store or hand out an artifact. */
export class ArtifactStoreError extends WorkflowError {
  override readonly name: string = 'ArtifactStoreError';
}

/** The host that should run the run's snapshot job knows no such job (never started there, or lost in a reboot). */
export class SnapshotJobMissingError extends WorkflowError {
  override readonly name: string = 'SnapshotJobMissingError';
}

export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'Error';
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** etcd already has a member with that peer URL (an earlier attempt added it): find it by peer URL. */
export class MemberAlreadyExistsError extends WorkflowError {
  override readonly name: string = 'MemberAlreadyExistsError';
}

/** An SSM Run Command invocation was cancelled (by an operator or the system) before the script finished. Terminal. */
export class CommandCancelledError extends WorkflowError {
  override readonly name: string = 'CommandCancelledError';
}

/** A run no longer holds the cluster's lock it renews (it expired and another run took it, or it was released). */
export class LockLostError extends RefusedError {
  override readonly name: string = 'LockLostError';
}

/** The new member makes progress but has not caught up within one StartNewMember attempt: the next attempt waits on. */
export class NewMemberCatchingUpError extends WorkflowError {
  override readonly name: string = 'NewMemberCatchingUpError';
}

/** Quorum is gone and nothing the run could still do brings it back: it stops at once, changing nothing more. */
export class QuorumLostError extends WorkflowError {
  override readonly name: string = 'QuorumLostError';
}

/** A replacement host could not be launched (no capacity, a bad launch template, a limit): the run changed no membership. */
export class ProvisioningError extends WorkflowError {
  override readonly name: string = 'ProvisioningError';
}

/** The host this run launched is not ready yet (booting, not registered with SSM): the next attempt looks again. */
export class ReplacementNotReadyError extends WorkflowError {
  override readonly name: string = 'ReplacementNotReadyError';
}

/** The scaleup playbook still runs on the installer host after this try's wait: the next try waits on. */
export class ScaleupRunningError extends WorkflowError {
  override readonly name: string = 'ScaleupRunningError';
}

/** The scaleup playbook failed (named task and host) before the new member had started: compensated. */
export class ScaleupFailedError extends WorkflowError {
  override readonly name: string = 'ScaleupFailedError';
}
