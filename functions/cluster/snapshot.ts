// The run's snapshot job: started by SnapshotCluster on a healthy member, waited for by AwaitSnapshot.
// The job runs on the host in the background (functions/scripts/SnapshotCluster.sh), so the membership
// steps that cannot lower the margin run while it saves, checks and uploads; no learner votes, and no
// run counts its new member at full strength, before it has succeeded.

import { ArtifactStoreError, InvalidInputError, SnapshotJobMissingError } from '../errors.ts';
import type { Host } from '../ports.ts';
import type { MemberRef, WorkflowContext } from '../../statemachine/context.ts';
import { artifactKey } from './artifactKeys.ts';
import { hostOfMember } from '../../statemachine/cluster.ts';
import { inventoryOf, need } from './need.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import { runScript, SCRIPT_EXIT } from '../hosts/hostScript.ts';

export interface SnapshotResult {
  bytes: number;
  sha256: string;
  status: { hash: number; revision: number; totalKey: number; totalSize: number };
}

/** How long one attempt waits for the job on the host; the states' retries wait longer. */
export const SNAPSHOT_WAIT_SECONDS = 540;

/**
 * The survivor the run's snapshot is taken from: the first that is not the CA host, when there is one.
 * The CA host has its own work (the certificates, the bundle) and its own failure: a CA host cut off
 * from the store then refuses the run at IssueCertificates, with the snapshot already safe.
 */
export function snapshotMember(context: WorkflowContext): MemberRef | undefined {
  const survivors = need(context.survivors, 'survivors');
  const inventory = inventoryOf(context);
  return survivors.find((s) => hostOfMember(inventory, s)?.name !== context.caHost?.name) ?? survivors[0];
}

/** The member the snapshot is taken from, its host, and the key it is stored under. */
export function snapshotSource(context: WorkflowContext): { host: Host; endpoint: string | null; key: string } {
  const inventory = inventoryOf(context);
  if (context.snapshotHost) {
    const host = inventory.hosts.find((h) => h.name === context.snapshotHost);
    if (!host) throw new InvalidInputError('snapshotHost', `${context.snapshotHost} is not in the inventory`);
    const source = (context.survivors ?? []).find((s) => hostOfMember(inventory, s)?.name === host.name);
    return { host, endpoint: source?.clientURL ?? null, key: need(context.snapshotKey, 'snapshotKey') };
  }
  const source = snapshotMember(context);
  const host = source ? hostOfMember(inventory, source) : undefined;
  if (!source || !host) throw new ArtifactStoreError('no healthy member with a known host to take a snapshot from');
  return { host, endpoint: source.clientURL, key: artifactKey.snapshot(context.runId, host.hostname) };
}

/**
 * Starts the job (or finds it running or done); returns what the host said. Idempotent on the host. The
 * job yields to etcd and to the new member's catch-up, which it overlaps (SnapshotCluster.sh).
 */
export async function startSnapshot(context: WorkflowContext, deps: StepDeps): Promise<'started' | 'running' | 'done'> {
  const { host, endpoint, key } = snapshotSource(context);
  if (!endpoint) throw new ArtifactStoreError(`the snapshot host ${host.name} is no longer a healthy member: no snapshot can be started there`);
  const url = await deps.artifacts.uploadUrl(key, deps.waits.urlTtlSeconds);
  const out = await runScript<{ job: 'started' | 'running' | 'done' }>(deps.runner, {
    host,
    script: 'SnapshotCluster',
    args: [context.runId, endpoint],
    secrets: { UPLOAD_URL: url },
    timeoutSeconds: 60,
  });
  return out.job;
}

/**
 * Waits for the job and checks its upload in the store. A job the host no longer knows (never
 * started there, or lost in a reboot) is started again once; a failed one fails the step, whose retry
 * starts it again.
 */
export async function awaitSnapshot(context: WorkflowContext, deps: StepDeps, waitSeconds: number): Promise<{ result: SnapshotResult; location: string }> {
  const { host, key } = snapshotSource(context);
  const call = () =>
    runScript<SnapshotResult>(deps.runner, {
      host,
      script: 'AwaitSnapshot',
      args: [context.runId, String(waitSeconds)],
      timeoutSeconds: waitSeconds + 60,
      // The step's own meaning of AwaitSnapshot.sh's 6 (no job here): start it again, once, below. Its 4
      // (the job still runs) is the convention's ScriptTimedOutError, which the state retries.
      exits: { [SCRIPT_EXIT.noSnapshotJob]: (m) => new SnapshotJobMissingError(m) },
    });
  let result: SnapshotResult;
  try {
    result = await call();
  } catch (error) {
    if (!(error instanceof SnapshotJobMissingError)) throw error;
    deps.log(`${host.name}: no snapshot job for this run; starting it again`);
    await startSnapshot(context, deps);
    result = await call();
  }
  return storedSnapshot(key, result, deps);
}

/** The job's result checked against the store: the object is there, of the size the host wrote. */
async function storedSnapshot(key: string, result: SnapshotResult, deps: StepDeps): Promise<{ result: SnapshotResult; location: string }> {
  const stored = await deps.artifacts.head(key);
  if (!stored || stored.size !== result.bytes) {
    throw new ArtifactStoreError(`snapshot upload incomplete: host wrote ${result.bytes} bytes, store holds ${stored?.size ?? 'nothing'}`);
  }
  return { result, location: stored.location };
}

/** What the context keeps of a verified snapshot: where it is and what the job checked. */
export function verifiedSnapshot({ result, location }: { result: SnapshotResult; location: string }): NonNullable<WorkflowContext['snapshotVerified']> {
  return { location, bytes: result.bytes, sha256: result.sha256, revision: result.status.revision };
}

export function describeSnapshot(context: WorkflowContext, { result, location }: { result: SnapshotResult; location: string }): string {
  const { host } = snapshotSource(context);
  return `snapshot from ${host.name} at revision ${result.status.revision}, ${result.status.totalKey} keys, ${result.bytes} bytes, sha256 ${result.sha256.slice(0, 12)}…, stored at ${location}`;
}
