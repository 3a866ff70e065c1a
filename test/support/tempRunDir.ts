// A CLI command run in-process against run records of its own: each test gets a temporary run record
// directory (ETCD_REPLACE_RUN_DIR) and its stdout and stderr captured (captureOutput.ts); after it the
// spies and the environment are restored and the directory removed.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, vi } from 'vitest';
import { captureOutput, type CapturedOutput } from './captureOutput.ts';

export interface CliInTempRunDir {
  /** This test's run record directory. */
  dir: string;
  /** What this test's commands wrote. */
  output: CapturedOutput;
}

/** Registers the hooks (call it at the top of a test file); the object it returns holds the current test's directory and output. */
export function cliInTempRunDir(prefix: string): CliInTempRunDir {
  const current: CliInTempRunDir = { dir: '', output: { out: '', err: '' } };
  beforeEach(() => {
    current.dir = mkdtempSync(join(tmpdir(), prefix));
    vi.stubEnv('ETCD_REPLACE_RUN_DIR', current.dir);
    current.output = captureOutput();
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
    rmSync(current.dir, { recursive: true, force: true });
  });
  return current;
}
