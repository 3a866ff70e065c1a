// Ansible on the sandbox's installer host: the stand-in openshift-ansible tree at
// /usr/share/ansible/openshift-ansible (sandbox/standins/openshift-ansible, copied at up), the CA
// host's openssl.cnf fragments an openshift-ansible install leaves (so the etcd role's CA tasks find
// the CA as it installed it), and the scaleup fault marker (`sandbox fail HOST --mode scaleup`).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InvalidInputError } from '../functions/errors.ts';
import { OPENSHIFT_ANSIBLE_DIR } from '../statemachine/context.ts';
import type { HostRecord, SandboxRecord } from './model.ts';
import { faultDirOf, hostRootOf } from './model.ts';
import { hostLibOf } from './util.ts';

/** The marker file of a scaleup fault: the task's name, one line (read by the stand-in's strategy). */
export const scaleupFaultFile = (stateDir: string, hostName: string) => path.join(faultDirOf(stateDir, hostName), 'scaleup-task');

/** The tree's symlinks to its roles (relative, as openshift-ansible has them). */
const ROLE_LINKS: Record<string, string> = {
  'playbooks/roles': '../roles',
  'playbooks/init/roles': '../../roles',
  'playbooks/openshift-etcd/private/roles': '../../../roles',
};

/** A task name the marker can hold: one line of printable characters, as a TASK [...] line shows it. */
export function validateTaskName(task: string): string {
  if (typeof task !== 'string' || task.trim() === '' || task.length > 200 || !/^[\x20-\x7e]+$/.test(task)) {
    throw new InvalidInputError(
      'task',
      `must be a task name as ansible-playbook prints it in TASK [...] (1-200 printable characters), got ${JSON.stringify(task)}`,
    );
  }
  return task.trim();
}

/** Writes the scaleup fault marker for `hostName` (replacing an earlier one). */
export async function armScaleupFault(stateDir: string, hostName: string, task: string): Promise<void> {
  const name = validateTaskName(task);
  const file = scaleupFaultFile(stateDir, hostName);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(`${file}.tmp`, `${name}\n`);
  await fs.rename(`${file}.tmp`, file);
}

/**
 * The installer's copy of the stand-in openshift-ansible tree under its root, with the path of the
 * sandbox's per-host state (where the strategy looks for fault markers).
 */
export async function layOpenshiftAnsible(stateDir: string, host: HostRecord): Promise<void> {
  if (!host.roles.includes('installer')) return;
  const dest = path.join(hostRootOf(stateDir, host.name), OPENSHIFT_ANSIBLE_DIR.slice(1));
  await fs.mkdir(path.dirname(dest), { recursive: true });
  await fs.cp(path.join(hostLibOf(stateDir).standins, 'openshift-ansible'), dest, { recursive: true, verbatimSymlinks: true });
  // The playbooks find the roles through relative links, as in openshift-ansible (a copy made them absolute).
  await Promise.all(
    Object.entries(ROLE_LINKS).map(async ([link, target]) => {
      await fs.rm(path.join(dest, link), { force: true, recursive: false });
      await fs.symlink(target, path.join(dest, link));
    }),
  );
  await fs.writeFile(path.join(dest, 'sandbox_plugins', 'sandbox-hosts-dir'), `${path.join(stateDir, 'hosts')}\n`);
}

/** The line the etcd role's openssl_append.j2 template starts at (after the distribution's part). */
const APPEND_START = '\n[ etcd_v3_req ]\n';

/**
 * Splits openssl.cnf into what openshift-ansible assembles it from: fragments/openssl.cnf (the
 * distribution's file) and fragments/openssl_append.cnf (the etcd role's openssl_append.j2).
 */
export function splitOpensslCnf(text: string): { base: string; append: string } {
  const at = text.indexOf(APPEND_START);
  if (at < 0) throw new Error('openssl.cnf has no [ etcd_v3_req ] section');
  return { base: text.slice(0, at), append: text.slice(at) };
}

/** /etc/etcd/ca/fragments on the CA host, so the role's `assemble` gives the CA's openssl.cnf back unchanged. */
export async function layCaFragments(record: SandboxRecord, stateDir: string): Promise<void> {
  const ca = record.hosts.find((h) => h.roles.includes('ca'));
  if (!ca) return;
  const caDir = path.join(hostRootOf(stateDir, ca.name), 'etc/etcd/ca');
  const { base, append } = splitOpensslCnf(await fs.readFile(path.join(caDir, 'openssl.cnf'), 'utf8'));
  await fs.mkdir(path.join(caDir, 'fragments'), { recursive: true, mode: 0o700 });
  await Promise.all([fs.writeFile(path.join(caDir, 'fragments/openssl.cnf'), base), fs.writeFile(path.join(caDir, 'fragments/openssl_append.cnf'), append)]);
}
