// `sandbox up`: builds the hosts, issues certificates, boots each host's supervisor, waits for a
// healthy etcd cluster and loads data. Per-host work runs in parallel; waits follow etcd's answers.
import { promises as fs } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { InvalidInputError } from '../functions/errors.ts';
import { SandboxError } from './errors.ts';
import { installCertificates, issueCertificates } from './certs.ts';
import { endpointHealthy, loadData, readClientTls } from './etcdClient.ts';
import type { ClientTls } from './etcdClient.ts';
import type { HostEtcd } from './hostBuild.ts';
import { bootHost, etcdLibDir, hostNetworkLines, layHostFiles, setupHost, stagedManifest } from './hostBuild.ts';
import type { HostRecord, SandboxInfo, SandboxRecord } from './model.ts';
import {
  MAX_HOSTS,
  PREFIX_LEN,
  bridgeAlias,
  bridgeMac,
  bridgeName,
  hostRootOf,
  nsDirOf,
  planHosts,
  stateDirOf,
  subnetOf,
  toInfo,
  validateSandboxName,
  writeRecord,
} from './model.ts';
import { claim } from './registry.ts';
import { refreshKnownHosts } from './ssh.ts';
import { layCaFragments } from './ansible.ts';
import type { EtcdBuild, RepoOffer } from './etcdBuilds.ts';
import { compareEtcdVersions } from '../functions/cluster/etcdVersion.ts';
import { defaultEtcdVersion, repoOffers, resolveEtcdBuild, validateEtcdVersion } from './etcdBuilds.ts';
import { teardown } from './down.ts';
import { logBuild } from './buildLog.ts';
import { hostLibOf, installHostLib, runOk, waitFor } from './util.ts';

export interface UpOptions {
  name: string;
  members: 3 | 5;
  spares: number;
  nodes: number;
  dataMb: number;
  /**
   * The etcd every member runs (X.Y.Z): 3.4.23 is Debian's, any other is vX.Y.Z/{etcd,etcdctl} under
   * $ETCD_REPLACE_ETCD_BUILDS. Omitted: $ETCD_REPLACE_ETCD_VERSION, else 3.2.22 when found, else 3.4.23.
   */
  etcdVersion?: string;
  /** Per-master exceptions, e.g. { 'master-2': '3.3.11' }: that member runs another version than its peers. */
  hostEtcdVersions?: Record<string, string>;
  /** Progress lines (stderr in the CLI). */
  progress?: (message: string) => void;
}

export function validateUpOptions(options: UpOptions): void {
  validateSandboxName(options.name);
  if (options.members !== 3 && options.members !== 5) throw new InvalidInputError('members', `must be 3 or 5, got ${String(options.members)}`);
  for (const [field, value, max] of [
    ['spares', options.spares, 10],
    ['nodes', options.nodes, 10],
    ['data-mb', options.dataMb, 1024],
  ] as const) {
    if (!Number.isInteger(value) || value < 0 || value > max) throw new InvalidInputError(field, `must be an integer from 0 to ${max}, got ${String(value)}`);
  }
  if (options.members + options.spares + options.nodes > MAX_HOSTS) {
    throw new InvalidInputError('hosts', `at most ${MAX_HOSTS} hosts per sandbox`);
  }
  if (options.etcdVersion !== undefined) validateEtcdVersion(options.etcdVersion);
  for (const [hostName, version] of Object.entries(options.hostEtcdVersions ?? {})) {
    const index = /^master-(\d+)$/.exec(hostName)?.[1];
    if (index === undefined || Number(index) >= options.members) {
      throw new InvalidInputError(
        'host-etcd-version',
        `"${hostName}" is not a master of this sandbox (master-0 to master-${options.members - 1}); spares get etcd through yum`,
      );
    }
    validateEtcdVersion(version, 'host-etcd-version');
  }
}

/** The etcd builds a sandbox needs, resolved on the machine before anything is built (exit 2 when missing). */
export interface EtcdPlan {
  /** The cluster's version (every member unless hostEtcdVersions says otherwise). */
  version: string;
  /** Why this version (the progress line). */
  reason: string;
  /** Version per master. */
  hosts: Record<string, string>;
  /** What the yum stand-in's repositories offer. */
  repos: RepoOffer[];
  /** Every build to copy into the state dir, by version. */
  builds: Map<string, EtcdBuild>;
}

