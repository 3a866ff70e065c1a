// `etcd-replace resume RUN_ID` (cli/commands/resume.ts) goes on only against the run's own cluster: a run holds
// its own cluster's lock and knows its own hosts. Another --sandbox, or a run of another target, is
// refused (exit 2) before any sandbox is opened or any lock is touched. The run record directory is a
// temporary one (ETCD_REPLACE_RUN_DIR).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { newRunRecord } from '../../functions/workflow/localRun.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { cliInTempRunDir } from '../support/tempRunDir.ts';

const runId = 'r-20261202-000000-0a1b2c';
const cli = cliInTempRunDir('cli-resume-');

function saveRunning(target: 'sandbox' | 'aws'): void {
  const context = {
    runId,
    request: { cluster: 'own-sbx', failed: 'master-2', startedBy: 'test' },
    options: { graceSeconds: 1, learner: 'auto' },
  } as WorkflowContext;
  writeFileSync(join(cli.dir, `${runId}.json`), JSON.stringify({ ...newRunRecord(context, target, new Date()), state: 'RemoveFailedMember' }));
}

describe('CLI: resume', () => {
  it('refuses to resume a run against another sandbox than its own', async () => {
    saveRunning('sandbox');
    expect(await main(['resume', runId, '--sandbox', 'other-sbx'])).toBe(2);
    expect(cli.output.err).toMatch(new RegExp(`run ${runId} is a run of sandbox cluster own-sbx; it resumes only there, not on other-sbx`));
  });

  it('refuses to resume a run of another target on a sandbox', async () => {
    saveRunning('aws');
    expect(await main(['resume', runId])).toBe(2);
    expect(cli.output.err).toMatch(/is a run of aws cluster own-sbx/);
  });
});
