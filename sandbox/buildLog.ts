// The sandbox's count of what it built: one JSON line per cluster built by `sandbox up` and per host a
// run launched into a sandbox, appended to the file $ETCD_REPLACE_SANDBOX_BUILD_LOG names (nothing
// is written when it is unset). $ETCD_REPLACE_SANDBOX_BUILD_TAG, when set, is carried on each line:
// the test command tags each test file's builds with the file, and reports what each file built.
import { appendFileSync } from 'node:fs';

export const BUILD_LOG_ENV = 'ETCD_REPLACE_SANDBOX_BUILD_LOG';
export const BUILD_TAG_ENV = 'ETCD_REPLACE_SANDBOX_BUILD_TAG';

export interface BuildLogEntry {
  /** A whole sandbox (`sandbox up`) or one host launched into a running sandbox. */
  kind: 'sandbox' | 'host';
  sandbox: string;
  hosts: number;
  etcdVersion: string;
  seconds: number;
  tag: string | null;
  at: string;
}

/** Appends one line (a single write under PIPE_BUF, so lines of parallel writers never interleave). */
export function logBuild(entry: Omit<BuildLogEntry, 'tag' | 'at'>): void {
  const file = process.env[BUILD_LOG_ENV];
  if (!file) return;
  const line: BuildLogEntry = { ...entry, tag: process.env[BUILD_TAG_ENV] ?? null, at: new Date().toISOString() };
  appendFileSync(file, `${JSON.stringify(line)}\n`);
}
