// Runs and checks shared by the sandbox suites on etcd 3.2.22 and the learner suites on 3.4.23: the
// CLI's `run` arguments, a run asked to take the plain `member add`, the path `member add` took (a
// learner and its promotion, or the plain add), the verified snapshot the run waited for, and the
// sandbox as the checks of a later replacement in the same cluster must see it.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import type { SandboxInfo } from '../../sandbox/index.ts';
import type { RunRecord } from '../../functions/ports.ts';
import { FileLock } from '../../sandbox/adapters/fileLock.ts';
import { FileRunStore } from '../../sandbox/adapters/fileRunStore.ts';
import { cli, type CliResult } from './cli.ts';
import { exitOf, parseRunJson, stepStatus, type RunJson } from './safetyHelpers.ts';

const exec = promisify(execFile);

export const fqdn = (host: string) => `${host}.sandbox.test`;

/** `etcd-replace run` on the sandbox with no grace window, its result as JSON. */
export const runArgs = (sandbox: SandboxInfo, failed: string, replacement: string, ...extra: string[]) => [
  'run',
  '--sandbox',
  sandbox.name,
  '--failed',
  failed,
  '--replacement',
  replacement,
  '--grace-seconds',
  '0',
  '--json',
  ...extra,
];

/** etcd 3.4 and later have learners: the run adds one where every member runs such a version. */
export const hasLearners = (etcdVersion: string): boolean => !/^3\.[23]\./.test(etcdVersion);

/**
 * The run record names its snapshot; the artifact store holds it; `etcdctl snapshot status` reads it;
 * AwaitSnapshot waited for it once the new member had joined (after StartNewMember), and ended before
 * the new member counts: before PromoteNewMember gives a learner its vote, before VerifyClusterHealth
 * counts a voter at full strength.
 */
export async function expectVerifiedSnapshot(sandbox: SandboxInfo, record: RunRecord): Promise<void> {
  const key = record.context['snapshotKey'];
  expect(key).toMatch(new RegExp(`^runs/${record.runId}/snapshot-.*\\.db$`));
  const file = `${sandbox.stateDir}/artifacts/${String(key)}`;
  expect(existsSync(file)).toBe(true);
  const { stdout } = await exec('etcdctl', ['snapshot', 'status', file, '-w', 'json'], { env: { ...process.env, ETCDCTL_API: '3' } });
  const status = JSON.parse(stdout) as { hash: number; revision: number; totalKey: number; totalSize: number };
  expect(status.totalKey).toBeGreaterThan(0);
  expect(status.revision).toBeGreaterThan(0);
  const names = record.steps.map((s) => s.name);
  const waited = record.steps.findIndex((s) => /snapshot from .* at revision \d+/.test(s.detail ?? ''));
  expect(waited).toBeGreaterThanOrEqual(0);
  const learner = record.context['addedAsLearner'] === true;
  expect(names[waited]).toBe('AwaitSnapshot');
  expect(waited).toBeGreaterThan(names.indexOf('StartNewMember'));
  expect(waited).toBeLessThan(names.indexOf(learner ? 'PromoteNewMember' : 'VerifyClusterHealth'));
}

/** A CLI run that took the plain `member add`: the new member voted from the add, nothing was promoted. */
export function expectPlainAdd(out: CliResult, result: RunJson): void {
  expect(stepStatus(result)).toMatchObject({ AddMember: 'succeeded', PromoteNewMember: 'skipped' });
  expect(out.stderr).toMatch(/✓ AddMember .*added etcd-spare-\d+\.sandbox\.test https:\/\/[0-9.]+:2380 as member [0-9a-f]{16}$/m);
  expect(out.stderr).not.toMatch(/▶ PromoteNewMember/);
}

/**
 * `run --learner never` replaces `failed` (down already) with `replacement` through the plain
 * `member add` and succeeds, whatever the members' version; the lock is released at the end. The caller
 * checks the replaced cluster.
 */
export async function replaceWithoutLearner(sandbox: SandboxInfo, failed: string, replacement: string) {
  const out = await cli(runArgs(sandbox, failed, replacement, '--learner', 'never'));
  const result = parseRunJson(out.stdout);
  expect({ outcome: result.outcome, reason: result.reason, ...exitOf(out) }).toMatchObject({ outcome: 'succeeded', code: 0 });
  expect(out.code).toBe(0);
  expect(stepStatus(result)).toMatchObject({
    AcquireLock: 'succeeded',
    SnapshotCluster: 'succeeded',
    AddMember: 'succeeded',
    PromoteNewMember: 'skipped',
    ReleaseLock: 'succeeded',
  });
  expectPlainAdd(out, result);
  expect(await new FileLock().current(sandbox.name)).toBeNull(); // released at the end
  const record = (await new FileRunStore().get(result.runId))!;
  return { out, result, record };
}

/** A run that added its member as a learner and promoted it once it had caught up (its record's context says which path: addedAsLearner). */
export function expectLearnerAdded(record: RunRecord): void {
  const status = Object.fromEntries(record.steps.map((s) => [s.name, s.status]));
  expect(status).toMatchObject({ AddMember: 'succeeded', AwaitSnapshot: 'succeeded', PromoteNewMember: 'succeeded' });
  expect(record.steps.find((s) => s.name === 'AddMember')?.detail).toMatch(/\(learner\)$/);
}

/**
 * The sandbox as verifyReplaced must see it after earlier replacements in the same cluster: each
 * earlier replacement host is an etcd member now, and each host it replaced, powered off or no member,
 * is neither a member nor a master whose files can be read (RollMasters left it in `remaining`).
 */
export function afterReplacements(sandbox: SandboxInfo, replaced: Array<{ failed: string; replacement: string }>): SandboxInfo {
  const gone = new Set(replaced.map((r) => r.failed));
  const joined = new Set(replaced.map((r) => r.replacement));
  return {
    ...sandbox,
    hosts: sandbox.hosts.map((h) => {
      if (gone.has(h.name)) return { ...h, roles: h.roles.filter((r) => r !== 'etcd' && r !== 'master') };
      if (joined.has(h.name)) return { ...h, roles: [...h.roles.filter((r) => r !== 'spare'), 'etcd'] };
      return h;
    }),
  };
}
