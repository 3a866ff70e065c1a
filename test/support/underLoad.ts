// A run under write load, as the several-members suites make it on etcd 3.2.22 and 3.4.23: a writer
// through the members that stay, the run started once writes are acknowledged (a failure that took the
// leader costs an election first), the writer stopped once the cluster acknowledges again; then the run's
// membership timeline, the writer's longest gap and the steps it overlapped, every acknowledged write
// read back from each member's own copy.

import { expect } from 'vitest';
import type { SandboxInfo } from '../../sandbox/index.ts';
import { waitFor } from '../../sandbox/util.ts';
import { cli, type CliResult } from './cli.ts';
import { clientUrl, runsOf } from './safetyHelpers.ts';
import { acknowledging, changedMembership, longestGapWithin, startWriter, stepsDuring, writerKeysOn, type WriterResult } from './writer.ts';

const ipOf = (sandbox: SandboxInfo, host: string) => sandbox.hosts.find((h) => h.name === host)!.ip;

export interface LoadedRun {
  out: CliResult;
  writes: WriterResult;
  /** The writer's longest gap while the run ran, and the one-line account of it the suites print. */
  gap: { ms: number; at: number };
  account: string;
}

/** `etcd-replace` with `args` while a writer puts keys through `writeVia`'s client URLs. */
export async function runUnderWriteLoad(sandbox: SandboxInfo, writeVia: string[], args: string[], label: string): Promise<LoadedRun> {
  const writer = await startWriter(
    sandbox,
    writeVia.map((h) => clientUrl(ipOf(sandbox, h))),
  );
  await acknowledging(writer);
  const runFrom = Date.now();
  const out = await cli(args);
  const runTo = Date.now();
  await acknowledging(writer);
  const writes = await writer.stop();
  const gap = longestGapWithin(writes, runFrom, runTo);
  const [record] = await runsOf(sandbox.name);
  const account = `${label}: ${(runTo - runFrom) / 1000} s, ${writes.acknowledged.length} writes acknowledged, longest gap ${gap.ms} ms (during ${stepsDuring(record?.steps ?? [], gap).join(', ')}), errors: ${writes.errors.join(' | ')}`;
  console.log(account);
  return { out, writes, gap, account };
}

/** The membership steps of the sandbox's newest run, in the order they ran, as `<word> <member>`. */
export async function membershipTimeline(sandbox: SandboxInfo, words: Record<string, string>, runId?: string): Promise<string[]> {
  const records = await runsOf(sandbox.name);
  const record = runId === undefined ? records[0] : records.find((r) => r.runId === runId);
  return record!.steps.filter((s) => changedMembership(s) && words[s.name]).map((s) => `${words[s.name]} ${s.member ?? ''}`.trim());
}

/** Every key of `keys` on every host of `hosts`, each read from its own copy. */
export async function expectOnEveryMember(sandbox: SandboxInfo, keys: string[], hosts: string[]): Promise<void> {
  for (const host of hosts) {
    await waitFor(`${host} to hold every acknowledged write`, 20_000, 250, async () => {
      const held = await writerKeysOn(sandbox, host, clientUrl(ipOf(sandbox, host)));
      return keys.every((k) => held.has(k));
    });
  }
  expect(keys.length).toBeGreaterThan(100);
}