export function planEtcd(
  options: Pick<UpOptions, 'members' | 'etcdVersion' | 'hostEtcdVersions'>,
  env: Record<string, string | undefined> = process.env,
): EtcdPlan {
  const chosen = options.etcdVersion === undefined ? defaultEtcdVersion(env) : null;
  const version = options.etcdVersion ?? chosen?.version ?? '';
  const cluster = resolveEtcdBuild(version, env);
  const reason = chosen?.reason ?? `etcd ${version} (--etcd-version) from ${cluster.source}`;
  const builds = new Map<string, EtcdBuild>([[version, cluster]]);
  const hosts: Record<string, string> = {};
  for (let i = 0; i < options.members; i++) {
    const hostVersion = options.hostEtcdVersions?.[`master-${i}`] ?? version;
    if (!builds.has(hostVersion)) builds.set(hostVersion, resolveEtcdBuild(hostVersion, env));
    hosts[`master-${i}`] = hostVersion;
  }
  const repos = repoOffers(version, env);
  for (const offer of repos) if (!builds.has(offer.build.version)) builds.set(offer.build.version, offer.build);
  return { version, reason, hosts, repos, builds };
}

const reposDirOf = (stateDir: string) => path.join(stateDir, 'lib', 'repos');

/** A hard link when the build is on the same filesystem (fast, no space), else a copy. */
async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await fs.link(from, to);
  } catch {
    await fs.copyFile(from, to);
    await fs.chmod(to, 0o755);
  }
}

/** Copies each build into the state dir, writes the repo catalogue and the "not installed" stubs. */
async function installEtcdBuilds(stateDir: string, plan: EtcdPlan): Promise<void> {
  const stub = path.join(hostLibOf(stateDir).standins, 'etcd-not-installed.sh');
  const absent = etcdLibDir(stateDir, null);
  await fs.mkdir(absent, { recursive: true });
  await Promise.all([
    ...[...plan.builds.values()].map(async (build) => {
      const dir = etcdLibDir(stateDir, build.version);
      await fs.mkdir(dir, { recursive: true });
      await Promise.all([linkOrCopy(build.etcd, path.join(dir, 'etcd')), linkOrCopy(build.etcdctl, path.join(dir, 'etcdctl'))]);
    }),
    fs.copyFile(stub, path.join(absent, 'etcd')).then(() => fs.chmod(path.join(absent, 'etcd'), 0o755)),
    fs.copyFile(stub, path.join(absent, 'etcdctl')).then(() => fs.chmod(path.join(absent, 'etcdctl'), 0o755)),
  ]);
  await fs.mkdir(reposDirOf(stateDir), { recursive: true });
  await Promise.all(
    plan.repos.map((offer) =>
      fs.writeFile(path.join(reposDirOf(stateDir), `${offer.repo}.list`), `etcd ${offer.build.version} ${etcdLibDir(stateDir, offer.build.version)}\n`),
    ),
  );
}

/** The repository a master's installed etcd package came from (the cluster's version: the OpenShift repo). */
function repoOf(plan: EtcdPlan, version: string): string {
  const offers = plan.repos.filter((o) => o.build.version === version);
  return offers[0]?.repo ?? 'installed';
}

const etcdVersionOf = (plan: EtcdPlan, host: HostRecord) => plan.hosts[host.name] ?? plan.version;

/** The etcd package a host of `up` starts with: masters the member's version, spares and nodes none. */
function hostEtcdOf(plan: EtcdPlan, host: HostRecord): HostEtcd | null {
  if (host.kind !== 'master') return null;
  const version = etcdVersionOf(plan, host);
  return { version, repo: repoOf(plan, version) };
}

/** GET https://IP:2380/version: the member's peer server answers (not just listens). */
function peerServing(host: HostRecord, tls: ClientTls): Promise<boolean> {
  return new Promise((resolve) => {
    const request = https.get(`https://${host.ip}:2380/version`, { ...tls, timeout: 500, agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode === 200));
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', () => resolve(false));
  });
}

/**
 * Hands each member's static pod manifest to its kubelet, one member at a time, each once the one
 * before serves its peers. A new etcd asks every peer URL for /members before it starts; a peer that
 * listens but does not serve yet costs it a 1 s timeout, so starting all at once costs ~1 s per peer.
 */
async function startMembers(record: SandboxRecord, stateDir: string, tls: ClientTls): Promise<void> {
  for (const host of record.hosts.filter((h) => h.kind === 'master')) {
    const pod = path.join(hostRootOf(stateDir, host.name), 'etc/origin/node/pods/etcd.yaml');
    await fs.rename(stagedManifest(stateDir, host), pod);
    await waitFor(`etcd on ${host.name} to serve its peers`, 30_000, 25, async () => ((await peerServing(host, tls)) ? true : undefined));
  }
}

