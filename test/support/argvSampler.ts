// Every process's arguments on the machine, sampled while a run goes on: no credential may appear in
// any of them (host scripts read signed URLs on stdin; functions/scripts/lib/secrets.sh).

import { promises as fs } from 'node:fs';

/** A signed URL of the sandbox store or of S3, or key material. */
export const CREDENTIAL = /sig=[0-9a-f]{16}|X-Amz-Signature|X-Amz-Credential|PRIVATE KEY/;

export interface Sampled {
  /** How many times every process was read. */
  samples: number;
  /** Distinct pid and argument pairs seen. */
  processes: number;
  /** Arguments (spaces for NULs, cut to 300 characters) that matched CREDENTIAL. */
  hits: string[];
}

/** Samples the arguments of every process on the machine every `everyMs` until stopped. */
export function sampleArguments(everyMs: number): { stop: () => Promise<Sampled> } {
  let samples = 0;
  const seen = new Set<string>();
  const hits: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      const pids = (await fs.readdir('/proc')).filter((e) => /^\d+$/.test(e));
      await Promise.all(
        pids.map(async (pid) => {
          const argv = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
          if (argv === '') return;
          seen.add(`${pid}:${argv.slice(0, 200)}`);
          if (CREDENTIAL.test(argv)) hits.push(argv.replace(/\0/g, ' ').slice(0, 300));
        }),
      );
      samples += 1;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, everyMs - (Date.now() - started))));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { samples, processes: seen.size, hits };
    },
  };
}
