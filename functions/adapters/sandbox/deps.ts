// The steps' ports over a sandbox: host scripts through nsenter, etcd through etcdctl on surviving
// members (as on AWS), the nftables security-group stand-in, artifacts served to hosts over
// presigned-style URLs on the sandbox's bridge, the lock and run record as files, and a replacement
// launched for a run as a new host of the running sandbox.

import { loadSandbox, SandboxSecurityGroups, type SandboxInfo } from '../../../sandbox/index.ts';
import type { Host, Inventory } from '../../ports.ts';
import { DEFAULT_WAITS, type StepDeps } from '../../workflow/stepDeps.ts';
import { EtcdctlMembership } from '../etcdctl.ts';
import { SandboxArtifactStore } from './artifactServer.ts';
import { FileLock } from './fileLock.ts';
import { positiveInt } from '../../validate.ts';
import { SandboxHostRunner } from './hostRunner.ts';
import { SandboxProvisioning } from './provisioning.ts';
import path from 'node:path';

export interface SandboxDeps extends StepDeps {
  /** Stops the artifact server; call when the run ends. */
  close: () => Promise<void>;
}

/**
 * The hosts of a sandbox as the workflow sees them: no namespaces, no power state. Read anew for every
 * request, so a host launched into the sandbox for an earlier run is in later inventories.
 */
export function inventoryOfSandbox(sandbox: SandboxInfo): Inventory {
  return {
    cluster: sandbox.name,
    hosts: sandbox.hosts.map((h): Host => ({ name: h.name, hostname: h.hostname, ip: h.ip, roles: [...h.roles] })),
  };
}

/**
 * ETCD_REPLACE_LOCK_TTL_SECONDS: the lock's lifetime between renewals (default 7200 s). A run renews its
 * lock as it goes and a live holder keeps it past expiry; a short lifetime rehearses exactly that.
 */
function lockTtlFromEnv(): Partial<StepDeps['waits']> {
  const raw = process.env['ETCD_REPLACE_LOCK_TTL_SECONDS'];
  return raw === undefined || raw === '' ? {} : { lockTtlSeconds: positiveInt('ETCD_REPLACE_LOCK_TTL_SECONDS', raw, { max: 86_400 }) };
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
    resolveInventory: async (request) => request.inventory ?? inventoryOfSandbox(await refreshHosts()),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    now: () => new Date(),
    log,
    pid: process.pid,
    waits: { ...DEFAULT_WAITS, ...lockTtlFromEnv(), ...options.waits },
    close: () => artifacts.close(),
  };
}
