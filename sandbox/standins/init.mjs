#!/usr/bin/env node
// The per-host supervisor of a sandbox host: the stand-ins for systemd and the kubelet, in one small
// process started in the host's namespaces by `sandbox up` (no dependencies beyond Node).
//
// kubelet: runs etcd as the static pod /etc/origin/node/pods/etcd.yaml describes (its container
//   command and args, in its workingDir; the image's /bin/sh is bash), restarts it 1 s after it dies
//   (restartPolicy Always; the real kubelet backs off from 10 s), and stops it (TERM, KILL after 3 s:
//   a leader with no peers can hang) within ~0.25 s of the manifest moving away. On masters it also
//   keeps the master API and controllers stand-ins running ("master-api", "master-controllers";
//   `master-restart api|controllers` restarts them).
// systemd: units etcd, flanneld, sshd and iptables, defined by their unit files in /etc/systemd/system
//   (present = installed) and enabled by a symlink in multi-user.target.wants (started at boot).
//   `systemctl` (sandbox/standins/systemctl.sh) talks to it through files in /run/systemd-standin.
//   etcd.service: EnvironmentFile=/etc/etcd/etcd.conf, `etcd` in /var/lib/etcd, Type=notify (start
//   waits until etcd logs that it serves clients, TimeoutStartSec=90), Restart=on-failure after 1 s.
//   iptables.service: start restores /etc/sysconfig/iptables, stop flushes (as iptables.init does).
// Faults: while ER_FAULT_DIR/etcd-failed exists (written by `sandbox fail HOST --mode etcd`, in the
//   sandbox's state dir, never in a path the workflow reads) etcd is neither started nor restarted,
//   as a pod or as a unit.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const hostName = process.env.ER_HOST ?? 'host';
const kind = process.env.ER_KIND ?? 'spare';
const logDir = process.env.ER_LOG_DIR ?? '/tmp';
const faultDir = process.env.ER_FAULT_DIR ?? '/nonexistent';
const standins = process.env.ER_STANDINS ?? path.dirname(new URL(import.meta.url).pathname);

const PODS_DIR = '/etc/origin/node/pods';
const UNIT_DIR = '/etc/systemd/system';
const WANTS_DIR = `${UNIT_DIR}/multi-user.target.wants`;
const CONTROL = '/run/systemd-standin';
const RESTART_DELAY_MS = 1000;
const STOP_GRACE_MS = 3000;
const PATH_ENV = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

for (const dir of [`${CONTROL}/requests`, `${CONTROL}/acks`, `${CONTROL}/state`]) fs.mkdirSync(dir, { recursive: true });

function log(message) {
  process.stdout.write(`${new Date().toISOString()} ${hostName} init: ${message}\n`);
}

const etcdFailed = () => fs.existsSync(path.join(faultDir, 'etcd-failed'));

/** One supervised process: a static pod, an internal master process, or a systemd service. */
class Service {
  constructor(name, spec) {
    this.name = name;
    this.spec = spec; // { argv, cwd, restart: 'always'|'on-failure', notify?: RegExp, isEtcd?: boolean, unit?: boolean }
    this.child = null;
    this.state = 'inactive';
    this.wanted = false;
    this.restartTimer = null;
    this.killTimer = null;
    this.readyWaiters = [];
    this.stopWaiters = [];
  }

  writeState() {
    if (!this.spec.unit) return;
    const text = `ActiveState=${this.state}\nMainPID=${this.child?.pid ?? 0}\n`;
    fs.writeFileSync(`${CONTROL}/state/${this.name}.tmp`, text);
    fs.renameSync(`${CONTROL}/state/${this.name}.tmp`, `${CONTROL}/state/${this.name}`);
  }

  setState(state) {
    this.state = state;
    this.writeState();
  }

