// What a sandbox is made of: names, addresses, the state dir layout, and the record kept on disk.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Host, Role } from '../functions/ports.ts';
import { InvalidInputError } from '../functions/errors.ts';
import { SandboxError } from './errors.ts';
import { exists, writeFileAtomic } from './util.ts';

/** Machine-level state: one directory per sandbox, and the subnet registry beside them. */
export const STATE_ROOT = '/var/lib/etcd-replace';
export const SANDBOXES_DIR = path.join(STATE_ROOT, 'sandboxes');
export const REGISTRY_DIR = path.join(STATE_ROOT, 'registry');
export const REGISTRY_LOCK = path.join(STATE_ROOT, 'registry.lock');

export const DOMAIN = 'sandbox.test';
export const PREFIX_LEN = 27;
/** Documentation ranges, cut into /27s: 8 sandboxes per /24, 24 in all. */
const RANGES = ['198.51.100', '203.0.113', '192.0.2'];
export const MAX_SANDBOXES = RANGES.length * 8;
/** Hosts start at .2 of the /27 (.1 is the gateway on the machine's bridge); .31 is broadcast. */
export const MAX_HOSTS = 29;

export type HostKind = 'master' | 'spare' | 'node';
export type PowerState = 'running' | 'off' | 'partitioned';

export interface SandboxHost extends Host {
  netns: string;
  up: boolean;
  state: PowerState;
  /** The run that launched this host into the running sandbox (sandbox/provision.ts); absent for the hosts of `up`. */
  launchedBy?: string;
}

export interface SandboxInfo {
  name: string;
  subnet: string;
  gateway: string;
  hosts: SandboxHost[];
  client: { endpoints: string[]; cacert: string; cert: string; key: string };
  stateDir: string;
  /** When `up` built it (ISO): runs recorded before that were on another sandbox of the same name. */
  createdAt: string;
  /** The etcd version the members were started on (sandbox up --etcd-version); status has what runs now. */
  etcdVersion: string;
  /** What the hosts' `yum install etcd` finds: each RHEL 7 repository's etcd version, oldest first. */
  etcdRepos: EtcdRepo[];
}

export interface EtcdRepo {
  /** rhel-7-server-ose-3.11-rpms or rhel-7-server-extras-rpms. */
  repo: string;
  version: string;
}

/** Sandboxes recorded before etcd versions were chosen ran Debian's etcd. */
export const LEGACY_ETCD_VERSION = '3.4.23';

/** One host as recorded in sandbox.json (its power state lives in its own file). */
export interface HostRecord extends Host {
  kind: HostKind;
  netns: string;
  /** The machine-side end of its veth. */
  veth: string;
  /** The run that launched this host into the running sandbox (`etcd-new-N`, sandbox/provision.ts). */
  launchedBy?: string;
  launchedAt?: string;
  /** Set while a launched host is being built: not part of the sandbox yet (SandboxInfo leaves it out). */
  building?: true;
}

export interface SandboxRecord {
  name: string;
  index: number;
  subnet: string;
  gateway: string;
  bridge: string;
  createdAt: string;
  options: { members: number; spares: number; nodes: number; dataMb: number; etcdVersion?: string; hostEtcdVersions?: Record<string, string> };
  /** The yum stand-in's catalogue (also in STATE/lib/repos/REPO.list). */
  etcdRepos?: EtcdRepo[];
  hosts: HostRecord[];
}

const NAME_RE = /^[a-z][a-z0-9-]{0,15}$/;

export function validateSandboxName(name: string): string {
  if (!NAME_RE.test(name)) {
    throw new InvalidInputError('sandbox', `"${name}" must match ^[a-z][a-z0-9-]{0,15}$`);
  }
  return name;
}

