// The steps' ports over a sandbox: host scripts through nsenter, etcd through etcdctl on surviving
// members (as on AWS), the nftables security-group stand-in, artifacts served to hosts over
// presigned-style URLs on the sandbox's bridge, the lock and run record as files, and a replacement
// launched for a run as a new host of the running sandbox.

import { loadSandbox, SandboxSecurityGroups, type SandboxInfo } from '../index.ts';
import type { EtcdMember, Host, Inventory } from '../../functions/ports.ts';
import { clientUrl } from '../../statemachine/cluster.ts';
import { membersOfHost } from '../../statemachine/memberIdentity.ts';
import { DEFAULT_WAITS, type StepDeps } from '../../functions/workflow/stepDeps.ts';
import { EtcdctlMembership } from '../../functions/adapters/etcdctl.ts';
import { SandboxArtifactStore } from './artifactServer.ts';
import { FileLock } from './fileLock.ts';
import { positiveInt } from '../../functions/validate.ts';
import { SandboxHostRunner } from './hostRunner.ts';
import { SandboxProvisioning } from './provisioning.ts';
import { FileRunStore } from './fileRunStore.ts';
import { membershipChanges, type MembershipChanges } from '../../statemachine/membershipChanges.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import path from 'node:path';

export interface SandboxDeps extends StepDeps {
  /** Stops the artifact server; call when the run ends. */
  close: () => Promise<void>;
}

/**
 * The hosts of a sandbox as the workflow sees them: no namespaces, no power state. Read anew for every
 * request, so a host launched into the sandbox for an earlier run is in later inventories. A host that
 * `up` built as a spare (or a run launched) and that is a member now, by any identity, is an etcd host
 * and no longer in the spare pool: as on AWS, where a run's new member is enrolled with the etcd role.
 * When no etcd answers a member list (quorum lost, every member down), the membership is what the
 * sandbox's succeeded runs left, oldest first (`recorded`, as AWS keeps it in its tags): a host a run added
 * a member on is an etcd host, out of the pool; a host whose member a run removed and replaced elsewhere
 * is no etcd host (a master stays a master; a former spare is left out).
 */
export function inventoryOfSandbox(sandbox: SandboxInfo, members: EtcdMember[] = [], recorded: MembershipChanges[] = []): Inventory {
  const roles = new Map(sandbox.hosts.map((h) => [h.name, [...h.roles]]));
  if (members.length === 0) {
    for (const { left, joined } of recorded) {
      for (const h of left)
        roles.set(
          h.name,
          (roles.get(h.name) ?? []).filter((r) => r !== 'etcd'),
        );
      for (const h of joined) roles.set(h.name, [...(roles.get(h.name) ?? []).filter((r) => r !== 'spare' && r !== 'etcd'), 'etcd']);
    }
  }
  return {
    cluster: sandbox.name,
    // A host left with no role (a spare a run made a member, whose member a later run replaced) is no
    // part of the cluster any more, as AWS leaves an instance tagged replaced-by out of its inventory.
    hosts: sandbox.hosts.flatMap((h): Host[] => {
      const host: Host = { name: h.name, hostname: h.hostname, ip: h.ip, roles: roles.get(h.name) ?? [...h.roles] };
      if (host.roles.length === 0) return [];
      const enrolled = host.roles.includes('spare') && membersOfHost(members, host).length > 0;
      return [enrolled ? { ...host, roles: [...host.roles.filter((r) => r !== 'spare'), 'etcd'] } : host];
    }),
  };
}

/** What the sandbox's succeeded runs changed in its membership, oldest first: only runs of this sandbox, not of an earlier one of its name. */
async function recordedMembership(sandbox: SandboxInfo): Promise<MembershipChanges[]> {
  const runs = await new FileRunStore().list({ cluster: sandbox.name });
  return runs
    .filter((r) => r.outcome === 'succeeded' && r.startedAt >= sandbox.createdAt)
    .sort((a, b) => (a.endedAt ?? a.startedAt).localeCompare(b.endedAt ?? b.startedAt))
    .map((r) => membershipChanges(r.context as unknown as WorkflowContext));
}