  /** Starts the process if it is not running; resolves once started (or ready, for notify units). */
  start() {
    this.wanted = true;
    clearTimeout(this.restartTimer);
    this.restartTimer = null;
    if (this.spec.isEtcd && etcdFailed()) {
      this.setState('failed');
      return Promise.resolve({ ok: false, message: 'etcd is failed on this host (sandbox fault)' });
    }
    if (this.child) {
      if (this.state === 'active') return Promise.resolve({ ok: true });
      return new Promise((resolve) => this.readyWaiters.push(resolve));
    }
    const spec = typeof this.spec.build === 'function' ? this.spec.build() : this.spec;
    if (!spec) {
      this.setState('failed');
      return Promise.resolve({ ok: false, message: `${this.name}: nothing to run` });
    }
    const logFile = fs.openSync(path.join(logDir, `${this.name}.log`), 'a');
    const notify = this.spec.notify;
    const child = spawn(spec.argv[0], spec.argv.slice(1), {
      cwd: spec.cwd ?? '/',
      env: { PATH: PATH_ENV, HOME: '/root', LANG: 'C.UTF-8', SHLVL: '1', ...(spec.env ?? {}) },
      stdio: ['ignore', notify ? 'pipe' : logFile, notify ? 'pipe' : logFile],
      detached: true,
    });
    fs.closeSync(logFile);
    this.child = child;
    log(`${this.name}: started pid ${child.pid}: ${spec.argv.join(' ')}`);
    const promise = new Promise((resolve) => this.readyWaiters.push(resolve));
    if (notify) {
      this.setState('activating');
      const out = fs.createWriteStream(path.join(logDir, `${this.name}.log`), { flags: 'a' });
      let seen = '';
      const onData = (chunk) => {
        out.write(chunk);
        if (this.state === 'activating') {
          seen = (seen + chunk.toString()).slice(-4096);
          if (notify.test(seen)) this.becameActive();
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('close', () => out.end());
      const timeout = (this.spec.timeoutStartSec ?? 90) * 1000;
      setTimeout(() => {
        if (this.child === child && this.state === 'activating') {
          log(`${this.name}: start timed out`);
          this.resolveReady({ ok: false, message: `${this.name}.service start operation timed out` });
          this.kill(child);
        }
      }, timeout).unref();
    } else {
      this.becameActive();
    }
    child.on('error', (error) => log(`${this.name}: ${error.message}`));
    child.on('exit', (code, signal) => this.exited(child, code, signal));
    return promise;
  }

  becameActive() {
    this.setState('active');
    this.resolveReady({ ok: true });
  }

  resolveReady(result) {
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const resolve of waiters) resolve(result);
  }

  exited(child, code, signal) {
    if (this.child !== child) return;
    this.child = null;
    clearTimeout(this.killTimer);
    log(`${this.name}: pid ${child.pid} exited (${signal ?? code})`);
    const failed = !(code === 0 && !signal) && this.wanted;
    if (this.state === 'activating') this.resolveReady({ ok: false, message: `${this.name} exited during start (${signal ?? code})` });
    this.resolveReady({ ok: false, message: `${this.name} exited` });
    const stopWaiters = this.stopWaiters;
    this.stopWaiters = [];
    for (const resolve of stopWaiters) resolve({ ok: true });
    if (!this.wanted) {
      this.setState('inactive');
      return;
    }
    this.setState(failed ? 'failed' : 'inactive');
    const restart = this.spec.restart === 'always' || (this.spec.restart === 'on-failure' && failed);
    if (restart) {
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        if (this.wanted && !this.child && this.shouldRun()) void this.start();
      }, RESTART_DELAY_MS);
    }
  }

  shouldRun() {
    return !(this.spec.isEtcd && etcdFailed()) && (typeof this.spec.shouldRun !== 'function' || this.spec.shouldRun());
  }

  kill(child, hard = false) {
    try {
      process.kill(-child.pid, hard ? 'SIGKILL' : 'SIGTERM');
    } catch {
      // already gone
    }
    if (!hard) {
      clearTimeout(this.killTimer);
      this.killTimer = setTimeout(() => {
        if (this.child === child) {
          log(`${this.name}: pid ${child.pid} ignored SIGTERM for ${STOP_GRACE_MS} ms, sending SIGKILL`);
          this.kill(child, true);
        }
      }, STOP_GRACE_MS);
    }
  }

  /** Stops the process; resolves once it has exited. */
  stop(hard = false) {
    this.wanted = false;
    clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const child = this.child;
    if (!child) {
      if (this.state !== 'failed') this.setState('inactive');
      return Promise.resolve({ ok: true });
    }
    this.setState('deactivating');
    log(`${this.name}: stopping pid ${child.pid}${hard ? ' (SIGKILL)' : ''}`);
    const promise = new Promise((resolve) => this.stopWaiters.push(resolve));
    this.kill(child, hard);
    return promise;
  }
}

