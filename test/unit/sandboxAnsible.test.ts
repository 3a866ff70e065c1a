// The sandbox's SSH and Ansible files (sandbox/ssh.ts, sandbox/ansible.ts, sandbox/files.ts): sshd_config,
// known_hosts lines, the installer's inventory and ansible.cfg, the CA's openssl.cnf fragments, and the
// scaleup fault marker's task names.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../functions/errors.ts';
import { splitOpensslCnf, validateTaskName } from '../../sandbox/ansible.ts';
import { ANSIBLE_CFG, renderInventory } from '../../sandbox/files.ts';
import { hostRecordOf } from '../../sandbox/model.ts';
import { knownHostsLine, renderKnownHosts, renderSshdConfig } from '../../sandbox/ssh.ts';

const REPO = path.resolve(import.meta.dirname, '../..');
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB3m0aZ7cXkq2Vd8nW0p8sWl0nqz7rG1o6Qm2f5m4kQx root@master-0.sandbox.test';
const hosts = [
  hostRecordOf('lab', 0, 0, 'master-0', 'master', ['master', 'etcd', 'ca', 'installer']),
  hostRecordOf('lab', 0, 1, 'master-1', 'master', ['master', 'etcd']),
  hostRecordOf('lab', 0, 2, 'master-2', 'master', ['master', 'etcd']),
  hostRecordOf('lab', 0, 3, 'etcd-spare-0', 'spare', ['spare']),
  hostRecordOf('lab', 0, 4, 'node-0', 'node', ['node']),
];

describe('Function: renderSshdConfig', () => {
  it('listens on the host address only and lets root in by key only', () => {
    const lines = renderSshdConfig(hosts[1]!).split('\n');
    expect(lines).toContain(`ListenAddress ${hosts[1]!.ip}:22`);
    expect(lines).toContain('PermitRootLogin prohibit-password');
    expect(lines).toContain('PasswordAuthentication no');
    expect(lines).toContain('KbdInteractiveAuthentication no');
    expect(lines).toContain('HostKey /etc/ssh/ssh_host_ed25519_key');
    expect(lines.filter((l) => /^ListenAddress /.test(l))).toHaveLength(1);
  });
});

describe('Function: knownHostsLine and renderKnownHosts', () => {
  it('names each host by hostname, short name and IP, without the key comment', () => {
    expect(knownHostsLine(hosts[0]!, KEY)).toBe(`master-0.sandbox.test,master-0,${hosts[0]!.ip} ${KEY.split(' ').slice(0, 2).join(' ')}`);
    const text = renderKnownHosts(hosts.map((host) => ({ host, publicKey: `${KEY}\n` })));
    expect(text.split('\n')).toHaveLength(hosts.length + 1);
    expect(text).not.toContain('root@');
  });

  it('refuses anything but an ed25519 public key', () => {
    expect(() => knownHostsLine(hosts[0]!, 'ssh-rsa AAAA root@x')).toThrow(/not an ed25519 public key/);
    expect(() => knownHostsLine(hosts[0]!, 'ssh-ed25519 AAAA;rm root@x')).toThrow(/not an ed25519 public key/);
    expect(() => knownHostsLine(hosts[0]!, '')).toThrow(/not an ed25519 public key/);
  });
});

describe('Function: renderInventory', () => {
  it('logs Ansible in as root without sudo and keeps every other line of the fixture', () => {
    const text = renderInventory(hosts);
    const vars = /\[OSEv3:vars\]\n((?:.+\n)+)/.exec(text)?.[1]?.split('\n') ?? [];
    expect(vars).toContain('ansible_ssh_user=root');
    expect(vars).toContain('ansible_become=false');
    expect(text).not.toMatch(/^ansible_(ssh_)?user=ec2-user$/m);
    expect(vars).toContain('openshift_deployment_type=openshift-enterprise');
    expect(text).toContain('[etcd]\nmaster-0.sandbox.test\nmaster-1.sandbox.test\nmaster-2.sandbox.test\n');
    const fixture = readFileSync(path.join(REPO, 'sandbox/templates/hosts.ini'), 'utf8').split('\n');
    // One comment line more than the fixture's [OSEv3:vars], the sandbox's hosts in the host groups.
    const ownVars = fixture.slice(fixture.indexOf('[OSEv3:vars]'), fixture.indexOf('[masters]'));
    expect(vars.filter((l) => l !== '').length).toBe(ownVars.filter((l) => l !== '').length);
  });
});

describe('Constant: ANSIBLE_CFG', () => {
  it('reads /etc/ansible/hosts as root with host keys checked and no retry files', () => {
    for (const line of [
      'inventory = /etc/ansible/hosts',
      'remote_user = root',
      'host_key_checking = True',
      'retry_files_enabled = False',
      'interpreter_python = /usr/bin/python3',
    ]) {
      expect(ANSIBLE_CFG.split('\n')).toContain(line);
    }
  });
});

describe('Function: splitOpensslCnf', () => {
  it("splits the CA's openssl.cnf where the etcd role's openssl_append.j2 starts, and the template renders the rest back", () => {
    const cnf = readFileSync(path.join(REPO, 'sandbox/templates/openssl.cnf'), 'utf8');
    const { base, append } = splitOpensslCnf(cnf);
    expect(base + append).toBe(cnf);
    expect(base).toContain('[ req ]');
    expect(append.startsWith('\n[ etcd_v3_req ]\n')).toBe(true);
    const defaults = readFileSync(path.join(REPO, 'sandbox/standins/openshift-ansible/roles/etcd/defaults/main.yaml'), 'utf8');
    const vars = new Map<string, string>();
    for (const match of defaults.matchAll(/^(etcd_[a-z_]+): ['"]?([^'"\n]*)['"]?$/gm)) vars.set(match[1]!, match[2]!);
    const render = (text: string): string => text.replace(/\{\{ ([a-z_]+) \}\}/g, (_all, name: string) => render(vars.get(name) ?? `<${name}>`));
    const template = readFileSync(path.join(REPO, 'sandbox/standins/openshift-ansible/roles/etcd/templates/openssl_append.j2'), 'utf8');
    expect(render(template)).toBe(append);
  });

  it('refuses a file without the etcd sections', () => {
    expect(() => splitOpensslCnf('[ req ]\n')).toThrow(/etcd_v3_req/);
  });
});

describe('Function: validateTaskName', () => {
  it('takes a task name as ansible-playbook prints it, with or without its role', () => {
    expect(validateTaskName('etcd : Add new etcd members to cluster')).toBe('etcd : Add new etcd members to cluster');
    expect(validateTaskName(' Verify cluster is healthy ')).toBe('Verify cluster is healthy');
  });

  it('refuses empty, multi-line and over-long names with InvalidInputError', () => {
    for (const bad of ['', '   ', 'a\nb', 'x'.repeat(201), 'tab\there']) expect(() => validateTaskName(bad)).toThrow(InvalidInputError);
  });
});
