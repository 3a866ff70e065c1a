// SSH on the sandbox hosts: Debian's OpenSSH sshd on every host (a unit of the host's supervisor,
// listening on the host's address, port 22), its own ed25519 host key and sshd_config in the host's
// /etc/ssh, root's /root per host. One client key pair per sandbox: the private key on the installer
// host (/root/.ssh/id_ed25519), the public key in every host's /root/.ssh/authorized_keys, and the
// installer's /root/.ssh/known_hosts listing every host's key by hostname, short name and IP, so
// Ansible on the installer reaches every host as root with StrictHostKeyChecking on.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { HostRecord, SandboxRecord } from './model.ts';
import { hostRootOf } from './model.ts';
import { runOk } from './util.ts';

/** The sandbox's client key pair (machine side): STATE/ssh/id_ed25519{,.pub}. */
export const sshClientKeyOf = (stateDir: string) => path.join(stateDir, 'ssh', 'id_ed25519');

/** A host's public host key, as the host has it in its /etc/ssh. */
export const hostKeyPubOf = (stateDir: string, hostName: string) => path.join(hostRootOf(stateDir, hostName), 'etc/ssh/ssh_host_ed25519_key.pub');

/** /etc/ssh/sshd_config of a host: root by key only, no passwords, the host's address only. */
export function renderSshdConfig(host: Pick<HostRecord, 'hostname' | 'ip'>): string {
  return [
    `# sshd_config of ${host.hostname}: root logs in by key only, no passwords.`,
    `ListenAddress ${host.ip}:22`,
    'HostKey /etc/ssh/ssh_host_ed25519_key',
    'PidFile /run/sshd.pid',
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'AuthorizedKeysFile .ssh/authorized_keys',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitEmptyPasswords no',
    'UsePAM no',
    'StrictModes yes',
    'UseDNS no',
    'X11Forwarding no',
    'PrintMotd no',
    'AcceptEnv LANG LC_*',
    'Subsystem sftp /usr/lib/openssh/sftp-server',
    '',
  ].join('\n');
}

/** /etc/ssh/ssh_config of a host (the client's): host keys checked, known_hosts in clear. */
export const SSH_CLIENT_CONFIG = [
  'Host *',
  '    StrictHostKeyChecking yes',
  '    HashKnownHosts no',
  '    GSSAPIAuthentication no',
  '    SendEnv LANG LC_*',
  '',
].join('\n');

/** The RHEL 7 unit the supervisor runs sshd from (Type=notify: active once it listens). */
export const SSHD_UNIT = `[Unit]
Description=OpenSSH server daemon
After=network.target sshd-keygen.service

[Service]
Type=notify
ExecStart=/usr/sbin/sshd -D -e -f /etc/ssh/sshd_config
ExecReload=/bin/kill -HUP $MAINPID
KillMode=process
Restart=on-failure
RestartSec=42s

[Install]
WantedBy=multi-user.target
`;

/** One known_hosts line: `hostname,short,ip ssh-ed25519 KEY` (the public key's comment dropped). */
export function knownHostsLine(host: Pick<HostRecord, 'hostname' | 'name' | 'ip'>, publicKey: string): string {
  const [type, key] = publicKey.trim().split(/\s+/);
  if (type === undefined || key === undefined || !/^ssh-ed25519$/.test(type) || !/^[A-Za-z0-9+/=]+$/.test(key)) {
    throw new Error(`${host.name}: not an ed25519 public key`);
  }
  return `${host.hostname},${host.name},${host.ip} ${type} ${key}`;
}

/** The installer's known_hosts: one line per host that has a host key (in the record's order). */
export function renderKnownHosts(entries: Array<{ host: Pick<HostRecord, 'hostname' | 'name' | 'ip'>; publicKey: string }>): string {
  return entries.map((e) => `${knownHostsLine(e.host, e.publicKey)}\n`).join('');
}

async function keygen(file: string, comment: string): Promise<void> {
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], { what: `ssh-keygen ${file}` });
}

const clientKeys = new Map<string, Promise<void>>();

