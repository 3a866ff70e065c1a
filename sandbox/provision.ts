// Hosts launched into a running sandbox for a run: `etcd-new-N` (the lowest free N), built exactly as
// `sandbox up` builds a spare (roles: spare), on the next free address of the sandbox's subnet. The
// record names the run that launched each (`launchedBy`), so a run finds its host again and removes
// only that one.
//
// Every change happens under the sandbox's hosts lock (STATE/hosts.lock), so two calls never add a
// host at once. The record gets the host, marked `building`, before anything is built: a call cut
// short (a crash) leaves an entry the run's next call finds, tears down and builds again. A removal
// takes the host off the machine first and drops its entry last, so it too is finished by calling
// again. Every other host learns the new one's name (/etc/hosts), as EC2's DNS would resolve it.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ProvisioningError, ReplacementNotReadyError, errorMessage } from '../functions/errors.ts';
import { SandboxError } from './errors.ts';
import { runId as validRunId } from '../functions/validate.ts';
import { bootHost, hostNetworkLines, layHostFiles, refreshEtcHosts, setupHost } from './hostBuild.ts';
import { removeHost } from './hostRemove.ts';
import type { HostRecord, SandboxHost, SandboxRecord } from './model.ts';
import {
  MAX_HOSTS,
  hostIndexOf,
  hostRecordOf,
  hostRootOf,
  hostsLockOf,
  launchedName,
  loadSandbox,
  readRecord,
  recordFile,
  sandboxHostOf,
  stateDirOf,
  validateSandboxName,
  writeRecord,
} from './model.ts';
import { withLockFile } from './registry.ts';
import { logBuild } from './buildLog.ts';
import { exists, runOk, waitFor } from './util.ts';

export interface ProvisionOptions {
  /** Progress lines. */
  progress?: (message: string) => void;
}

/** Longest a call waits for another call adding or removing a host of the same sandbox. */
const LOCK_WAIT_MS = 90_000;
/** Longest a new host's supervisor may take to boot (its iptables unit active). */
const BOOT_WAIT_MS = 30_000;

function withHostsLock<T>(name: string, heldError: (message: string) => Error, fn: () => Promise<T>): Promise<T> {
  return withLockFile(hostsLockOf(stateDirOf(name)), { what: `sandbox "${name}" (a host is being added or removed)`, timeoutMs: LOCK_WAIT_MS, heldError }, fn);
}

const launchedBy = (record: SandboxRecord, runId: string) => record.hosts.find((h) => h.launchedBy === runId);

/** The next host: the lowest free etcd-new-N on the lowest free address. */
function allocate(record: SandboxRecord, runId: string): HostRecord {
  const names = new Set(record.hosts.map((h) => h.name));
  let n = 0;
  while (names.has(launchedName(n))) n++;
  const used = new Set(record.hosts.map((h) => hostIndexOf(record.index, h.ip)));
  let hostIndex = 0;
  while (used.has(hostIndex)) hostIndex++;
  if (hostIndex >= MAX_HOSTS) throw new ProvisioningError(`sandbox "${record.name}" has no free address for another host (at most ${MAX_HOSTS} hosts)`);
  return {
    ...hostRecordOf(record.name, record.index, hostIndex, launchedName(n), 'spare', ['spare']),
    launchedBy: runId,
    launchedAt: new Date().toISOString(),
    building: true,
  };
}

/** The supervisor has booted: its iptables unit (started first, as at a real boot) and sshd (listening) are active. */
async function booted(stateDir: string, host: HostRecord): Promise<true | undefined> {
  const states = await Promise.all(
    ['iptables', 'sshd'].map((unit) => fs.readFile(path.join(hostRootOf(stateDir, host.name), 'run/systemd-standin/state', unit), 'utf8').catch(() => '')),
  );
  return states.every((state) => /^ActiveState=active$/m.test(state)) ? true : undefined;
}

/** Builds `host` (in `record` already) as `up` builds a spare, and waits until it has booted. */
async function buildHost(record: SandboxRecord, host: HostRecord): Promise<void> {
  const stateDir = stateDirOf(record.name);
  await runOk('ip', ['-batch', '-'], { input: `${hostNetworkLines(record, host).join('\n')}\n`, what: `building ${host.name}'s network` });
  await layHostFiles(record, stateDir, host, null);
  await setupHost(record, stateDir, host, null);
  await bootHost(stateDir, host);
  await waitFor(`${host.name} to boot`, BOOT_WAIT_MS, 50, () => booted(stateDir, host));
  await refreshEtcHosts(record, stateDir);
}