// --- static pods ------------------------------------------------------------------------------------

/** Reads the etcd container of a static pod manifest: command, args (block scalar) and workingDir. */
function readPodManifest(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const commandMatch = /^\s*command:\s*(\[.*\])\s*$/m.exec(text);
  const workingDirMatch = /^\s*workingDir:\s*(\S+)\s*$/m.exec(text);
  const argsMatch = /^(\s*)args:\s*\n\1- \|\n((?:\1 {2}.*\n|\s*\n)*)/m.exec(text);
  if (!commandMatch || !argsMatch) return null;
  let command;
  try {
    command = JSON.parse(commandMatch[1]);
  } catch {
    return null;
  }
  const indent = `${argsMatch[1]}  `;
  const script = argsMatch[2]
    .split('\n')
    .map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line.trim()))
    .join('\n');
  // The etcd image's /bin/sh is bash (the script uses `source`); Debian's is dash.
  const argv = command.map((word) => (word === '/bin/sh' ? '/bin/bash' : word));
  return { argv: [...argv, script], cwd: workingDirMatch ? workingDirMatch[1] : '/' };
}

const etcdManifest = path.join(PODS_DIR, 'etcd.yaml');
const etcdPod = new Service('etcd-pod', {
  restart: 'always',
  isEtcd: true,
  build: () => readPodManifest(etcdManifest),
  shouldRun: () => fs.existsSync(etcdManifest),
});

const masterProcesses =
  kind === 'master'
    ? {
        'master-api': new Service('master-api', {
          restart: 'always',
          unit: true,
          argv: [process.execPath, path.join(standins, 'master-api.mjs'), 'api'],
        }),
        'master-controllers': new Service('master-controllers', {
          restart: 'always',
          unit: true,
          argv: ['/bin/bash', path.join(standins, 'master-controllers.sh')],
        }),
      }
    : {};

// --- systemd units ----------------------------------------------------------------------------------

const units = {
  etcd: new Service('etcd', {
    unit: true,
    restart: 'on-failure',
    isEtcd: true,
    notify: /ready to serve client (requests|traffic)/,
    timeoutStartSec: 90,
    argv: ['/bin/bash', '-c', 'set -o allexport; if [ -f /etc/etcd/etcd.conf ]; then source /etc/etcd/etcd.conf; fi; set +o allexport; exec /usr/bin/etcd'],
    cwd: '/var/lib/etcd',
  }),
  // OpenSSH's sshd (Debian's binary, RHEL 7's unit): Type=notify, active once it listens.
  sshd: new Service('sshd', {
    unit: true,
    restart: 'on-failure',
    notify: /Server listening on/,
    timeoutStartSec: 90,
    argv: ['/usr/sbin/sshd', '-D', '-e', '-f', '/etc/ssh/sshd_config'],
  }),
  flanneld: new Service('flanneld', {
    unit: true,
    restart: 'on-failure',
    argv: ['/bin/bash', path.join(standins, 'flanneld.sh')],
  }),
};

const iptablesUnit = {
  name: 'iptables',
  state: 'inactive',
  wanted: false,
  run(args) {
    const result = spawnSync('/bin/bash', ['-c', args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: PATH_ENV, SHLVL: '1' } });
    if (result.stderr) log(`iptables: ${result.stderr.trim()}`);
    return result.status === 0;
  },
  writeState() {
    fs.writeFileSync(`${CONTROL}/state/iptables.tmp`, `ActiveState=${this.state}\nMainPID=0\n`);
    fs.renameSync(`${CONTROL}/state/iptables.tmp`, `${CONTROL}/state/iptables`);
  },
  async start() {
    const ok = this.run('if [ -f /etc/sysconfig/iptables ]; then iptables-restore /etc/sysconfig/iptables; fi');
    this.state = ok ? 'active' : 'failed';
    this.writeState();
    return ok ? { ok: true } : { ok: false, message: 'iptables-restore failed' };
  },
  async stop() {
    this.run('iptables -P INPUT ACCEPT; iptables -P FORWARD ACCEPT; iptables -P OUTPUT ACCEPT; iptables -F; iptables -X');
    this.state = 'inactive';
    this.writeState();
    return { ok: true };
  },
};

function unitByName(name) {
  if (name === 'iptables') return iptablesUnit;
  return units[name] ?? masterProcesses[name] ?? null;
}

