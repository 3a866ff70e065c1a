// Small process and file helpers shared by the sandbox modules.
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SandboxError } from './errors.ts';

/** The repository root (sandbox/..). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SANDBOX_DIR = path.join(REPO_ROOT, 'sandbox');
export const TEMPLATES_DIR = path.join(SANDBOX_DIR, 'templates');
export const STANDINS_DIR = path.join(SANDBOX_DIR, 'standins');
export const SHELL_DIR = path.join(SANDBOX_DIR, 'sh');

/**
 * The sandbox's own copy of what runs inside its hosts (setup scripts, stand-ins, templates). Hosts
 * get a private /tmp, /var/tmp, /run and /etc, so a checkout under one of those (a clone in /tmp, say) is not
 * visible from inside a host; the copy under the sandbox's state dir always is.
 */
export function hostLibOf(stateDir: string): { sh: string; standins: string; templates: string } {
  const lib = path.join(stateDir, 'lib');
  return { sh: path.join(lib, 'sh'), standins: path.join(lib, 'standins'), templates: path.join(lib, 'templates') };
}

/** Copies the setup scripts, stand-ins and templates into the sandbox's state dir. */
export async function installHostLib(stateDir: string): Promise<void> {
  const lib = hostLibOf(stateDir);
  await Promise.all([
    fs.cp(SHELL_DIR, lib.sh, { recursive: true }),
    fs.cp(STANDINS_DIR, lib.standins, { recursive: true }),
    fs.cp(TEMPLATES_DIR, lib.templates, { recursive: true }),
  ]);
}

/** The PATH every sandbox host process gets: /usr/local/sbin (the stand-ins) first, as on RHEL. */
export const HOST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs a command on the machine; never throws for a non-zero exit. */
export function run(command: string, args: string[], options: { input?: string | Buffer; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      cwd: options.cwd ?? '/',
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      resolve({
        exitCode: code ?? 128 + (signal ? signalNumber(signal) : 0),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** Runs a command on the machine and throws SandboxError when it fails. */
export async function runOk(
  command: string,
  args: string[],
  options: { input?: string | Buffer; env?: NodeJS.ProcessEnv; what?: string } = {},
): Promise<string> {
  const result = await run(command, args, options);
  if (result.exitCode !== 0) {
    throw new SandboxError(
      `${options.what ?? `${command} ${args.join(' ')}`} failed (exit ${result.exitCode}): ${result.stderr.trim() || result.stdout.trim()}`,
    );
  }
  return result.stdout;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15 };
export function signalNumber(signal: string): number {
  return SIGNALS[signal] ?? 1;
}

export async function exists(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch {
    return false;
  }
}

export async function writeFileAtomic(file: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(16).slice(2)}`;
  await fs.writeFile(tmp, data, { mode });
  await fs.rename(tmp, file);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The one poller, for the sandbox and its tests alike: calls `probe` every `intervalMs` until it returns
 * a value (anything but undefined or false) and returns that, or throws after `timeoutMs` naming `what`
 * and the probe's last error. A probe that throws counts as "not yet", unless `errors: 'throw'`, which
 * ends the wait with that error at once.
 */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  intervalMs: number,
  probe: () => Promise<T | undefined | false>,
  options: { errors?: 'retry' | 'throw' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      if (options.errors === 'throw') throw error;
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const reason = lastError instanceof Error ? `: ${lastError.message}` : lastError !== undefined ? `: ${String(lastError)}` : '';
      throw new SandboxError(`timed out after ${timeoutMs} ms waiting for ${what}${reason}`, { cause: lastError });
    }
    await sleep(intervalMs);
  }
}