/** The host run `runId` launched into sandbox `name`, once it is built; null when there is none. */
export async function findProvisioned(name: string, runId: string): Promise<SandboxHost | null> {
  validateSandboxName(name);
  const id = validRunId('runId', runId);
  if (!(await exists(recordFile(stateDirOf(name))))) return null;
  const host = launchedBy(await readRecord(name), id);
  return host === undefined || host.building === true ? null : sandboxHostOf(stateDirOf(name), host);
}

/**
 * Launches a host into running sandbox `name` for run `runId`, or returns the one the run launched
 * already. A host the run left half-built is torn down and built again. ProvisioningError when no
 * host can be built (no free address, a failed step: the half-built host is removed again unless
 * ETCD_REPLACE_KEEP_FAILED=1); ReplacementNotReadyError while another call holds the sandbox's hosts.
 */
export async function provisionHost(name: string, runId: string, options: ProvisionOptions = {}): Promise<SandboxHost> {
  const id = validRunId('runId', runId);
  await loadSandbox(name); // exists and is not broken
  const stateDir = stateDirOf(name);
  const progress = options.progress ?? (() => undefined);
  return withHostsLock(
    name,
    (message) => new ReplacementNotReadyError(message),
    async () => {
      let record = await readRecord(name);
      const found = launchedBy(record, id);
      if (found !== undefined && found.building !== true) return sandboxHostOf(stateDir, found);
      let host: HostRecord;
      if (found !== undefined) {
        progress(`${found.name} of run ${id} is half-built: building it again`);
        host = found;
      } else {
        host = allocate(record, id);
        record = { ...record, hosts: [...record.hosts, host] };
        await writeRecord(record);
      }
      // Remains of an earlier attempt, or of an earlier host of that name: gone before anything is built.
      await removeHost(record, stateDir, host);
      progress(`building ${host.name} (${host.ip}) for run ${id}`);
      const started = Date.now();
      try {
        await buildHost(record, host);
      } catch (error) {
        if (process.env.ETCD_REPLACE_KEEP_FAILED === '1') {
          progress(`building ${host.name} failed; keeping it for inspection (ETCD_REPLACE_KEEP_FAILED=1)`);
        } else {
          await dropHost(record, host).catch(() => undefined);
        }
        throw new ProvisioningError(`cannot build ${host.name} in sandbox "${name}": ${errorMessage(error)}`, { cause: error });
      }
      logBuild({ kind: 'host', sandbox: name, hosts: 1, etcdVersion: record.options.etcdVersion ?? 'unknown', seconds: (Date.now() - started) / 1000 });
      const { building: _building, ...built } = host;
      const latest = await readRecord(name);
      await writeRecord({ ...latest, hosts: latest.hosts.map((h) => (h.name === host.name ? built : h)) });
      return sandboxHostOf(stateDir, built);
    },
  );
}

/** Takes `host` off the machine, then out of every other host's /etc/hosts and out of the record. */
async function dropHost(record: SandboxRecord, host: HostRecord): Promise<void> {
  const stateDir = stateDirOf(record.name);
  await removeHost(record, stateDir, host);
  const rest = { ...record, hosts: record.hosts.filter((h) => h.name !== host.name) };
  await refreshEtcHosts(rest, stateDir);
  await writeRecord(rest);
}

/**
 * Removes the host run `runId` launched into sandbox `name` (built or half-built) and nothing else:
 * `absent` when the run launched none (or the sandbox is gone).
 */
export async function removeProvisionedHost(name: string, runId: string): Promise<'removed' | 'absent'> {
  validateSandboxName(name);
  const id = validRunId('runId', runId);
  if (!(await exists(recordFile(stateDirOf(name))))) return 'absent';
  return withHostsLock(
    name,
    (message) => new SandboxError(message),
    async () => {
      const record = await readRecord(name);
      const host = launchedBy(record, id);
      if (host === undefined) return 'absent';
      await dropHost(record, host);
      return 'removed';
    },
  );
}