export const stateDirOf = (name: string) => path.join(SANDBOXES_DIR, name);
export const recordFile = (stateDir: string) => path.join(stateDir, 'sandbox.json');
/** Held while hosts are added to or removed from a running sandbox (sandbox/provision.ts). */
export const hostsLockOf = (stateDir: string) => path.join(stateDir, 'hosts.lock');
/** Private-propagation mount holding the hosts' persistent mount and UTS namespace files. */
export const nsDirOf = (stateDir: string) => path.join(stateDir, 'ns');
export const mntNsFile = (stateDir: string, host: string) => path.join(nsDirOf(stateDir), `${host}.mnt`);
export const utsNsFile = (stateDir: string, host: string) => path.join(nsDirOf(stateDir), `${host}.uts`);
/** Per-host tree; HOST_ROOT/etc/etcd is the host's /etc/etcd, and so on. */
export const hostRootOf = (stateDir: string, host: string) => path.join(stateDir, 'hosts', host, 'root');
export const hostMetaOf = (stateDir: string, host: string) => path.join(stateDir, 'hosts', host);
export const powerFile = (stateDir: string, host: string) => path.join(hostMetaOf(stateDir, host), 'power');
export const faultDirOf = (stateDir: string, host: string) => path.join(hostMetaOf(stateDir, host), 'fault');
export const logDirOf = (stateDir: string, host: string) => path.join(stateDir, 'logs', host);
export const clientDirOf = (stateDir: string) => path.join(stateDir, 'client');

export const netnsName = (sandbox: string, host: string) => `er-${sandbox}-${host}`;
/** Interface names (≤ 15 characters) come from the registry index, not the sandbox name. */
export const bridgeName = (index: number) => `er${index}br`;
/**
 * The bridge's own MAC address, set when it is made (locally administered, one per sandbox index). A
 * bridge left to choose takes the lowest MAC of its ports and changes it as hosts are added and
 * removed, and the hosts' ARP entries for the gateway then point at an address nobody answers for a
 * while: uploads to the artifact store, which listens on the gateway, fail to connect.
 */
export const bridgeMac = (index: number) =>
  `02:65:72:00:${((index >> 8) & 0xff).toString(16).padStart(2, '0')}:${(index & 0xff).toString(16).padStart(2, '0')}`;
export const vethName = (index: number, hostIndex: number) => `er${index}h${hostIndex}`;
export const bridgeAlias = (sandbox: string) => `etcd-replace:${sandbox}`;
/** Host names a sandbox can have (`etcd-new-N`: launched into it for a run); anything else in an `er-` netns name is not ours. */
const HOST_NAMES = 'master-\\d+|etcd-spare-\\d+|etcd-new-\\d+|node-\\d+';
export const HOST_NAME_RE = new RegExp(`^(${HOST_NAMES})$`);
/** A network namespace name of some sandbox's host: er-<sandbox>-<host>. */
export const NETNS_NAME_RE = new RegExp(`^er-(.+)-(${HOST_NAMES})$`);
/** Hosts launched into a running sandbox for a run (sandbox/provision.ts). */
export const launchedName = (n: number) => `etcd-new-${n}`;

export function subnetOf(index: number): { subnet: string; gateway: string; base: string; offset: number } {
  const range = RANGES[Math.floor(index / 8)];
  if (range === undefined) throw new SandboxError(`no free subnet: at most ${MAX_SANDBOXES} sandboxes`);
  const offset = (index % 8) * 32;
  return { subnet: `${range}.${offset}/${PREFIX_LEN}`, gateway: `${range}.${offset + 1}`, base: range, offset };
}

/** Host `hostIndex` (0 to MAX_HOSTS - 1) of sandbox `name`: its address (.2 up) and interface names. */
export function hostRecordOf(name: string, index: number, hostIndex: number, short: string, kind: HostKind, roles: Role[]): HostRecord {
  if (!Number.isInteger(hostIndex) || hostIndex < 0 || hostIndex >= MAX_HOSTS)
    throw new SandboxError(`host index ${hostIndex} is out of range (at most ${MAX_HOSTS} hosts per sandbox)`);
  const { base, offset } = subnetOf(index);
  return {
    name: short,
    hostname: `${short}.${DOMAIN}`,
    ip: `${base}.${offset + 2 + hostIndex}`,
    roles,
    kind,
    netns: netnsName(name, short),
    veth: vethName(index, hostIndex),
  };
}

/** The host index an address of sandbox `index` stands for (the inverse of hostRecordOf's address). */
export function hostIndexOf(index: number, ip: string): number {
  const { base, offset } = subnetOf(index);
  const last = ip.startsWith(`${base}.`) ? Number(ip.slice(base.length + 1)) : NaN;
  return last - offset - 2;
}

