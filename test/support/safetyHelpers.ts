// Helpers for the safety, resume and fault-injection sandbox tests: the CLI as an operator runs it
// (whole or watched line by line), the run records of one sandbox, the member list and health read
// independently with etcdctl on a host, and file digests read from the hosts' roots on the machine.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { hostExec, sandboxDown, sandboxUp, type SandboxInfo } from '../../sandbox/index.ts';
import type { RunRecord } from '../../functions/ports.ts';
import { FileRunStore } from '../../sandbox/adapters/fileRunStore.ts';
import { BIN, REPO, type CliResult } from './cli.ts';
import { endpointHealthy, memberList, type Member } from './clusterFacts.ts';
import { waitFor } from '../../sandbox/util.ts';
import { HOLD_FILE_ENV, HOLD_STEP_ENV } from '../../functions/workflow/localRun.ts';

export const clientUrl = (ip: string) => `https://${ip}:2379`;

/** Parsed `run --json` output. */
export interface RunJson {
  runId: string;
  outcome: 'succeeded' | 'failed' | 'refused';
  reason: string | null;
  steps: Array<{ name: string; status: string; attempts: number }>;
  remaining?: string[];
}

/**
 * A CLI child process watched as it runs: `waitFor` resolves when stderr has printed a line matching
 * the pattern (or rejects if the process ends first), `done` when the process exits.
 */
export class WatchedCli {
  readonly child: ChildProcessWithoutNullStreams;
  stdout = '';
  stderr = '';
  readonly done: Promise<CliResult & { signal: NodeJS.Signals | null }>;
  private watchers: Array<{ pattern: RegExp; resolve: (line: string) => void; reject: (e: Error) => void }> = [];
  private exited = false;

  /** `env`: variables set for this CLI process on top of the test's own. */
  constructor(args: string[], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdin.end();
    this.child.stdout.on('data', (chunk: Buffer) => (this.stdout += chunk.toString()));
    let partial = '';
    this.child.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      this.stderr += text;
      partial += text;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) this.check(line);
    });
    this.done = new Promise((resolve, reject) => {
      this.child.on('error', reject);
      this.child.on('close', (code, signal) => {
        this.exited = true;
        if (partial) this.check(partial);
        for (const w of this.watchers) w.reject(new Error(`the CLI ended (${signal ?? code}) before printing ${w.pattern}\n${this.stderr}`));
        this.watchers = [];
        resolve({ code: code ?? -1, signal, stdout: this.stdout, stderr: this.stderr });
      });
    });
  }

  private check(line: string): void {
    const hit = this.watchers.filter((w) => w.pattern.test(line));
    this.watchers = this.watchers.filter((w) => !hit.includes(w));
    for (const w of hit) w.resolve(line);
  }

  /** The first stderr line from now on matching `pattern`, or one already printed when `past` is set. */
  waitFor(pattern: RegExp, options: { past?: boolean } = {}): Promise<string> {
    if (options.past) {
      const line = this.stderr.split('\n').find((l) => pattern.test(l));
      if (line !== undefined) return Promise.resolve(line);
    }
    if (this.exited) return Promise.reject(new Error(`the CLI already ended before printing ${pattern}`));
    return new Promise((resolve, reject) => this.watchers.push({ pattern, resolve, reject }));
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.exited) this.child.kill(signal);
  }
}

export function parseRunJson(stdout: string): RunJson {
  try {
    return JSON.parse(stdout) as RunJson;
  } catch {
    throw new Error(`run --json printed no JSON document:\n${stdout}`);
  }
}

export const stepStatus = (result: { steps: Array<{ name: string; status: string }> }): Record<string, string> =>
  Object.fromEntries(result.steps.map((s) => [s.name, s.status]));

/** Every run record of one sandbox (cluster), newest first. */
export async function runsOf(cluster: string): Promise<RunRecord[]> {
  return new FileRunStore().list({ cluster });
}

/** Brings up a sandbox named `<prefix>-<random>` and remembers it in `created` for afterAll. */
export async function upSandbox(
  created: string[],
  prefix: string,
  options: { members: 3 | 5; spares?: number; nodes?: number; dataMb?: number; etcdVersion?: string },
): Promise<SandboxInfo> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  created.push(name);
  return sandboxUp({
    name,
    members: options.members,
    spares: options.spares ?? 1,
    nodes: options.nodes ?? 0,
    dataMb: options.dataMb ?? 2,
    ...(options.etcdVersion ? { etcdVersion: options.etcdVersion } : {}),
  });
}

/** Tears every sandbox down and deletes its lock file (run records stay: they are the evidence); throws the first error after trying all. */
export async function downAll(created: string[]): Promise<void> {
  let first: unknown;
  for (const name of created) {
    try {
      await sandboxDown(name);
    } catch (error) {
      first ??= error;
    }
    await fs.rm(`/var/lib/etcd-replace/locks/${name}.json`, { force: true });
  }
  if (first) throw first;
}

