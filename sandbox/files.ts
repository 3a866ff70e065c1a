// Renders the OpenShift 3.11 host files from the fixtures (sandbox/templates/, copied from
// ../shared/fixtures/ocp311): same lines, comments and order, with this sandbox's values.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { HostRecord } from './model.ts';
import { DOMAIN } from './model.ts';
import { TEMPLATES_DIR } from './util.ts';
import { compareEtcdVersions } from '../functions/cluster/etcdVersion.ts';

const template = (name: string) => readFileSync(path.join(TEMPLATES_DIR, name), 'utf8');
const escapeRegex = (text: string) => text.replace(/[.\-\\^$*+?()[\]{}|]/g, (c) => `\\${c}`);

function setKey(text: string, key: string, value: string): string {
  const re = new RegExp(`^${key}=.*$`, 'm');
  if (!re.test(text)) throw new Error(`template has no ${key}=`);
  return text.replace(re, `${key}=${value}`);
}

/**
 * /etc/etcd/etcd.conf for a member. On etcd 3.4 and later, ETCD_ENABLE_V2=true is uncommented in place
 * (3.4 serves the v2 API only when asked; the runbook's `etcdctl cluster-health` is a v2 command). On
 * 3.2 and 3.3, which serve v2 by default, the line stays commented, as on an OpenShift 3.11 host.
 */
export function renderEtcdConf(host: HostRecord, members: HostRecord[], etcdVersion: string): string {
  let text = template('etcd.conf');
  text = setKey(text, 'ETCD_NAME', host.hostname);
  text = setKey(text, 'ETCD_LISTEN_PEER_URLS', `https://${host.ip}:2380`);
  text = setKey(text, 'ETCD_LISTEN_CLIENT_URLS', `https://${host.ip}:2379`);
  text = setKey(text, 'ETCD_INITIAL_ADVERTISE_PEER_URLS', `https://${host.ip}:2380`);
  text = setKey(text, 'ETCD_INITIAL_CLUSTER', members.map((m) => `${m.hostname}=https://${m.ip}:2380`).join(','));
  text = setKey(text, 'ETCD_INITIAL_CLUSTER_STATE', 'new');
  text = setKey(text, 'ETCD_ADVERTISE_CLIENT_URLS', `https://${host.ip}:2379`);
  if (compareEtcdVersions(etcdVersion, '3.4.0') >= 0) text = text.replace(/^#ETCD_ENABLE_V2=true$/m, 'ETCD_ENABLE_V2=true');
  return text;
}

/**
 * /etc/origin/node/pods/etcd.yaml: the fixture's static pod, its livenessProbe on this host's
 * address, its image tag the etcd version the host runs (the fixture's is 3.2.22).
 */
export function renderEtcdPod(host: HostRecord, etcdVersion?: string): string {
  const text = template('etcd.yaml').replace(/(- -C\n\s+- )https:\/\/[^\s:]+:2379/, `$1https://${host.ip}:2379`);
  return etcdVersion === undefined ? text : text.replace(/^(\s+image: registry\.redhat\.io\/rhel7\/etcd:).*$/m, `$1${etcdVersion}`);
}

/** /etc/origin/master/master-config.yaml: etcdClientInfo.urls by member hostname, this master's values. */
export function renderMasterConfig(host: HostRecord, members: HostRecord[]): string {
  let text = template('master-config.yaml');
  const urls = members.map((m) => `    - https://${m.hostname}:2379\n`).join('');
  text = text.replace(/(etcdClientInfo:\n(?: {2}.*\n)*? {2}urls:\n)((?: {4}- .*\n)+)/, (_all, head: string) => `${head}${urls}`);
  text = text.replace(/198\\\.51\\\.100\\\.10/g, escapeRegex(host.ip));
  text = text.replace(/master\\-0\\\.example\\\.com/g, escapeRegex(host.hostname));
  text = text.replace(/^( {2}masterIP: ).*$/m, `$1${host.ip}`);
  text = text.replace(/^( {2}masterCount: ).*$/m, `$1${members.length}`);
  text = text.replace(/https:\/\/master-0\.example\.com:8443/g, `https://${host.hostname}:8443`);
  return text.replace(/example\.com/g, DOMAIN);
}

/** /etc/sysconfig/flanneld with FLANNEL_ETCD_ENDPOINTS naming the members by hostname. */
export function renderFlanneld(members: HostRecord[]): string {
  const endpoints = members.map((m) => `https://${m.hostname}:2379`).join(',');
  return template('flanneld').replace(/^FLANNEL_ETCD_ENDPOINTS=.*$/m, `FLANNEL_ETCD_ENDPOINTS="${endpoints}"`);
}

/** /etc/ansible/hosts on the installer host: [masters], [etcd] and [nodes] for this sandbox. */
export function renderInventory(hosts: HostRecord[]): string {
  const masters = hosts.filter((h) => h.kind === 'master');
  const nodes = hosts.filter((h) => h.kind === 'node');
  const bodies: Record<string, string[]> = {
    masters: masters.map((h) => h.hostname),
    etcd: masters.map((h) => h.hostname),
    nodes: [
      ...masters.map((h) => `${h.hostname} openshift_node_group_name='node-config-master'`),
      ...nodes.map((h) => `${h.hostname} openshift_node_group_name='node-config-compute'`),
    ],
  };
  const lines = template('hosts.ini').split('\n');
  const out: string[] = [];
  let replacing = false;
  for (const line of lines) {
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      replacing = false;
      out.push(line);
      const body = bodies[header[1] ?? ''];
      if (body) {
        out.push(...body);
        replacing = true;
      }
      continue;
    }
    if (replacing) {
      if (line.trim() === '') {
        out.push(line);
        replacing = false;
      }
      continue;
    }
    out.push(line);
  }
  return sandboxSshVars(out.join('\n').replace(/example\.com/g, DOMAIN));
}

