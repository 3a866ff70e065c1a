// `sandbox fail`: the three ways a host fails.
//   kill:      powered off. The power state is recorded first (exec and the runner answer
//              "unreachable" from then on), every process in the host's namespaces is SIGKILLed, and
//              its link goes down (the machine-side veth).
//   etcd:      only etcd dies and stays down. The marker <state>/hosts/<host>/fault/etcd-failed (in the
//              sandbox's state dir, not in any path the workflow reads) tells the host's supervisor
//              not to start or restart etcd, as a static pod or as etcd.service; then the etcd
//              processes are SIGKILLed.
//   partition: the host runs but is cut off from every other host and from the machine: nft table
//              `inet sandbox_partition` in its network namespace drops everything but loopback.
//              exec and the runner still reach it (nsenter does not use the network, like SSM).
//   scaleup:   nothing breaks now: the marker <state>/hosts/<host>/fault/scaleup-task (the task's
//              name) makes the installer's openshift-ansible stand-in fail that task for that host,
//              once, the way Ansible reports a failed task (see sandbox/ansible.ts).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InvalidInputError } from '../functions/errors.ts';
import { armScaleupFault, validateTaskName } from './ansible.ts';
import { SandboxError } from './errors.ts';
import { killAllIn, processName } from './exec.ts';
import { faultDirOf, findHost, mntNsFile, powerFile, readPower, readRecord, stateDirOf, utsNsFile, validateSandboxName } from './model.ts';
import { runOk } from './util.ts';

export type FailMode = 'kill' | 'etcd' | 'partition' | 'scaleup';
export const FAIL_MODES: readonly FailMode[] = ['kill', 'etcd', 'partition', 'scaleup'];

export interface FailOptions {
  /** --mode scaleup: the task (its name as ansible-playbook prints it) that fails for the host. */
  task?: string;
}

const PARTITION_RULES = `table inet sandbox_partition {
  chain input {
    type filter hook input priority -300; policy drop;
    iifname "lo" accept
  }
  chain output {
    type filter hook output priority -300; policy drop;
    oifname "lo" accept
  }
}
`;

export async function failHost(name: string, hostName: string, mode: FailMode, options: FailOptions = {}): Promise<void> {
  validateSandboxName(name);
  if (!FAIL_MODES.includes(mode)) throw new InvalidInputError('mode', `must be one of ${FAIL_MODES.join(', ')}, got "${String(mode)}"`);
  if (mode === 'scaleup' && options.task === undefined) throw new InvalidInputError('task', '--mode scaleup needs --task "TASK NAME"');
  if (mode !== 'scaleup' && options.task !== undefined) throw new InvalidInputError('task', '--task goes with --mode scaleup only');
  if (options.task !== undefined) validateTaskName(options.task);
  const record = await readRecord(name);
  const host = findHost(record, hostName);
  const stateDir = stateDirOf(name);
  const netnsFile = path.join('/run/netns', host.netns);
  const power = await readPower(stateDir, host.name);
  switch (mode) {
    case 'kill': {
      await fs.writeFile(powerFile(stateDir, host.name), 'off\n');
      await killAllIn([netnsFile, mntNsFile(stateDir, host.name), utsNsFile(stateDir, host.name)]);
      await runOk('ip', ['link', 'set', host.veth, 'down'], { what: `taking ${host.name}'s link down` });
      return;
    }
    case 'etcd': {
      if (power === 'off') throw new SandboxError(`${host.name} is powered off`);
      await fs.mkdir(faultDirOf(stateDir, host.name), { recursive: true });
      await fs.writeFile(path.join(faultDirOf(stateDir, host.name), 'etcd-failed'), `${new Date().toISOString()}\n`);
      await killAllIn([netnsFile], async (pid) => (await processName(pid)) === 'etcd');
      return;
    }
    case 'scaleup': {
      await armScaleupFault(stateDir, host.name, options.task ?? '');
      return;
    }
    case 'partition': {
      if (power === 'off') throw new SandboxError(`${host.name} is powered off`);
      if (power !== 'partitioned') {
        await runOk('nsenter', [`--net=${netnsFile}`, '--', 'nft', '-f', '-'], { input: PARTITION_RULES, what: `partitioning ${host.name}` });
        await fs.writeFile(powerFile(stateDir, host.name), 'partitioned\n');
      }
      return;
    }
  }
}