const unitInstalled = (name) => masterProcesses[name] !== undefined || fs.existsSync(path.join(UNIT_DIR, `${name}.service`));

// --- control requests from systemctl / master-restart ----------------------------------------------

const busy = new Map(); // unit -> promise chain, one operation at a time per unit

async function perform(action, name) {
  const unit = unitByName(name);
  if (!unit || !unitInstalled(name)) return { ok: false, code: 5, message: `Unit ${name}.service not found.` };
  switch (action) {
    case 'start':
      return unit.start();
    case 'stop':
      return unit.stop();
    case 'restart': {
      await unit.stop();
      return unit.start();
    }
    default:
      return { ok: false, message: `unknown action ${action}` };
  }
}

function handleRequest(file) {
  const nonce = path.basename(file, '.req');
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
    fs.unlinkSync(file);
  } catch {
    return;
  }
  // A third word `noack` (systemctl --no-block): nobody waits for the answer, so none is written.
  const [action = '', name = '', mode = ''] = text.trim().split(/\s+/);
  log(`request ${nonce}: ${action} ${name}`);
  const previous = busy.get(name) ?? Promise.resolve();
  const next = previous
    .then(() => perform(action, name))
    .catch((error) => ({ ok: false, message: String(error) }))
    .then((result) => {
      if (mode !== 'noack') {
        const ack = `result=${result.ok ? 'success' : 'failed'}\ncode=${result.code ?? (result.ok ? 0 : 1)}\nmessage=${result.message ?? ''}\n`;
        fs.writeFileSync(`${CONTROL}/acks/${nonce}.tmp`, ack);
        fs.renameSync(`${CONTROL}/acks/${nonce}.tmp`, `${CONTROL}/acks/${nonce}`);
      }
      log(`request ${nonce}: ${result.ok ? 'done' : `failed: ${result.message}`}`);
    });
  busy.set(name, next);
}

// --- the loop ---------------------------------------------------------------------------------------

function reconcile() {
  // Requests.
  let requests = [];
  try {
    requests = fs.readdirSync(`${CONTROL}/requests`).filter((f) => f.endsWith('.req'));
  } catch {
    // no requests dir yet
  }
  for (const file of requests.sort()) handleRequest(path.join(`${CONTROL}/requests`, file));

  // Faults: etcd stays down.
  if (etcdFailed()) {
    for (const service of [etcdPod, units.etcd]) {
      if (service.child) {
        const child = service.child;
        service.kill(child, true);
      }
      clearTimeout(service.restartTimer);
      service.restartTimer = null;
    }
  }

  // The kubelet: the static pod follows its manifest.
  const manifest = fs.existsSync(etcdManifest);
  if (manifest && !etcdPod.child && !etcdPod.restartTimer && !etcdFailed()) {
    void etcdPod.start();
  } else if (!manifest && etcdPod.child && etcdPod.wanted) {
    log('etcd-pod: manifest gone, stopping the pod');
    void etcdPod.stop();
  } else if (!manifest && etcdPod.restartTimer) {
    clearTimeout(etcdPod.restartTimer);
    etcdPod.restartTimer = null;
    etcdPod.wanted = false;
  }
}

function boot() {
  log(`booting (${kind})`);
  let wanted = [];
  try {
    wanted = fs.readdirSync(WANTS_DIR).map((f) => f.replace(/\.service$/, ''));
  } catch {
    // nothing enabled
  }
  // iptables first, like a real boot (network-pre.target).
  if (wanted.includes('iptables') && unitInstalled('iptables')) void iptablesUnit.start();
  for (const name of wanted) {
    if (name !== 'iptables' && units[name] && unitInstalled(name)) void units[name].start();
  }
  for (const service of Object.values(masterProcesses)) void service.start();
  reconcile();
}

for (const dir of [PODS_DIR, `${CONTROL}/requests`, faultDir]) {
  try {
    fs.watch(dir, () => reconcile());
  } catch {
    // polled below anyway
  }
}
setInterval(reconcile, 250);

process.on('SIGTERM', async () => {
  log('SIGTERM: stopping everything');
  await Promise.all([etcdPod, ...Object.values(units), ...Object.values(masterProcesses)].map((s) => s.stop(true)));
  process.exit(0);
});

boot();
