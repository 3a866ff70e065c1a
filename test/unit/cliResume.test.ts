// `etcd-replace resume RUN_ID` (cli/commands/resume.ts) goes on only against the run's own cluster: a run holds
// its own cluster's lock and knows its own hosts. Another --sandbox, or a run of another target, is
// refused (exit 2) before any sandbox is opened or any lock is touched. The run record directory is a
// temporary one (ETCD_REPLACE_RUN_DIR).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.ts';
import { newRunRecord } from '../../functions/workflow/localRun.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { captureOutput, type CapturedOutput } from '../support/captureOutput.ts';

let output: CapturedOutput = { out: '', err: '' };
const runId = 'r-20261202-000000-0a1b2c';
let dir = '';

function saveRunning(target: 'sandbox' | 'aws'): void {
  const context = {
    runId,
    request: { cluster: 'own-sbx', failed: 'master-2', startedBy: 'test' },
    options: { graceSeconds: 1, learner: 'auto' },
  } as WorkflowContext;
  writeFileSync(join(dir, `${runId}.json`), JSON.stringify({ ...newRunRecord(context, target, new Date()), state: 'RemoveFailedMember' }));
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cli-resume-'));
  vi.stubEnv('ETCD_REPLACE_RUN_DIR', dir);
  output = captureOutput();
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  rmSync(dir, { recursive: true, force: true });
});

describe('CLI: resume', () => {
  it('refuses to resume a run against another sandbox than its own', async () => {
    saveRunning('sandbox');
    expect(await main(['resume', runId, '--sandbox', 'other-sbx'])).toBe(2);
    expect(output.err).toMatch(new RegExp(`run ${runId} is a run of sandbox cluster own-sbx; it resumes only there, not on other-sbx`));
  });

  it('refuses to resume a run of another target on a sandbox', async () => {
    saveRunning('aws');
    expect(await main(['resume', runId])).toBe(2);
    expect(output.err).toMatch(/is a run of aws cluster own-sbx/);
  });
});