/** The member list as etcd itself answers, through the first host of `via` that answers. */
export async function membersNow(sandbox: SandboxInfo, via: string[]): Promise<Member[]> {
  let last: unknown;
  for (const host of via) {
    const h = sandbox.hosts.find((x) => x.name === host)!;
    try {
      return await memberList(sandbox, host, clientUrl(h.ip));
    } catch (error) {
      last = error;
    }
  }
  throw new Error(`no member answered the member list through ${via.join(', ')}: ${String(last)}`);
}

/** A stable picture of membership: sorted `id name peerURL learner?` lines. */
export const membershipOf = (members: Member[]): string[] =>
  members.map((m) => `${m.id} ${m.name || '(unstarted)'} ${m.peerURLs.join(',')}${m.isLearner ? ' learner' : ''}`).sort();

/** Names of members (hostnames), sorted. */
export const memberNames = (members: Member[]): string[] => members.map((m) => m.name).sort();

/** Health of each of these hosts' client endpoints, asked on `via`. */
export async function healthOf(sandbox: SandboxInfo, via: string, hosts: string[]): Promise<boolean[]> {
  const endpoints = hosts.map((name) => clientUrl(sandbox.hosts.find((h) => h.name === name)!.ip));
  return endpointHealthy(sandbox, via, endpoints);
}

/** sha256 of every file under a directory of a host, read from the host's root on the machine (works for a powered-off host). */
export async function digestTree(sandbox: SandboxInfo, host: string, dir: string): Promise<Record<string, string>> {
  const root = path.join(sandbox.stateDir, 'hosts', host, 'root');
  const base = path.join(root, dir);
  const out: Record<string, string> = {};
  if (!existsSync(base)) return out;
  const walk = async (d: string): Promise<void> => {
    for (const entry of await fs.readdir(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile())
        out[path.relative(root, full)] = createHash('sha256')
          .update(await fs.readFile(full))
          .digest('hex');
    }
  };
  await walk(base);
  return out;
}

/** A file of a host read from its root on the machine. */
export function hostFile(sandbox: SandboxInfo, host: string, file: string): string {
  return path.join(sandbox.stateDir, 'hosts', host, 'root', file.replace(/^\//, ''));
}

/** Runs a command on a host and returns stdout; throws on a non-zero exit. */
export async function sh(sandbox: SandboxInfo, host: string, script: string): Promise<string> {
  const out = await hostExec(sandbox, host, ['bash', '-c', script], { timeoutMs: 60_000 });
  if (out.exitCode !== 0) throw new Error(`${script} on ${host} exited ${out.exitCode}: ${out.stderr}`);
  return out.stdout;
}

/** The base64 body lines of a PEM private key (the secret itself, without its armour). */
export function pemBodyLines(pem: string): string[] {
  return pem
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('-----') && !l.includes(':'));
}

/** Secret findings in `text`: PEM private-key armour, or any body line (≥ 40 chars) of the given keys. */
export function secretFindings(text: string, keyBodies: string[][], where: string): string[] {
  const found: string[] = [];
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text) || /PRIVATE KEY-----/.test(text)) found.push(`${where}: PEM private key armour`);
  const flat = text.replace(/\\n|\s/g, '');
  for (const body of keyBodies) {
    for (const line of body.filter((l) => l.length >= 40)) {
      if (text.includes(line) || flat.includes(line)) found.push(`${where}: a line of a private key body (${line.slice(0, 8)}…)`);
    }
    if (flat.includes(body.join(''))) found.push(`${where}: a whole private key body`);
  }
  return [...new Set(found)];
}

/** An exit code with the stderr tail beside it, so a failing expectation shows why: `expect(exitOf(out)).toMatchObject({ code: 3 })`. */
export const exitOf = (out: CliResult): { code: number; stderrTail: string } => ({ code: out.code, stderrTail: out.stderr.split('\n').slice(-25).join('\n') });

/** Lifts `sandbox fail --mode partition` from a host (its nft table and its power state), then waits until its etcd answers the others. */
export async function healPartition(sandbox: SandboxInfo, host: string, via: string): Promise<void> {
  const h = sandbox.hosts.find((x) => x.name === host)!;
  await new Promise<void>((resolve, reject) => {
    const child = spawn('nsenter', [`--net=/run/netns/${h.netns}`, '--', 'nft', 'delete', 'table', 'inet', 'sandbox_partition'], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`nft delete table inet sandbox_partition on ${host} exited ${code}`))));
  });
  await fs.writeFile(path.join(sandbox.stateDir, 'hosts', host, 'power'), 'running\n');
  await waitFor(`${host} healthy again`, 60_000, 200, async () => (await healthOf(sandbox, via, [host])).every(Boolean));
}

/**
 * A hold before `step` (the local runner's hook): the environment that makes a CLI run wait before
 * that step while the hold file exists, and `release` to let it go on. Tests act at a known point
 * instead of racing the run.
 */
export async function holdBefore(step: string): Promise<{ env: Record<string, string>; release: () => Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'hold-'));
  const file = path.join(dir, step);
  await fs.writeFile(file, '');
  return { env: { [HOLD_STEP_ENV]: step, [HOLD_FILE_ENV]: file }, release: () => fs.rm(dir, { recursive: true, force: true }) };
}
