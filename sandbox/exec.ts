// Entering a sandbox host: nsenter into its network, mount and UTS namespaces. Also finds the
// processes that belong to a host (by namespace, as `ip netns pids` does).
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { HostUnreachableError, InvalidInputError, ScriptTimedOutError } from '../functions/errors.ts';
import { SandboxError } from './errors.ts';
import type { SandboxInfo } from './model.ts';
import { mntNsFile, readPower, utsNsFile } from './model.ts';
import { HOST_PATH, exists, signalNumber } from './util.ts';

export interface HostExecOptions {
  stdin?: string | Buffer;
  timeoutMs?: number;
  env?: Record<string, string>;
  /** Cancels the command: its process group is killed, and the call rejects with the signal's reason once it has exited. */
  signal?: AbortSignal;
}

export interface HostExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** The nsenter argv prefix that runs a command inside a host (its net + mount + UTS namespaces). */
export function nsenterArgs(stateDir: string, hostName: string, netns: string): string[] {
  return [`--net=/run/netns/${netns}`, `--mount=${mntNsFile(stateDir, hostName)}`, `--uts=${utsNsFile(stateDir, hostName)}`, '--'];
}

/** The environment a host command starts with (a login-like root environment, PATH as on RHEL). */
export function hostEnv(hostname: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // SHLVL=1: bash must not take a socketpair stdin for sshd and source the machine's ~/.bashrc.
  return { PATH: HOST_PATH, HOME: '/root', LANG: 'C.UTF-8', USER: 'root', LOGNAME: 'root', HOSTNAME: hostname, SHLVL: '1', ...extra };
}

/** Resolves the host, checks it can run anything, and returns how to enter it. */
export async function prepareExec(sandbox: SandboxInfo, hostName: string): Promise<{ args: string[]; env: NodeJS.ProcessEnv }> {
  const host = sandbox.hosts.find((h) => h.name === hostName);
  if (!host) throw new InvalidInputError('host', `sandbox "${sandbox.name}" has no host "${hostName}" (hosts: ${sandbox.hosts.map((h) => h.name).join(', ')})`);
  const power = await readPower(sandbox.stateDir, hostName);
  if (power === 'off') {
    throw new HostUnreachableError(`${hostName} is unreachable: the host is powered off (sandbox fail --mode kill)`);
  }
  if (!(await exists(`/run/netns/${host.netns}`)) || !(await exists(mntNsFile(sandbox.stateDir, hostName)))) {
    throw new HostUnreachableError(`${hostName} is unreachable: its namespaces are gone (sandbox "${sandbox.name}" is broken; run sandbox down)`);
  }
  return { args: nsenterArgs(sandbox.stateDir, hostName, host.netns), env: hostEnv(host.hostname) };
}

/**
 * Runs argv on a host, capturing output. Throws HostUnreachableError for a powered-off host and
 * ScriptTimedOutError (after killing the process group) when timeoutMs passes; when options.signal
 * aborts, kills the process group and rejects with the signal's reason once the command has exited.
 */
export async function hostExec(sandbox: SandboxInfo, hostName: string, argv: string[], options: HostExecOptions = {}): Promise<HostExecResult> {
  if (argv.length === 0) throw new SandboxError('hostExec: empty command');
  const signal = options.signal;
  if (signal?.aborted) throw abortError(signal, argv[0]!, hostName);
  const { args, env } = await prepareExec(sandbox, hostName);
  if (signal?.aborted) throw abortError(signal, argv[0]!, hostName);
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [...args, ...argv], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...env, ...(options.env ?? {}) },
      cwd: '/',
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            try {
              process.kill(-(child.pid ?? 0), 'SIGKILL');
            } catch {
              // already gone
            }
          }, options.timeoutMs);
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      try {
        process.kill(-(child.pid ?? 0), 'SIGKILL');
      } catch {
        // already gone
      }
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      reject(new SandboxError(`cannot run nsenter: ${error.message}`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (aborted) {
        reject(abortError(options.signal!, argv[0]!, hostName));
        return;
      }
      if (timedOut) {
        reject(new ScriptTimedOutError(`${argv[0]} on ${hostName} did not finish in ${options.timeoutMs} ms (killed)`));
        return;
      }
      const exitCode = code ?? 128 + signalNumber(signal ?? 'SIGKILL');
      if (exitCode === 0) {
        resolve({ exitCode, stdout, stderr });
        return;
      }
      // A command killed because its host was powered off under it is not a failed script: SSM
      // reports such an invocation as undeliverable, and so does the sandbox.
      readPower(sandbox.stateDir, hostName).then(
        (power) =>
          power === 'off'
            ? reject(new HostUnreachableError(`${hostName} is unreachable: the host was powered off while ${argv[0]} ran`))
            : resolve({ exitCode, stdout, stderr }),
        () => resolve({ exitCode, stdout, stderr }),
      );
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.stdin ?? '');
  });
}

/** The signal's reason when it is an Error; otherwise a ScriptTimedOutError saying the command was cancelled. */
function abortError(signal: AbortSignal, command: string, hostName: string): Error {
  return signal.reason instanceof Error ? signal.reason : new ScriptTimedOutError(`${command} on ${hostName} was cancelled (killed)`);
}

async function nsInode(file: string): Promise<string | null> {
  try {
    const stat = await fs.stat(file);
    return `${stat.dev}:${stat.ino}`;
  } catch {
    return null;
  }
}

/**
 * PIDs of processes in any of the given namespaces (network namespace names under /run/netns, or
 * namespace files such as a host's mount namespace file): the scan `ip netns pids` does, extended
 * to mount namespaces.
 */
export async function pidsInNamespaces(nsFiles: string[]): Promise<number[]> {
  const wanted = new Set((await Promise.all(nsFiles.map(nsInode))).filter((x): x is string => x !== null));
  if (wanted.size === 0) return [];
  const entries = await fs.readdir('/proc');
  const pids: number[] = [];
  await Promise.all(
    entries.map(async (entry) => {
      if (!/^\d+$/.test(entry)) return;
      const pid = Number(entry);
      if (pid === process.pid) return;
      for (const kind of ['net', 'mnt']) {
        const inode = await nsInode(path.join('/proc', entry, 'ns', kind));
        if (inode && wanted.has(inode)) {
          pids.push(pid);
          return;
        }
      }
    }),
  );
  return pids.sort((a, b) => a - b);
}

export async function processName(pid: number): Promise<string> {
  return (await fs.readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
}

/** SIGKILLs every process in the namespaces until none is left (a supervisor may fork meanwhile). */
export async function killAllIn(nsFiles: string[], filter?: (pid: number) => Promise<boolean>): Promise<number> {
  let killed = 0;
  for (let round = 0; round < 100; round++) {
    let pids = await pidsInNamespaces(nsFiles);
    if (filter) pids = (await Promise.all(pids.map(async (pid) => ((await filter(pid)) ? pid : -1)))).filter((pid) => pid > 0);
    if (pids.length === 0) return killed;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        killed++;
      } catch {
        // gone already
      }
    }
    await new Promise((resolve) => setTimeout(resolve, round < 5 ? 10 : 50));
  }
  throw new SandboxError(`processes keep appearing in ${nsFiles.join(', ')}`);
}
