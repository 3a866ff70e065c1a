// Resume: the runner is SIGKILLed inside each of a list of steps in turn, on one cluster, and the same
// `run` command, started again, resumes the unfinished run and finishes the job. The kill points
// advance through the run, so one replacement covers them all. The killed runner's host scripts keep
// running (as an SSM command outlives a Lambda that died); the resumed steps must cope with that too.

import { randomInt } from 'node:crypto';
import { expect } from 'vitest';
import { loadSandbox, type SandboxInfo } from '../../sandbox/index.ts';
import { FileRunStore } from '../../sandbox/adapters/fileRunStore.ts';
import { exitCodeOfRun, runViewOfRecord } from '../../functions/workflow/runView.ts';
import { recordBefore, verifyReplaced } from './verifyReplaced.ts';
import { exitOf, parseRunJson, stepStatus, WatchedCli, type RunJson } from './safetyHelpers.ts';
import { cli } from './cli.ts';

/** Steps that take a few milliseconds: killed the moment they start, or the kill lands after them. */
const QUICK = new Set([
  'ValidateInput',
  'AcquireLock',
  'ProvisionReplacement',
  'DiscardKeyBundle',
  'TerminateLaunchedHost',
  'RecordClusterState',
  'ReleaseLock',
  'StopFailedMember',
]);

/** How the run ended: its `run --json` document, or its record's view when the last kill landed after the end. */
export type RunResult = Pick<RunJson, 'runId' | 'reason' | 'steps'> & { outcome: string };

export interface Kill {
  step: string;
  /** The runner died before the step printed its end (✓, – or ✗). */
  interrupted: boolean;
  delayMs: number;
}

/**
 * Replaces `failed` (already failed) with `replacement`, killing the runner inside each step of
 * `killIn` (in run order) and starting the same command again each time; then checks the cluster
 * independently, the history (one run for the request, succeeded) and the record (the re-entered
 * steps). Returns the kills and the final run document for the caller's own checks.
 */
export async function replaceKilledInEachStep(
  sandbox: SandboxInfo,
  failed: string,
  replacement: string,
  killIn: string[],
): Promise<{ kills: Kill[]; result: RunResult }> {
  const before = await recordBefore(sandbox);
  const args = ['run', '--sandbox', sandbox.name, '--failed', failed, '--replacement', replacement, '--grace-seconds', '0', '--json'];
  const kills: Kill[] = [];
  let next = 0;
  let processes = 0;
  let result: RunResult | null = null;

  while (!result) {
    processes++;
    expect(processes).toBeLessThanOrEqual(killIn.length + 5);
    const watched = new WatchedCli(args);
    const targets = killIn.slice(next);
    const line = targets.length ? await watched.waitFor(new RegExp(`^▶ (${targets.join('|')})$`)).catch(() => null) : null;
    if (line === null) {
      const finished = await watched.done; // nothing left to interrupt: let it finish
      if (processes > 1)
        expect({ stderr: finished.stderr, stdout: finished.stdout.slice(0, 2000), code: finished.code, signal: finished.signal }).toMatchObject({
          stderr: expect.stringMatching(/^resuming unfinished run r-[0-9a-z-]+ at /m),
        });
      expect(exitOf(finished)).toMatchObject({ code: 0 });
      result = parseRunJson(finished.stdout);
      break;
    }
    if (processes > 1) expect(watched.stderr).toMatch(/^resuming unfinished run r-[0-9a-z-]+ at /m);
    const step = line.slice(2);
    const delayMs = QUICK.has(step) ? 0 : randomInt(0, 80);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    watched.kill('SIGKILL');
    const end = await watched.done;
    if (end.signal !== 'SIGKILL') {
      // It ended on its own before the signal landed (only possible after the last step).
      expect(exitOf(end)).toMatchObject({ code: 0 });
      result = parseRunJson(end.stdout);
      break;
    }
    const interrupted = !new RegExp(`^[✓–✗] ${step} `, 'm').test(end.stderr);
    kills.push({ step, interrupted, delayMs });
    next = killIn.indexOf(step) + 1;
    // Killed after its record said how the run ended (the kill landed after the last step): there is
    // nothing left to resume, and the record is the run's result.
    const runId = /^(?:run|resuming unfinished run) (r-[0-9a-z-]+)/m.exec(end.stderr)?.[1];
    expect(runId).toBeDefined();
    const record = await new FileRunStore().get(runId!);
    if (record && record.outcome !== 'running') {
      const view = runViewOfRecord(record);
      expect(exitCodeOfRun(view)).toBe(0);
      result = view;
    }
  }
  console.log(`killed in: ${kills.map((k) => `${k.step}${k.interrupted ? '' : ' (had ended)'} +${k.delayMs}ms`).join(', ')}`);

  expect(result.outcome).toBe('succeeded');
  expect(stepStatus(result)).toMatchObject({
    RemoveFailedMember: expect.stringMatching(/succeeded|skipped/),
    AddMember: expect.stringMatching(/succeeded|skipped/),
    CompensateNewMember: 'skipped',
  });

  await verifyReplaced(await loadSandbox(sandbox.name), failed, replacement, before);

  // One run for this request, and it succeeded; its record shows the re-entered steps.
  const history = await cli(['history', '--sandbox', sandbox.name, '--json']);
  expect(history.code).toBe(0);
  const runs = (JSON.parse(history.stdout) as Array<{ runId: string; outcome: string; request: Record<string, unknown> }>).filter(
    (r) => r.request['failed'] === failed && r.request['replacement'] === replacement,
  );
  expect(runs.map((r) => [r.runId, r.outcome])).toEqual([[result.runId, 'succeeded']]);
  const record = (await new FileRunStore().get(result.runId))!;
  expect(record.steps.length).toBeGreaterThan(killIn.length);
  return { kills, result };
}
