// A writer under load while a run changes the membership: it puts one key after another through the
// etcd3 client (the sandbox's client identity) and keeps each key etcd acknowledged and when. The
// longest time between two acknowledgements is what a client saw of the cluster's availability; every
// acknowledged key must then be on every member (checked from the hosts, test/support/clusterFacts.ts).

import type { Etcd3 } from 'etcd3';
import { etcdClient, readClientTls } from '../../sandbox/etcdClient.ts';
import type { SandboxInfo } from '../../sandbox/index.ts';
import { etcdctl } from './clusterFacts.ts';

export const WRITER_PREFIX = '/etcd-replace-writer/';

export interface WriterResult {
  acknowledged: string[];
  /** When each key was acknowledged (ms since the epoch), in order. */
  ackedAt: number[];
  /** The longest time in ms between two acknowledgements (the start and the stop count as acknowledgements). */
  longestGapMs: number;
  /** Puts that failed (and were tried again as the next key): their errors, first few. */
  errors: string[];
}

export interface Writer {
  stop(): Promise<WriterResult>;
  /** Keys acknowledged so far. */
  count(): number;
}

/** Starts writing through `endpoints` (members that stay members throughout) until stop(). */
export async function startWriter(sandbox: SandboxInfo, endpoints: string[], name = 'w0'): Promise<Writer> {
  const noDeprecation = process.noDeprecation;
  process.noDeprecation = true; // grpc-js names the endpoint's IP as the TLS servername (DEP0123)
  const client: Etcd3 = await etcdClient(endpoints, await readClientTls(sandbox.client));
  const acknowledged: string[] = [];
  const ackedAt: number[] = [];
  const errors: string[] = [];
  let last = Date.now();
  let longestGapMs = 0;
  let stopping = false;
  const loop = (async () => {
    for (let seq = 0; !stopping; seq += 1) {
      const key = `${WRITER_PREFIX}${name}/${String(seq).padStart(8, '0')}`;
      try {
        await client.put(key).value(String(Date.now()));
        const now = Date.now();
        longestGapMs = Math.max(longestGapMs, now - last);
        last = now;
        acknowledged.push(key);
        ackedAt.push(now);
      } catch (error) {
        if (errors.length < 5) errors.push(error instanceof Error ? error.message : String(error));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  })();
  return {
    count: () => acknowledged.length,
    stop: async () => {
      stopping = true;
      await loop;
      longestGapMs = Math.max(longestGapMs, Date.now() - last);
      client.close();
      process.noDeprecation = noDeprecation;
      return { acknowledged, ackedAt, longestGapMs, errors };
    },
  };
}

/** The writer's keys as one member holds them (a serializable read of its own copy), from `via`'s host. */
export async function writerKeysOn(sandbox: SandboxInfo, via: string, endpoint: string): Promise<Set<string>> {
  const out = await etcdctl(sandbox, via, [endpoint], ['get', WRITER_PREFIX, '--prefix', '--keys-only', '--consistency=s']);
  return new Set(out.split('\n').filter((line) => line !== ''));
}

/** The longest time between two acknowledgements within [from, to] (its ends count as acknowledgements), and where it began. */
export function longestGapWithin(result: WriterResult, from: number, to: number): { ms: number; at: number } {
  const times = [from, ...result.ackedAt.filter((t) => t > from && t < to), to];
  let best = { ms: 0, at: from };
  for (let i = 1; i < times.length; i += 1) if (times[i]! - times[i - 1]! > best.ms) best = { ms: times[i]! - times[i - 1]!, at: times[i - 1]! };
  return best;
}

/**
 * A gap in the writer's acknowledgements that only a loss of quorum explains. A run that removed a member
 * the cluster needed would stall every write until the run ended, or for good. Within this bound fit the
 * cluster's own elections (election timeout 2.5 s in the sandbox's etcd.conf) and a put that waits out
 * one request timeout (5 s), twice over, as a machine loaded by other tests can cost; on a quiet machine
 * the longest gap is a few hundred milliseconds, and the tests print it.
 */
export const QUORUM_LOSS_GAP_MS = 15_000;

/** The names of the run's steps that overlapped a gap. */
export function stepsDuring(steps: Array<{ name: string; startedAt: string; endedAt?: string }>, gap: { ms: number; at: number }): string[] {
  return steps.filter((st) => Date.parse(st.startedAt) <= gap.at + gap.ms && Date.parse(st.endedAt ?? st.startedAt) >= gap.at).map((st) => st.name);
}

/** Resolves once the writer has had `count` more keys acknowledged: the cluster answers writes. */
export async function acknowledging(writer: Writer & { count(): number }, count = 20, timeoutMs = 30_000): Promise<void> {
  const start = writer.count();
  const deadline = Date.now() + timeoutMs;
  while (writer.count() < start + count) {
    if (Date.now() > deadline) throw new Error(`the writer had ${writer.count() - start} writes acknowledged in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A membership change the run made: the step succeeded, or a retry found it done by an earlier attempt of
 * the same run (an answer lost to a timeout: `member remove` that etcd carried out, `member add` already listed).
 */
export function changedMembership(step: { status: string; detail?: string }): boolean {
  return step.status === 'succeeded' || (step.status === 'skipped' && /an earlier attempt of this run|already added/.test(step.detail ?? ''));
}
