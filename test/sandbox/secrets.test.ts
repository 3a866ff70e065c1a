// No credential where another process or a history can read it: a replacement on the real sandbox
// with every process's arguments sampled every 100 ms, then the store, the hosts and the records.

import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { failHost, hostExec, sandboxDown, sandboxUp } from '../../sandbox/index.ts';
import { cli } from '../support/cli.ts';
import { uniqueName } from '../support/sandboxHelpers.ts';

const created: string[] = [];
afterAll(async () => {
  for (const name of created) await sandboxDown(name);
});

/** A signed URL of the sandbox store or of S3, or key material. */
const CREDENTIAL = /sig=[0-9a-f]{16}|X-Amz-Signature|X-Amz-Credential|PRIVATE KEY/;

/** Samples the arguments of every process on the machine every `everyMs` until stopped. */
function sampleArguments(everyMs: number): { stop: () => Promise<{ samples: number; processes: number; hits: string[] }> } {
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

describe('Secrets: no signed URL or key in any process argument, store or record', () => {
  it('replaces a powered-off member while every process is sampled every 100 ms; the store keeps no bundle', async () => {
    const name = uniqueName('t-sec');
    created.push(name);
    const sandbox = await sandboxUp({ name, members: 3, spares: 1, nodes: 1, dataMb: 2 });
    await failHost(name, 'master-2', 'kill');

    const sampler = sampleArguments(100);
    // A planted argument proves the sampler sees what it looks for.
    const canary = spawn('bash', ['-c', 'sleep 0.6; true', `canary?sig=${'c'.repeat(64)}`], { stdio: 'ignore' });
    await new Promise((resolve) => canary.on('exit', resolve));
    const started = Date.now();
    const out = await cli(['run', '--sandbox', name, '--failed', 'master-2', '--replacement', 'etcd-spare-0', '--grace-seconds', '1', '--json']);
    const seconds = (Date.now() - started) / 1000;
    const sampled = await sampler.stop();

    const result = JSON.parse(out.stdout) as { outcome: string; runId: string };
    expect(result.outcome).toBe('succeeded');
    // The sampler kept up: at least one sample every 250 ms on average, and it saw the run's commands.
    expect(sampled.samples).toBeGreaterThan(seconds * 4);
    expect(sampled.processes).toBeGreaterThan(50);
    expect(sampled.hits.filter((h) => h.includes('canary?sig='))).not.toEqual([]);
    expect(sampled.hits.filter((h) => !h.includes('canary?sig='))).toEqual([]);
    console.log(`secrets: ${sampled.samples} samples of every process's arguments over ${seconds.toFixed(1)} s of run, ${sampled.processes} distinct processes, no credential`);
    // Nothing the CLI printed, and nothing in the run's history, carries a credential.
    expect(out.stdout + out.stderr).not.toMatch(CREDENTIAL);
    const history = await cli(['history', '--sandbox', name, '--json']);
    expect(history.stdout).not.toMatch(CREDENTIAL);
    // The store holds no bundle of the run; no tarball of the keys is left on the CA host or the new host.
    const stored = await fs.readdir(`${sandbox.stateDir}/artifacts/runs/${result.runId}`);
    expect(stored.filter((f) => f.startsWith('bundle-'))).toEqual([]);
    const ca = await hostExec(sandbox, 'master-0', ['bash', '-c', 'find /etc/etcd/generated_certs /var/tmp /tmp -name "*.tgz" -o -name "etcd-bundle.*"']);
    expect(ca.stdout.trim()).toBe('');
    const spare = await hostExec(sandbox, 'etcd-spare-0', ['bash', '-c', 'find /var/tmp /tmp -name "*.tgz" -o -name "etcd-bundle.*"; stat -c %a /etc/etcd/peer.key']);
    expect(spare.stdout.trim()).toBe('600');
  });
});
