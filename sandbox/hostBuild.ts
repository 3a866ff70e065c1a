// Building one sandbox host: its files, its network namespace and veth, its mount and UTS namespaces
// (host-setup.sh) and its supervisor. `sandbox up` builds every host this way, and a host launched
// into a running sandbox for a run (sandbox/provision.ts) is built the same way as a spare.
import { spawn } from 'node:child_process';
import { openSync, closeSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { issueMasterServingCert } from './certs.ts';
import { hostEnv, nsenterArgs } from './exec.ts';
import { ANSIBLE_CFG, UNIT_FILES, renderEtcHosts, renderEtcdConf, renderEtcdPod, renderFlanneld, renderInventory, renderMasterConfig } from './files.ts';
import type { HostRecord, SandboxRecord } from './model.ts';
import { PREFIX_LEN, bridgeAlias, faultDirOf, hostMetaOf, hostRootOf, logDirOf, mntNsFile, utsNsFile } from './model.ts';
import { layOpenshiftAnsible } from './ansible.ts';
import { layHostSsh, refreshKnownHosts, SSHD_UNIT } from './ssh.ts';
import { hostLibOf, runOk, writeFileAtomic } from './util.ts';

/** The etcd package a master has installed (version and the repository it came from); null: none (spares, nodes). */
export interface HostEtcd {
  version: string;
  repo: string;
}

/** STATE/lib/etcd/vX.Y.Z: a build's copy that hosts can see; STATE/lib/etcd/absent: the "not installed" stubs. */
export const etcdLibDir = (stateDir: string, version: string | null) => path.join(stateDir, 'lib', 'etcd', version === null ? 'absent' : `v${version}`);

/** Where a master's static pod manifest waits until its member is started (sandbox up, one member at a time). */
export const stagedManifest = (stateDir: string, host: HostRecord) => path.join(hostMetaOf(stateDir, host.name), 'etcd.yaml.staged');

function requireEtcd(host: HostRecord, etcd: HostEtcd | null): HostEtcd {
  if (etcd === null) throw new Error(`${host.name} is a master: it needs its etcd version`);
  return etcd;
}

/** Directories and files a host starts with (everything under its root is what the host sees). */
export async function layHostFiles(record: SandboxRecord, stateDir: string, host: HostRecord, etcd: HostEtcd | null): Promise<void> {
  const root = hostRootOf(stateDir, host.name);
  const at = (file: string) => path.join(root, file);
  const members = record.hosts.filter((h) => h.kind === 'master');
  const dirs = [
    'etc/etcd',
    'etc/origin/node',
    'etc/sysconfig',
    'etc/ansible',
    'etc/profile.d',
    'etc/systemd/system/multi-user.target.wants',
    'run/lock',
    'usr/local/sbin',
    'var/lib/rpm-standin',
  ];
  if (host.kind === 'master') dirs.push('etc/origin/node/pods', 'etc/origin/master');
  await Promise.all([
    ...dirs.map((d) => fs.mkdir(at(d), { recursive: true })),
    fs.mkdir(at('var/lib/etcd'), { recursive: true, mode: 0o700 }),
    // /tmp and /var/tmp are the host's own, as on any real host: one host's (or sandbox's) scratch
    // files are never seen by another.
    ...['tmp', 'var/tmp'].map((d) => fs.mkdir(at(d), { recursive: true }).then(() => fs.chmod(at(d), 0o1777))),
    fs.mkdir(faultDirOf(stateDir, host.name), { recursive: true }),
    fs.mkdir(logDirOf(stateDir, host.name), { recursive: true }),
  ]);
  const writes: Array<Promise<unknown>> = [fs.writeFile(at('etc/hosts'), renderEtcHosts(record.hosts))];
  const link = (target: string, name: string) => writes.push(fs.symlink(target, at(name)));
  const units = ['iptables.service', 'sshd.service'];
  if (host.kind !== 'spare') units.push('flanneld.service');
  if (host.kind === 'master') units.push('etcd.service');
  for (const unit of units) writes.push(fs.writeFile(at(`etc/systemd/system/${unit}`), unit === 'sshd.service' ? SSHD_UNIT : (UNIT_FILES[unit] ?? '')));
  link('/etc/systemd/system/iptables.service', 'etc/systemd/system/multi-user.target.wants/iptables.service');
  link('/etc/systemd/system/sshd.service', 'etc/systemd/system/multi-user.target.wants/sshd.service');
  writes.push(layHostSsh(stateDir, host));
  if (host.kind !== 'spare') {
    link('/etc/systemd/system/flanneld.service', 'etc/systemd/system/multi-user.target.wants/flanneld.service');
    writes.push(fs.writeFile(at('etc/sysconfig/flanneld'), renderFlanneld(members)));
  }
  const standins = hostLibOf(stateDir).standins;
  link(path.join(standins, 'systemctl.sh'), 'usr/local/sbin/systemctl');
  link(path.join(standins, 'yum.sh'), 'usr/local/sbin/yum');
  link(path.join(standins, 'rpm.sh'), 'usr/local/sbin/rpm');
  if (host.kind === 'master') {
    const installed = requireEtcd(host, etcd);
    link(path.join(standins, 'master-restart.sh'), 'usr/local/sbin/master-restart');
    link(path.join(standins, 'master-exec.sh'), 'usr/local/sbin/master-exec');
    writes.push(fs.writeFile(at('etc/etcd/etcd.conf'), renderEtcdConf(host, members, installed.version)));
    // Placed into /etc/origin/node/pods by `up`, one member at a time.
    writes.push(fs.writeFile(stagedManifest(stateDir, host), renderEtcdPod(host, installed.version)));
    // A 3.11 master has the etcd RPM installed too (for etcdctl): the yum/rpm stand-ins' record.
    writes.push(fs.writeFile(at('var/lib/rpm-standin/etcd'), `${installed.version} ${installed.repo}\n`));
    writes.push(fs.writeFile(at('etc/origin/master/master-config.yaml'), renderMasterConfig(host, members)));
    writes.push(issueMasterServingCert(host, stateDir));
  }
  if (host.roles.includes('installer')) {
    writes.push(fs.writeFile(at('etc/ansible/hosts'), renderInventory(record.hosts)));
    writes.push(fs.writeFile(at('etc/ansible/ansible.cfg'), ANSIBLE_CFG));
    writes.push(layOpenshiftAnsible(stateDir, host));
  }
  await Promise.all(writes);
}

/** `ip -batch` lines for a host's network namespace and its veth on the sandbox's bridge. */
export function hostNetworkLines(record: SandboxRecord, host: HostRecord): string[] {
  return [
    `netns add ${host.netns}`,
    `link add ${host.veth} type veth peer name eth0 netns ${host.netns}`,
    `link set ${host.veth} alias ${bridgeAlias(record.name)}:${host.name}`,
    `link set ${host.veth} master ${record.bridge}`,
    `link set ${host.veth} up`,
  ];
}

/** Runs host-setup.sh in the host's network namespace and its new (persistent) mount and UTS namespaces. */
export async function setupHost(record: SandboxRecord, stateDir: string, host: HostRecord, etcd: HostEtcd | null): Promise<void> {
  await Promise.all([fs.writeFile(mntNsFile(stateDir, host.name), ''), fs.writeFile(utsNsFile(stateDir, host.name), '')]);
  const args = [
    `--net=/run/netns/${host.netns}`,
    '--',
    'unshare',
    `--mount=${mntNsFile(stateDir, host.name)}`,
    `--uts=${utsNsFile(stateDir, host.name)}`,
    '--propagation',
    'private',
    'bash',
    path.join(hostLibOf(stateDir).sh, 'host-setup.sh'),
    hostRootOf(stateDir, host.name),
    host.hostname,
    host.ip,
    String(PREFIX_LEN),
    host.kind,
    record.subnet,
    host.kind === 'master' ? '1' : '0',
    // /usr/bin/etcd and /usr/bin/etcdctl: the installed package's binaries, or "not installed" stubs.
    etcdLibDir(stateDir, host.kind === 'master' ? requireEtcd(host, etcd).version : null),
  ];
  await runOk('nsenter', args, { env: hostEnv(host.hostname), what: `setting up ${host.name}` });
}

/** Boots the host's supervisor (systemd + kubelet stand-in) inside its namespaces. */
export async function bootHost(stateDir: string, host: HostRecord): Promise<number> {
  const logFile = openSync(path.join(logDirOf(stateDir, host.name), 'init.log'), 'a');
  try {
    const child = spawn('nsenter', [...nsenterArgs(stateDir, host.name, host.netns), process.execPath, path.join(hostLibOf(stateDir).standins, 'init.mjs')], {
      stdio: ['ignore', logFile, logFile],
      detached: true,
      cwd: '/',
      env: hostEnv(host.hostname, {
        ER_HOST: host.name,
        ER_KIND: host.kind,
        ER_LOG_DIR: logDirOf(stateDir, host.name),
        ER_FAULT_DIR: faultDirOf(stateDir, host.name),
        ER_STANDINS: hostLibOf(stateDir).standins,
      }),
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid ?? 0));
      child.once('error', reject);
    });
    child.unref();
    // Whole or absent, never empty: `down`, `heal` and a watcher read it at any moment.
    await writeFileAtomic(initPidFile(stateDir, host.name), `${pid}\n`);
    return pid;
  } finally {
    closeSync(logFile);
  }
}

/** The supervisor's pid as bootHost recorded it. */
export const initPidFile = (stateDir: string, hostName: string) => path.join(hostMetaOf(stateDir, hostName), 'init.pid');

/**
 * Rewrites /etc/hosts on every host of the record (in place: each host has the file bind-mounted), so
 * every host resolves every other by name, as EC2's DNS resolves a newly launched instance; and the
 * installer's known_hosts, so it knows every host's SSH host key.
 */
export async function refreshEtcHosts(record: SandboxRecord, stateDir: string): Promise<void> {
  const text = renderEtcHosts(record.hosts);
  await refreshKnownHosts(record, stateDir);
  await Promise.all(
    record.hosts.map(async (h) => {
      const file = path.join(hostRootOf(stateDir, h.name), 'etc/hosts');
      let handle: fs.FileHandle;
      try {
        handle = await fs.open(file, 'r+');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // a host not laid out (yet)
        throw error;
      }
      try {
        if ((await handle.readFile('utf8')) === text) return;
        await handle.truncate(0);
        await handle.write(text, 0);
      } finally {
        await handle.close();
      }
    }),
  );
}
