// `run` and `resume` against a run another process owns (cli/commands/run.ts, cli/commands/resume.ts, cli/sandboxRun.ts, sandbox/adapters/runOwners.ts):
// a live owner is refused (exit 3) naming its pid, since when, and `kill PID`, before the sandbox is opened
// and with nothing written; a dead owner's run goes on to its sandbox. The hold hook's variables are
// checked before any record is written. The run record directory is a temporary one
// (ETCD_REPLACE_RUN_DIR) and the sandboxes named do not exist, so a command that got as far as opening
// its sandbox ends with exit 2 "no sandbox".

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { main } from '../../cli/main.ts';
import { FileRunStore } from '../../sandbox/adapters/fileRunStore.ts';
import { FileRunOwners } from '../../sandbox/adapters/runOwners.ts';
import { HOLD_FILE_ENV, HOLD_STEP_ENV, newRunRecord } from '../../functions/workflow/localRun.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { captureOutput, type CapturedOutput } from '../support/captureOutput.ts';

const SANDBOX = 'zz-absent-owner';
const RUN = 'r-20300101-000000-cccccc';

let dir: string;
let output: CapturedOutput;
let child: ChildProcess | undefined;

const runArgs = ['run', '--sandbox', SANDBOX, '--failed', 'master-2', '--replacement', 'etcd-spare-0'];

async function saveRunning(): Promise<string> {
  const context = {
    runId: RUN,
    request: { cluster: SANDBOX, failed: 'master-2', replacement: 'etcd-spare-0', startedBy: 'test' },
    options: { graceSeconds: 1, learner: 'auto' },
  } as WorkflowContext;
  await new FileRunStore(dir).save({ ...newRunRecord(context, 'sandbox', new Date('2030-01-01T00:00:00Z')), state: 'StartNewMember' });
  return join(dir, `${RUN}.json`);
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cli-owner-'));
  vi.stubEnv('ETCD_REPLACE_RUN_DIR', dir);
  output = captureOutput();
});
afterEach(async () => {
  child?.kill('SIGKILL');
  child = undefined;
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  await rm(dir, { recursive: true, force: true });
});

describe('CLI: a run another process owns', () => {
  it("run (the same command) and resume: exit 3 naming the owner's pid and `kill PID`, before the sandbox is opened; the record unchanged", async () => {
    const path = await saveRunning();
    child = spawn('sleep', ['300'], { stdio: 'ignore' });
    await new FileRunOwners(join(dir, '.owners')).claim(RUN, 'test', child.pid!);
    const before = await readFile(path, 'utf8');
    for (const args of [runArgs, ['resume', RUN]]) {
      output.err = '';
      expect(await main(args)).toBe(3);
      expect(output.err).toMatch(
        new RegExp(`^error: run ${RUN} is in progress in pid ${child.pid} on \\S+ since \\S+; wait for it, or stop it with \`kill ${child.pid}\``),
      );
      expect(output.err).not.toMatch(/no sandbox|--sandbox:/);
    }
    expect(output.err).toContain(`\`etcd-replace resume ${RUN}\` takes it over`);
    expect(await readFile(path, 'utf8')).toBe(before);
  });

  it('another request on the same sandbox while a live run is in progress goes on to ask it or wait for its lock (here the sandbox is absent: exit 2), the live run untouched', async () => {
    const path = await saveRunning();
    child = spawn('sleep', ['300'], { stdio: 'ignore' });
    await new FileRunOwners(join(dir, '.owners')).claim(RUN, 'test', child.pid!);
    const before = await readFile(path, 'utf8');
    expect(await main(['run', '--sandbox', SANDBOX, '--failed', 'master-1', '--replacement', 'etcd-spare-0'])).toBe(2);
    expect(output.err).not.toMatch(/is in progress in pid/);
    expect(output.err).toMatch(/invalid --sandbox/);
    expect(await readFile(path, 'utf8')).toBe(before);
    // The wait is bounded as asked, and checked first.
    output.err = '';
    expect(await main(['run', '--sandbox', SANDBOX, '--failed', 'master-1', '--lock-wait-seconds', '3601'])).toBe(2);
    expect(output.err).toMatch(/--lock-wait-seconds must be at most 3600/);
  });

  it("another request on the same sandbox while a dead owner's run is unfinished is refused (exit 3), naming how to finish it", async () => {
    await saveRunning();
    child = spawn('true', [], { stdio: 'ignore' });
    const pid = child.pid!;
    await new Promise((resolve) => child!.on('exit', resolve));
    await new FileRunOwners(join(dir, '.owners')).claim(RUN, 'test', pid);
    expect(await main(['run', '--sandbox', SANDBOX, '--failed', 'master-1', '--replacement', 'etcd-spare-0'])).toBe(3);
    expect(output.err).toContain(
      `run ${RUN} (failed master-2, replacement etcd-spare-0) on ${SANDBOX} is unfinished: finish it with \`etcd-replace resume ${RUN} --sandbox ${SANDBOX}\``,
    );
  });

  it("a dead owner's run goes on to its sandbox (here absent: exit 2), writing nothing before the sandbox is open", async () => {
    const path = await saveRunning();
    child = spawn('true', [], { stdio: 'ignore' });
    const pid = child.pid!;
    await new Promise((resolve) => child!.on('exit', resolve));
    await new FileRunOwners(join(dir, '.owners')).claim(RUN, 'test', pid);
    const before = await readFile(path, 'utf8');
    expect(await main(['resume', RUN])).toBe(2);
    expect(output.err).toMatch(/invalid --sandbox/);
    expect(await readFile(path, 'utf8')).toBe(before);
  });
});

describe("CLI: the hold hook's variables", () => {
  it.each([
    [{ [HOLD_STEP_ENV]: 'AddMember' }, HOLD_FILE_ENV],
    [{ [HOLD_FILE_ENV]: '/tmp/hold' }, HOLD_STEP_ENV],
    [{ [HOLD_STEP_ENV]: 'NoSuchStep', [HOLD_FILE_ENV]: '/tmp/hold' }, HOLD_STEP_ENV],
  ])('half set or invalid (%j): exit 2 naming %s, and no record, no owner claim written', async (env, named) => {
    for (const [key, value] of Object.entries(env)) vi.stubEnv(key, value);
    expect(await main(runArgs)).toBe(2);
    expect(output.err).toContain(`invalid ${named}`);
    expect(output.err).not.toMatch(/no sandbox/);
    expect(await readdir(dir)).toEqual([]);
  });
});