/** The sandbox's client key pair, made once (idempotent: an existing pair is kept; concurrent callers share one ssh-keygen). */
export function ensureClientKey(stateDir: string): Promise<void> {
  let pending = clientKeys.get(stateDir);
  if (pending === undefined) {
    pending = (async () => {
      const key = sshClientKeyOf(stateDir);
      try {
        await fs.access(`${key}.pub`);
        return;
      } catch {
        // made below
      }
      await fs.mkdir(path.dirname(key), { recursive: true, mode: 0o700 });
      await fs.rm(key, { force: true });
      await keygen(key, `root@${path.basename(stateDir)}.installer`);
    })();
    clientKeys.set(stateDir, pending);
    // Only while it is being made: a sandbox of the same name built later (after down) makes its own.
    pending.then(
      () => clientKeys.delete(stateDir),
      () => clientKeys.delete(stateDir),
    );
  }
  return pending;
}

/**
 * A host's SSH files under its root: /etc/ssh (sshd_config, ssh_config, a new ed25519 host key),
 * /root/.ssh/authorized_keys with the sandbox's public key, sshd's privilege separation dir
 * /run/sshd, and on the installer the private key. known_hosts: refreshKnownHosts.
 */
export async function layHostSsh(stateDir: string, host: HostRecord): Promise<void> {
  const root = hostRootOf(stateDir, host.name);
  const at = (file: string) => path.join(root, file);
  await Promise.all([
    fs.mkdir(at('etc/ssh'), { recursive: true, mode: 0o755 }),
    fs.mkdir(at('root/.ssh'), { recursive: true, mode: 0o700 }).then(() => fs.chmod(at('root'), 0o700)),
    fs.mkdir(at('run/sshd'), { recursive: true, mode: 0o755 }),
    ensureClientKey(stateDir),
  ]);
  const hostKey = at('etc/ssh/ssh_host_ed25519_key');
  await fs.rm(hostKey, { force: true });
  await fs.rm(`${hostKey}.pub`, { force: true });
  const client = sshClientKeyOf(stateDir);
  const writes: Array<Promise<unknown>> = [
    keygen(hostKey, `root@${host.hostname}`),
    fs.writeFile(at('etc/ssh/sshd_config'), renderSshdConfig(host), { mode: 0o600 }),
    fs.writeFile(at('etc/ssh/ssh_config'), SSH_CLIENT_CONFIG),
    fs.copyFile(`${client}.pub`, at('root/.ssh/authorized_keys')).then(() => fs.chmod(at('root/.ssh/authorized_keys'), 0o600)),
  ];
  if (host.roles.includes('installer')) {
    writes.push(fs.copyFile(client, at('root/.ssh/id_ed25519')).then(() => fs.chmod(at('root/.ssh/id_ed25519'), 0o600)));
    writes.push(fs.copyFile(`${client}.pub`, at('root/.ssh/id_ed25519.pub')));
  }
  await Promise.all(writes);
}

/**
 * Rewrites the installer's /root/.ssh/known_hosts from every host's host key (a host launched into
 * the running sandbox is added, a removed one dropped). A host without a key yet is left out.
 */
export async function refreshKnownHosts(record: Pick<SandboxRecord, 'hosts'>, stateDir: string): Promise<void> {
  const installer = record.hosts.find((h) => h.roles.includes('installer'));
  if (installer === undefined) return;
  const entries = await Promise.all(
    record.hosts.map(async (host) => {
      try {
        return { host, publicKey: await fs.readFile(hostKeyPubOf(stateDir, host.name), 'utf8') };
      } catch {
        return null;
      }
    }),
  );
  const dir = path.join(hostRootOf(stateDir, installer.name), 'root/.ssh');
  try {
    await fs.access(dir);
  } catch {
    return; // the installer is not laid out (yet)
  }
  const file = path.join(dir, 'known_hosts');
  await fs.writeFile(`${file}.tmp`, renderKnownHosts(entries.filter((e) => e !== null)), { mode: 0o644 });
  await fs.rename(`${file}.tmp`, file);
}
