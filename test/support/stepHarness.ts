// What every step's unit test starts from: the unit cluster (fakeCluster.ts) with a fake runner, an
// in-memory artifact store, security groups and lock (fakePorts.ts) behind StepDeps; the workflow
// context as the preflight leaves it (master-2 failed, etcd-spare-0 replaces it); and the questions a
// step test asks of a failure: which named error a script's exit code became, whether the step's retry
// policy (statemachine/spec.ts) tries again, and whether any secret reached a script's arguments.

import { expect } from 'vitest';
import { WorkflowError } from '../../functions/errors.ts';
import type { Host } from '../../functions/ports.ts';
import { DEFAULT_WAITS, type StepDeps } from '../../functions/workflow/stepDeps.ts';
import type { MemberRef, WorkflowContext } from '../../statemachine/context.ts';
import { retryDelaySeconds } from '../../statemachine/retry.ts';
import { REFUSED_ERRORS, taskSpec } from '../../statemachine/spec.ts';
import { FAKE_CLUSTER_ID, fakeDeps, memberId, threeMembers, unitInventory, validatedContext, type FakeMember } from './fakeCluster.ts';
import { ChangingCluster, FakeArtifactStore, FakeLock, FakeSecurityGroups } from './fakePorts.ts';
import { FakeRunner } from './fakeRunner.ts';

export const NOW = new Date('2026-01-01T00:00:00Z');
export const RUN_ID = 'r-unit-0001';

/** unitInventory's hosts by name. */
export const HOSTS = Object.fromEntries(unitInventory().hosts.map((h) => [h.name, h])) as Record<'master-0' | 'master-1' | 'master-2' | 'etcd-spare-0', Host>;
export const SPARE = HOSTS['etcd-spare-0'];
/** The member ID `member add` gives the replacement in ChangingCluster. */
export const NEW_ID = memberId(0xb0);
export const NEW_PEER_URL = `https://${SPARE.ip}:2380`;

/** The member ref a context names for one of unitInventory's masters. */
export function ref(host: 'master-0' | 'master-1' | 'master-2', n: number): MemberRef {
  const h = HOSTS[host];
  return { id: memberId(n), name: h.hostname, peerURL: `https://${h.ip}:2380`, clientURL: `https://${h.ip}:2379` };
}

/** The masters as members once master-2 is removed: master-0 and master-1, both answering. */
export const survivingMembers = (): FakeMember[] => threeMembers([]).slice(0, 2);

/**
 * A context as the preflight leaves it: master-2 (member a2) confirmed failed by this execution at NOW,
 * master-0 (the CA and installer host) and master-1 surviving, etcd-spare-0 the replacement; every
 * member runs 3.4, so the new member joins as a learner.
 */
export function confirmedContext(extra: Partial<WorkflowContext> = {}): WorkflowContext {
  return validatedContext(unitInventory(), 'master-2', 'etcd-spare-0', {
    failedMember: ref('master-2', 0xa2),
    survivors: [ref('master-0', 0xa0), ref('master-1', 0xa1)],
    learnerSupported: true,
    clusterId: FAKE_CLUSTER_ID,
    clusterVersion: '3.4.27',
    failureConfirmation: { memberId: memberId(0xa2), execution: 'exec-unit', observedAt: NOW.toISOString() },
    ...extra,
  });
}

export interface StepWorld {
  cluster: ChangingCluster;
  runner: FakeRunner;
  artifacts: FakeArtifactStore;
  securityGroups: FakeSecurityGroups;
  lock: FakeLock;
  logs: string[];
  deps: StepDeps;
}

/** Fakes behind every port; the cluster holds `members` (the survivors by default). */
export function stepWorld(members: FakeMember[] = survivingMembers(), options: { now?: Date } = {}): StepWorld {
  const now = options.now ?? NOW;
  const cluster = new ChangingCluster(members);
  const runner = new FakeRunner();
  const artifacts = new FakeArtifactStore();
  const securityGroups = new FakeSecurityGroups();
  const lock = new FakeLock(() => now);
  const logs: string[] = [];
  const deps: StepDeps = {
    ...fakeDeps(cluster, now),
    runner,
    artifacts,
    securityGroups,
    lock,
    log: (message) => void logs.push(message),
    execution: 'exec-unit',
    waits: { ...DEFAULT_WAITS },
  };
  return { cluster, runner, artifacts, securityGroups, lock, logs, deps };
}

/** The context a step's result leaves: what the workflow hands the same step when it runs again. */
export const after = (context: WorkflowContext, result: { output: Partial<WorkflowContext> }): WorkflowContext => ({ ...context, ...result.output });

/** The named error a step failed with (it must fail, with a WorkflowError). */
export async function failure(promise: Promise<unknown>): Promise<WorkflowError> {
  const outcome = await promise.then(
    () => null,
    (error: unknown) => error,
  );
  expect(outcome, 'the step should have failed').toBeInstanceOf(WorkflowError);
  return outcome as WorkflowError;
}

/** Whether the step's retry policy tries again after this error (a first retry). */
export function retried(step: string, error: Error): boolean {
  return retryDelaySeconds(taskSpec(step).retry, error.name, new Map()) !== null;
}

/** Whether the error ends the run Refused: a refusal, which no rule retries. */
export function refused(step: string, error: Error): boolean {
  return REFUSED_ERRORS.includes(error.name) && !retried(step, error);
}

/** Script errors the host-work retry policy tries again (spec.ts hostWork): a failure once, not ready yet. */
export const HOST_WORK_RETRIES = ['ScriptFailedError', 'ScriptTimedOutError'];
/** Script errors the transient policy alone tries again (spec.ts transient): not ready yet. */
export const TRANSIENT_RETRIES = ['ScriptTimedOutError'];

/**
 * The exit-code convention (functions/scripts/lib/exitCodes.sh, functions/hosts/hostScript.ts) as rows
 * for it.each: code, the error's name, and whether the step's policy should retry it (its name among
 * `retries`). 1 and a code no one names (7) are failures, 2 bad arguments, 3 a refusal, 4 not ready
 * yet; a step that gives a code a meaning of its own passes it in `own`.
 */
export function exitCases(retries: string[], own: Record<number, string> = {}): Array<[number, string, boolean]> {
  const named: Record<number, string> = {
    1: 'ScriptFailedError',
    2: 'InvalidInputError',
    3: 'RefusedError',
    4: 'ScriptTimedOutError',
    7: 'ScriptFailedError',
    ...own,
  };
  return Object.entries(named).map(([code, name]) => [Number(code), name, retries.includes(name)]);
}

/** No URL the store handed out, nor any signature, is in a script's arguments; each reached a script only as a secret. */
export function expectSecretsOnlyOnStdin(world: Pick<StepWorld, 'runner' | 'artifacts'>): void {
  const args = world.runner.requests.flatMap((r) => r.args).join('\n');
  expect(args).not.toMatch(/X-Amz-Signature|unit-artifacts\.s3/);
  for (const url of world.artifacts.issued) expect(args).not.toContain(url);
  const secrets = world.runner.requests.flatMap((r) => Object.values(r.secrets ?? {}));
  for (const value of secrets) expect(world.artifacts.issued).toContain(value);
}