/** The bridge on the machine, every host's netns and veth, in one `ip -batch`. */
async function buildNetwork(record: SandboxRecord): Promise<void> {
  const lines = [
    `link add ${record.bridge} address ${bridgeMac(record.index)} type bridge nf_call_iptables 0 nf_call_ip6tables 0 nf_call_arptables 0`,
    `link set ${record.bridge} alias ${bridgeAlias(record.name)}`,
    `addr add ${record.gateway}/${PREFIX_LEN} dev ${record.bridge}`,
    `link set ${record.bridge} up`,
  ];
  for (const host of record.hosts) lines.push(...hostNetworkLines(record, host));
  await runOk('ip', ['-batch', '-'], { input: `${lines.join('\n')}\n`, what: 'building the sandbox network' });
}

/** Mounts the namespace-file directory on itself with private propagation (unshare --mount needs it). */
async function prepareNsDir(stateDir: string): Promise<void> {
  const dir = nsDirOf(stateDir);
  await fs.mkdir(dir, { recursive: true });
  await runOk('sh', ['-c', 'mount --bind "$1" "$1" && mount --make-private "$1"', 'sh', dir], { what: 'mounting the namespace dir' });
}

export async function sandboxUp(options: UpOptions): Promise<SandboxInfo> {
  validateUpOptions(options);
  // Before anything exists: an unknown version is bad input (exit 2) and leaves nothing behind.
  const plan = planEtcd(options);
  const progress = options.progress ?? (() => undefined);
  progress(plan.reason);
  const mixed = Object.entries(plan.hosts).filter(([, v]) => v !== plan.version);
  if (mixed.length > 0) progress(`etcd per host: ${mixed.map(([h, v]) => `${h} ${v}`).join(', ')} (the others ${plan.version})`);
  const started = Date.now();
  const lap = (what: string) => progress(`${what} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  const index = await claim(options.name);
  const stateDir = stateDirOf(options.name);
  try {
    const { subnet, gateway } = subnetOf(index);
    const record: SandboxRecord = {
      name: options.name,
      index,
      subnet,
      gateway,
      bridge: bridgeName(index),
      createdAt: new Date().toISOString(),
      options: {
        members: options.members,
        spares: options.spares,
        nodes: options.nodes,
        dataMb: options.dataMb,
        etcdVersion: plan.version,
        ...(mixed.length > 0 ? { hostEtcdVersions: Object.fromEntries(mixed) } : {}),
      },
      etcdRepos: plan.repos.map((o) => ({ repo: o.repo, version: o.build.version })).sort((a, b) => compareEtcdVersions(a.version, b.version)),
      hosts: planHosts(options.name, index, options),
    };
    await writeRecord(record);
    await installHostLib(stateDir);
    await installEtcdBuilds(stateDir, plan);
    progress(`sandbox ${record.name}: ${subnet}, ${record.hosts.length} hosts`);
    await Promise.all([prepareNsDir(stateDir), buildNetwork(record), ...record.hosts.map((h) => layHostFiles(record, stateDir, h, hostEtcdOf(plan, h)))]);
    await refreshKnownHosts(record, stateDir);
    lap('network and files ready');
    const ca = record.hosts.find((h) => h.roles.includes('ca'));
    if (!ca) throw new SandboxError('no CA host');
    const others = record.hosts.filter((h) => h !== ca);
    await Promise.all([
      setupHost(record, stateDir, ca, hostEtcdOf(plan, ca)).then(async () => {
        await issueCertificates(record, stateDir);
        await Promise.all([installCertificates(record, stateDir), layCaFragments(record, stateDir)]);
        lap('certificates issued on master-0');
      }),
      ...others.map((h) => setupHost(record, stateDir, h, hostEtcdOf(plan, h))),
    ]);
    lap('hosts set up');
    await Promise.all(record.hosts.map((h) => bootHost(stateDir, h)));
    lap('hosts booted');
    const info = await toInfo(record);
    const tls = await readClientTls(info.client);
    await startMembers(record, stateDir, tls);
    lap('etcd members started');
    await waitFor('a healthy etcd cluster', 90_000, 100, async () => {
      const health = await Promise.all(info.client.endpoints.map((e) => endpointHealthy(e, tls)));
      return health.every(Boolean) ? true : undefined;
    });
    lap('etcd cluster healthy');
    if (options.dataMb > 0) {
      const keys = await loadData(info.client.endpoints, tls, options.dataMb);
      lap(`loaded ${options.dataMb} MiB (${keys} keys)`);
    }
    logBuild({ kind: 'sandbox', sandbox: record.name, hosts: record.hosts.length, etcdVersion: plan.version, seconds: (Date.now() - started) / 1000 });
    return info;
  } catch (error) {
    if (process.env.ETCD_REPLACE_KEEP_FAILED === '1') {
      progress(`up failed; keeping ${stateDir} for inspection (ETCD_REPLACE_KEEP_FAILED=1)`);
    } else {
      progress(`up failed; removing the half-built sandbox (set ETCD_REPLACE_KEEP_FAILED=1 to keep it)`);
      await teardown(options.name).catch(() => undefined);
    }
    throw error;
  }
}