/** Lays out the hosts of a sandbox: masters, then spares, then nodes, addresses from .2 up. */
export function planHosts(name: string, index: number, options: { members: number; spares: number; nodes: number }): HostRecord[] {
  const hosts: HostRecord[] = [];
  const add = (short: string, kind: HostKind, roles: Role[]) => {
    hosts.push(hostRecordOf(name, index, hosts.length, short, kind, roles));
  };
  for (let i = 0; i < options.members; i++) add(`master-${i}`, 'master', i === 0 ? ['master', 'etcd', 'ca', 'installer'] : ['master', 'etcd']);
  for (let i = 0; i < options.spares; i++) add(`etcd-spare-${i}`, 'spare', ['spare']);
  for (let i = 0; i < options.nodes; i++) add(`node-${i}`, 'node', ['node']);
  return hosts;
}

export async function readRecord(name: string): Promise<SandboxRecord> {
  const file = recordFile(stateDirOf(name));
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new SandboxError(`sandbox "${name}" does not exist (no ${file}); create it with: etcd-replace sandbox up --sandbox ${name}`);
  }
  try {
    return JSON.parse(text) as SandboxRecord;
  } catch (error) {
    throw new SandboxError(`sandbox "${name}" is broken: ${file} is not JSON`, { cause: error });
  }
}

/** Replaces sandbox.json atomically (`up` writes it first; hosts launched later change it under hostsLockOf). */
export async function writeRecord(record: SandboxRecord): Promise<void> {
  await writeFileAtomic(recordFile(stateDirOf(record.name)), `${JSON.stringify(record, null, 2)}\n`);
}

export async function readPower(stateDir: string, host: string): Promise<PowerState> {
  try {
    const text = (await fs.readFile(powerFile(stateDir, host), 'utf8')).trim();
    return text === 'off' || text === 'partitioned' ? text : 'running';
  } catch {
    return 'running';
  }
}

/** A host of the record as the sandbox's users see it, with its power state. */
export async function sandboxHostOf(stateDir: string, h: HostRecord): Promise<SandboxHost> {
  const state = await readPower(stateDir, h.name);
  return {
    name: h.name,
    hostname: h.hostname,
    ip: h.ip,
    roles: [...h.roles],
    netns: h.netns,
    up: state !== 'off',
    state,
    ...(h.launchedBy !== undefined ? { launchedBy: h.launchedBy } : {}),
  };
}

export async function toInfo(record: SandboxRecord): Promise<SandboxInfo> {
  const stateDir = stateDirOf(record.name);
  const hosts = await Promise.all(record.hosts.filter((h) => h.building !== true).map((h) => sandboxHostOf(stateDir, h)));
  const client = clientDirOf(stateDir);
  return {
    name: record.name,
    subnet: record.subnet,
    gateway: record.gateway,
    hosts,
    client: {
      endpoints: record.hosts.filter((h) => h.kind === 'master').map((h) => `https://${h.ip}:2379`),
      cacert: path.join(client, 'ca.crt'),
      cert: path.join(client, 'client.crt'),
      key: path.join(client, 'client.key'),
    },
    stateDir,
    createdAt: record.createdAt,
    etcdVersion: record.options.etcdVersion ?? LEGACY_ETCD_VERSION,
    etcdRepos: (record.etcdRepos ?? []).map((r) => ({ ...r })),
  };
}

export async function loadSandbox(name: string): Promise<SandboxInfo> {
  validateSandboxName(name);
  const record = await readRecord(name);
  if (!(await exists(path.join('/run/netns', record.hosts[0]?.netns ?? '-')))) {
    throw new SandboxError(`sandbox "${name}" is broken (its network namespaces are gone); remove it with: etcd-replace sandbox down --sandbox ${name}`);
  }
  return toInfo(record);
}

export function findHost(record: { name: string; hosts: HostRecord[] }, hostName: string): HostRecord {
  const host = record.hosts.find((h) => h.name === hostName);
  if (!host) {
    throw new InvalidInputError('host', `sandbox "${record.name}" has no host "${hostName}" (hosts: ${record.hosts.map((h) => h.name).join(', ')})`);
  }
  return host;
}
