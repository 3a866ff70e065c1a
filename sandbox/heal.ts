// `sandbox heal`: undoes `sandbox fail`, whatever mode broke the host, as the failure ending would:
//   kill:      power comes back. The host boots as a real one does: its link comes up, /run starts empty
//              (tmpfs on RHEL 7), the kernel's iptables rules are gone until iptables.service restores
//              /etc/sysconfig/iptables, and its supervisor starts every enabled unit and the kubelet its
//              static pods. Its disks are as they were: etcd comes back with its OLD data dir and the
//              membership it had, and tries to rejoin its old cluster (the split brain a fence stops).
//   etcd:      the marker goes; the kubelet runs the pod again by itself, and a failed etcd.service that
//              is still enabled is started again (`systemctl --no-block start etcd`, the supervisor's own
//              restart); one disabled since (a restore's fence on the host) stays down.
//   partition: the table `inet sandbox_partition` goes.
//   scaleup:   the marker goes.
// What sits outside the host stays: the security group (`inet sandbox_sg`) and a fence
// (`inet sandbox_fence`, sandbox/securityGroup.ts) hold across a heal. Idempotent: a healthy host is
// left as it is (`healed` empty). A host whose supervisor is gone (a heal cut short after the power came
// back) is booted.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { scaleupFaultFile } from './ansible.ts';
import { SandboxError } from './errors.ts';
import { hostEnv, nsenterArgs, pidsInNamespaces } from './exec.ts';
import { bootHost, initPidFile } from './hostBuild.ts';
import type { HostRecord } from './model.ts';
import { faultDirOf, findHost, hostRootOf, powerFile, readPower, readRecord, stateDirOf, validateSandboxName } from './model.ts';
import { exists, run, runOk, waitFor } from './util.ts';

export interface HealResult {
  host: string;
  /** What was undone, in order; empty when the host was healthy. */
  healed: string[];
}

const PARTITION_TABLE = 'sandbox_partition';
/** How long heal waits for a booted host's supervisor to bring sshd up (every host runs it). */
const BOOT_WAIT_MS = 60_000;

async function removeIfThere(file: string): Promise<boolean> {
  if (!(await exists(file))) return false;
  await fs.rm(file, { force: true });
  return true;
}

/** Whether the host's supervisor (init.mjs, as bootHost recorded it) runs inside the host's network namespace. */
async function supervisorRunning(stateDir: string, host: HostRecord): Promise<boolean> {
  const pid = Number((await fs.readFile(initPidFile(stateDir, host.name), 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const inHost = await pidsInNamespaces([path.join('/run/netns', host.netns)]);
  if (!inHost.includes(pid)) return false;
  const state = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return state !== '' && state.slice(state.lastIndexOf(')') + 2, state.lastIndexOf(')') + 3) !== 'Z';
}

async function netnsRun(host: HostRecord, argv: string[]) {
  return run('nsenter', [`--net=/run/netns/${host.netns}`, '--', ...argv]);
}

/** A unit's ActiveState as the host's supervisor last wrote it (/run/systemd-standin/state/UNIT), or null. */
/** Whether a unit is enabled: its symlink in multi-user.target.wants, as the systemctl stand-in keeps it. */
async function unitEnabled(stateDir: string, host: HostRecord, unit: string): Promise<boolean> {
  const link = path.join(hostRootOf(stateDir, host.name), 'etc/systemd/system/multi-user.target.wants', `${unit}.service`);
  return fs.lstat(link).then(
    () => true,
    () => false,
  );
}

async function unitState(stateDir: string, host: HostRecord, unit: string): Promise<string | null> {
  const text = await fs.readFile(path.join(hostRootOf(stateDir, host.name), 'run/systemd-standin/state', unit), 'utf8').catch(() => null);
  return text === null ? null : (/^ActiveState=(\S+)$/m.exec(text)?.[1] ?? null);
}

/** Boots a powered-off host again: link up, an empty /run, no iptables rules in the kernel, then its supervisor. */
async function boot(stateDir: string, host: HostRecord): Promise<void> {
  await runOk('ip', ['link', 'set', host.veth, 'up'], { what: `bringing ${host.name}'s link up` });
  const runDir = path.join(hostRootOf(stateDir, host.name), 'run');
  for (const entry of await fs.readdir(runDir).catch(() => [])) await fs.rm(path.join(runDir, entry), { recursive: true, force: true });
  // What tmpfiles.d and sshd.service's RuntimeDirectory make again at boot.
  await Promise.all([fs.mkdir(path.join(runDir, 'lock'), { recursive: true }), fs.mkdir(path.join(runDir, 'sshd'), { recursive: true, mode: 0o755 })]);
  // What power loss does to the kernel's tables; iptables.service loads the saved rules at boot.
  await runOk(
    'nsenter',
    [
      `--net=/run/netns/${host.netns}`,
      '--',
      'sh',
      '-c',
      'iptables -P INPUT ACCEPT && iptables -P FORWARD ACCEPT && iptables -P OUTPUT ACCEPT && iptables -F && iptables -X',
    ],
    { what: `clearing ${host.name}'s iptables rules` },
  );
  await bootHost(stateDir, host);
}

export async function healHost(name: string, hostName: string): Promise<HealResult> {
  validateSandboxName(name);
  const record = await readRecord(name);
  const host = findHost(record, hostName);
  const stateDir = stateDirOf(name);
  const healed: string[] = [];

  if (await removeIfThere(scaleupFaultFile(stateDir, host.name))) healed.push('scaleup fault cleared');
  const etcdFault = await removeIfThere(path.join(faultDirOf(stateDir, host.name), 'etcd-failed'));
  if (etcdFault) healed.push('etcd fault cleared');

  const tables = await netnsRun(host, ['nft', 'list', 'tables']);
  if (tables.exitCode !== 0) throw new SandboxError(`nft on ${host.name}: ${tables.stderr.trim()}`);
  if (tables.stdout.split('\n').some((line) => line.trim() === `table inet ${PARTITION_TABLE}`)) {
    await runOk('nsenter', [`--net=/run/netns/${host.netns}`, '--', 'nft', 'delete', 'table', 'inet', PARTITION_TABLE], {
      what: `removing ${host.name}'s partition`,
    });
    healed.push('partition removed');
  }

  const power = await readPower(stateDir, host.name);
  if (!(await supervisorRunning(stateDir, host))) {
    await boot(stateDir, host);
    healed.push('booted');
  } else if (etcdFault && (await unitState(stateDir, host, 'etcd')) === 'failed' && (await unitEnabled(stateDir, host, 'etcd'))) {
    // The pod comes back by itself (the kubelet follows its manifest); a unit that failed waits for a start,
    // unless someone disabled it since (a restore's fence on the host): then it stays down.
    await runOk('nsenter', [...nsenterArgs(stateDir, host.name, host.netns), 'systemctl', '--no-block', 'start', 'etcd'], {
      env: hostEnv(host.hostname),
      what: `starting etcd.service on ${host.name}`,
    });
    healed.push('etcd.service started');
  }
  if (power !== 'running') {
    await fs.writeFile(powerFile(stateDir, host.name), 'running\n');
    if (!healed.includes('booted') && !healed.includes('partition removed')) healed.push('power state set to running');
  }
  if (healed.includes('booted')) {
    await waitFor(`${host.name} to boot (sshd.service active)`, BOOT_WAIT_MS, 100, async () =>
      (await unitState(stateDir, host, 'sshd')) === 'active' ? true : undefined,
    );
  }
  return { host: host.name, healed };
}
