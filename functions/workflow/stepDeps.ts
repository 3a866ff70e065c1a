// What every step is given: the ports, a clock, and a progress log. The sandbox and AWS each build one.

import type {
  ArtifactStore,
  EtcdClusterPort,
  Host,
  HostRunner,
  InstanceStatePort,
  Inventory,
  LockPort,
  ProvisioningPort,
  RunRecord,
  SecurityGroupPort,
} from '../ports.ts';
import type { ReplaceRequest } from '../../statemachine/context.ts';

export interface StepDeps {
  target: 'sandbox' | 'aws';
  runner: HostRunner;
  /** Membership and health, run through `via` (surviving members) against `endpoints`. */
  etcd: (via: Host[], endpoints: string[]) => EtcdClusterPort;
  securityGroups: SecurityGroupPort;
  /** Launches the replacement host when none was named and the spare pool is empty, or `--replacement new`. */
  provisioning: ProvisioningPort;
  artifacts: ArtifactStore;
  lock: LockPort;
  /** EC2's state of the hosts' instances (the restore's approval waivers); absent where hosts are no instances (the sandbox). */
  instances?: InstanceStatePort;
  /** The cluster's hosts: the sandbox's, or discovered from EC2 tags; an explicit inventory wins. */
  resolveInventory: (request: ReplaceRequest) => Promise<Inventory>;
  sleep: (ms: number) => Promise<void>;
  now: () => Date;
  /** Progress for operators (stderr, CloudWatch): never a secret. */
  log: (message: string) => void;
  /** Process that holds the lock, where that means something. */
  pid?: number;
  /**
   * Who runs the steps now: one process of the local run (a new one on every resume), one Step Functions
   * execution. A failure confirmation is acted on only by the execution that made it (statemachine/confirmation.ts).
   */
  execution?: string;
  /**
   * Cancels the step: aborted when the step's time is up (the local run's timeout). A step passes it to
   * what it waits on; the host runners take it by default (stepSignal.ts), so the step's host commands
   * are stopped on their hosts and the lock's renewal stops, before compensation or the next try.
   */
  signal?: AbortSignal;
  /** The run's owner claim, where the target keeps one (the sandbox: a process); prove() throws LockLostError when this process does not own the run. */
  runOwner?: { prove: () => Promise<void> };
  /** Earlier runs on this cluster, newest first, where a run record exists (the sandbox): names the run that replaced a member. */
  pastRuns?: () => Promise<RunRecord[]>;
  /** Seconds a host may take for the slow parts: etcd start, master API health. */
  waits: {
    /** Seconds a new member may go without progress (its raft index) before StartNewMember gives up. */
    memberStartSeconds: number;
    /** Seconds one StartNewMember attempt waits at most for a new member that keeps making progress (under the 15-minute Lambda limit). */
    memberCatchUpSeconds: number;
    masterHealthSeconds: number;
    urlTtlSeconds: number;
    lockTtlSeconds: number;
  };
}

export const DEFAULT_WAITS: StepDeps['waits'] = {
  memberStartSeconds: 60,
  memberCatchUpSeconds: 780,
  masterHealthSeconds: 120,
  urlTtlSeconds: 900,
  lockTtlSeconds: 7200,
};