/**
 * The member list as the sandbox's running etcd hosts see it (read-only), or none when no host can
 * answer: the pool then keeps the roles `up` gave, and the run's own checks refuse a member.
 */
async function sandboxMembers(sandbox: SandboxInfo, runner: SandboxHostRunner): Promise<EtcdMember[]> {
  const via = inventoryOfSandbox(sandbox).hosts.filter(
    (h) => (h.roles.includes('etcd') || h.roles.includes('spare')) && sandbox.hosts.find((s) => s.name === h.name)?.state === 'running',
  );
  if (via.length === 0) return [];
  try {
    return await new EtcdctlMembership(runner, via, via.map(clientUrl), { timeoutSeconds: 30 }).memberList();
  } catch {
    return [];
  }
}

/**
 * Waits an operator (or a rehearsal) sets for one run, as the AWS functions take them from their
 * environment: ETCD_REPLACE_<NAME>_SECONDS for the lock's lifetime between renewals (a run renews its
 * lock as it goes and a live holder keeps it past expiry; a short lifetime rehearses exactly that), how
 * long the new member may go without listening (or without progress while it catches up), and how
 * long a master's API may take to answer after its restart. Unset: DEFAULT_WAITS.
 */
const WAITS_FROM_ENV = {
  lockTtlSeconds: { name: 'ETCD_REPLACE_LOCK_TTL_SECONDS', min: 1, max: 86_400 },
  memberStartSeconds: { name: 'ETCD_REPLACE_MEMBER_START_SECONDS', min: 5, max: 3600 },
  masterHealthSeconds: { name: 'ETCD_REPLACE_MASTER_HEALTH_SECONDS', min: 5, max: 3600 },
} as const;

function waitsFromEnv(): Partial<StepDeps['waits']> {
  return Object.fromEntries(
    Object.entries(WAITS_FROM_ENV).flatMap(([wait, { name, min, max }]) => {
      const raw = process.env[name];
      return raw === undefined || raw === '' ? [] : [[wait, positiveInt(name, raw, { min, max })]];
    }),
  );
}

export async function sandboxDeps(name: string, options: { log?: (message: string) => void; waits?: Partial<StepDeps['waits']> } = {}): Promise<SandboxDeps> {
  const sandbox = await loadSandbox(name);
  const runner = new SandboxHostRunner(sandbox);
  const log = options.log ?? (() => {});
  // The runner and the security groups look hosts up in `sandbox`: its host list follows the hosts a
  // run launches into the sandbox or removes, and every inventory read.
  const refreshHosts = async (): Promise<SandboxInfo> => {
    const current = await loadSandbox(name);
    sandbox.hosts.splice(0, sandbox.hosts.length, ...current.hosts);
    return current;
  };
  const artifacts = new SandboxArtifactStore({ dir: path.join(sandbox.stateDir, 'artifacts'), host: sandbox.gateway });
  await artifacts.start();
  return {
    target: 'sandbox',
    runner,
    etcd: (via, endpoints) => new EtcdctlMembership(runner, via, endpoints),
    securityGroups: new SandboxSecurityGroups(sandbox),
    provisioning: new SandboxProvisioning(name, { log, hostsChanged: async () => void (await refreshHosts()) }),
    artifacts,
    lock: new FileLock(),
    resolveInventory: async (request) => {
      if (request.inventory) return request.inventory;
      const current = await refreshHosts();
      const members = await sandboxMembers(current, runner);
      return inventoryOfSandbox(current, members, members.length === 0 ? await recordedMembership(current) : []);
    },
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    now: () => new Date(),
    log,
    pid: process.pid,
    waits: { ...DEFAULT_WAITS, ...waitsFromEnv(), ...options.waits },
    close: () => artifacts.close(),
  };
}