/**
 * [OSEv3:vars] for the sandbox: Ansible logs in as root by key (the fixture's EC2 user and sudo do not
 * exist on the sandbox hosts); every other line is the fixture's.
 */
function sandboxSshVars(text: string): string {
  const vars = /^\[OSEv3:vars\]\n/m;
  if (!vars.test(text)) throw new Error('inventory template has no [OSEv3:vars]');
  return text
    .replace(/^ansible_ssh_user=.*$/m, 'ansible_ssh_user=root')
    .replace(/^ansible_become=.*$/m, 'ansible_become=false')
    .replace(vars, '[OSEv3:vars]\n# sandbox: root over SSH by key, no sudo (on EC2: ansible_ssh_user=ec2-user, ansible_become=true)\n');
}

/** /etc/ansible/ansible.cfg on the installer host. */
export const ANSIBLE_CFG = `# /etc/ansible/ansible.cfg on the installer host
[defaults]
inventory = /etc/ansible/hosts
remote_user = root
host_key_checking = True
retry_files_enabled = False
interpreter_python = /usr/bin/python3
local_tmp = /root/.ansible/tmp
remote_tmp = /root/.ansible/tmp
forks = 20
gathering = smart
timeout = 10
# Ansible's linear strategy plus the sandbox's scaleup fault marker (sandbox fail HOST --mode scaleup).
strategy_plugins = /usr/share/ansible/openshift-ansible/sandbox_plugins/strategy
strategy = sandbox_linear

[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=30s
control_path_dir = /root/.ansible/cp
`;

/** /etc/hosts: localhost, then every host of the sandbox by full and short name. */
export function renderEtcHosts(hosts: HostRecord[]): string {
  return [
    '127.0.0.1   localhost localhost.localdomain localhost4 localhost4.localdomain4',
    '::1         localhost localhost.localdomain localhost6 localhost6.localdomain6',
    ...hosts.map((h) => `${h.ip} ${h.hostname} ${h.name}`),
    '',
  ].join('\n');
}

export const UNIT_FILES: Record<string, string> = {
  'iptables.service': `[Unit]
Description=IPv4 firewall with iptables
Before=network-pre.target
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/libexec/iptables/iptables.init start
ExecStop=/usr/libexec/iptables/iptables.init stop
Environment=BOOTUP=serial

[Install]
WantedBy=basic.target
`,
  'flanneld.service': `[Unit]
Description=Flanneld overlay address etcd agent
After=network.target
After=network-online.target
Wants=network-online.target
Before=docker.service

[Service]
Type=notify
EnvironmentFile=/etc/sysconfig/flanneld
ExecStart=/usr/bin/flanneld-start $FLANNEL_OPTIONS
Restart=on-failure

[Install]
WantedBy=multi-user.target
`,
  // The unit `yum install etcd` lays down: one file, used here and by the yum stand-in.
  'etcd.service': template('etcd.service'),
};
