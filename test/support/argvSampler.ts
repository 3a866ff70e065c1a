// Every process's arguments, sampled while a run goes on: no credential may appear in any argument of
// the run's processes (host scripts read signed URLs on stdin; functions/scripts/lib/secrets.sh).
//
// Every process on the machine is read; the processes of the run are the descendants of this test
// process (the CLI it starts and everything the CLI starts) and every process inside the sandbox's
// hosts (their network namespaces, whoever started them). Other processes on a shared machine (another
// test's curl with a signed URL of its own store, say) are counted apart, never judged.

import { promises as fs } from 'node:fs';

/** A signed URL of the sandbox store or of S3, or key material. */
export const CREDENTIAL = /sig=[0-9a-f]{16}|X-Amz-Signature|X-Amz-Credential|PRIVATE KEY/;

export interface Sampled {
  /** How many times every process was read. */
  samples: number;
  /** Distinct pid and argument pairs seen among the run's processes. */
  processes: number;
  /** Arguments of the run's processes (spaces for NULs, cut to 300 characters) that matched CREDENTIAL. */
  hits: string[];
  /** Distinct pid and argument pairs seen on the whole machine. */
  machineProcesses: number;
  /** How many distinct arguments of other processes matched CREDENTIAL (not the run's: not judged). */
  elsewhere: number;
}

export interface SampleScope {
  /** The pid whose descendants are the run's (default: this process). */
  root?: number;
  /** Network namespaces (paths such as /run/netns/NAME) whose processes are the run's. */
  netns: string[];
}

interface Proc {
  ppid: number;
  net: string;
}

/** A process's parent and network namespace, or undefined when it is gone. */
async function readProc(pid: number): Promise<Proc | undefined> {
  const [stat, net] = await Promise.all([fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => ''), fs.readlink(`/proc/${pid}/ns/net`).catch(() => '')]);
  if (stat === '') return undefined;
  // comm (field 2) is in parentheses and may hold spaces: ppid is the second field after the last ')'.
  return { ppid: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]), net };
}

/** Samples the arguments of every process on the machine every `everyMs` until stopped; judges those of `scope`. */
export async function sampleArguments(everyMs: number, scope: SampleScope): Promise<{ stop: () => Promise<Sampled>; seen: (pattern: string) => boolean }> {
  const root = scope.root ?? process.pid;
  // A namespace file's inode is the namespace's: /proc/PID/ns/net reads `net:[INODE]`.
  // A namespace that is gone (its host removed) holds no process.
  const inodes = await Promise.all(
    scope.netns.map((file) =>
      fs.stat(file).then(
        (s) => `net:[${s.ino}]`,
        () => undefined,
      ),
    ),
  );
  const namespaces = new Set(inodes.filter((i) => i !== undefined));
  let samples = 0;
  const seen = new Set<string>();
  const machine = new Set<string>();
  const hits: string[] = [];
  const elsewhere = new Set<string>();
  let running = true;
  // A process's parent and namespace, read once per pid and arguments (a process keeps both; a new
  // program in the same pid is read again), so a sample costs little more than reading every argv.
  const known = new Map<string, Proc>();
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      const pids = (await fs.readdir('/proc')).filter((e) => /^\d+$/.test(e)).map(Number);
      const procs = new Map<number, Proc & { key: string; argv: string }>();
      await Promise.all(
        pids.map(async (pid) => {
          const argv = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
          if (argv === '') return;
          const key = `${pid}:${argv.slice(0, 200)}`;
          const proc = known.get(key) ?? (await readProc(pid));
          if (!proc) return;
          known.set(key, proc);
          procs.set(pid, { ...proc, key, argv });
        }),
      );
      const ours = new Map<number, boolean>();
      const isOurs = (pid: number): boolean => {
        const memo = ours.get(pid);
        if (memo !== undefined) return memo;
        const proc = procs.get(pid);
        ours.set(pid, false); // a cycle (pid reuse mid-sample) ends here
        const result = pid === root || (proc !== undefined && (namespaces.has(proc.net) || (proc.ppid > 1 && isOurs(proc.ppid))));
        ours.set(pid, result);
        return result;
      };
      for (const [pid, proc] of procs) {
        machine.add(proc.key);
        const credential = CREDENTIAL.test(proc.argv);
        if (isOurs(pid)) {
          seen.add(proc.key);
          if (credential) hits.push(proc.argv.replace(/\0/g, ' ').slice(0, 300));
        } else if (credential) {
          elsewhere.add(proc.key);
        }
      }
      samples += 1;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, everyMs - (Date.now() - started))));
    }
  })();
  return {
    /** Whether a credential-bearing argument of the scope holding `pattern` has been sampled so far. */
    seen: (pattern) => hits.some((h) => h.includes(pattern)),
    stop: async () => {
      running = false;
      await loop;
      return { samples, processes: seen.size, hits, machineProcesses: machine.size, elsewhere: elsewhere.size };
    },
  };
}
