// Resume: the runner is SIGKILLed inside each step in turn, and the same `run` command, started again,
// resumes the unfinished run and finishes the job. The killed runner's host scripts keep running (as
// an SSM command outlives a Lambda that died); the resumed steps must cope with that too.

import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failHost, loadSandbox, type SandboxInfo } from '../../sandbox/index.ts';
import { FileRunStore } from '../../functions/adapters/sandbox/fileRunStore.ts';
import { TASKS } from '../../statemachine/spec.ts';
import { recordBefore, verifyReplaced, type Before } from '../support/verifyReplaced.ts';
import { downAll, exitOf, parseRunJson, stepStatus, upSandbox, WatchedCli } from '../support/safetyHelpers.ts';
import { cli } from '../support/cli.ts';

const created: string[] = [];
let sandbox: SandboxInfo;
let before: Before;

beforeAll(async () => {
  sandbox = await upSandbox(created, 't-res', { members: 3, spares: 1, nodes: 1, dataMb: 2 });
  before = await recordBefore(sandbox);
  // etcd dies, the host stays reachable: the success path then also visits BackUpFailedMemberData.
  await failHost(sandbox.name, 'master-2', 'etcd');
});

afterAll(async () => {
  await downAll(created);
});

/** Task states the success path of this run visits, in TASKS order. */
const VISITED: string[] = TASKS.map((t) => t.name).filter((name) => name !== 'CompensateNewMember' && name !== 'FixLocalhostPeerUrls');

/** Steps that take a few milliseconds: killed the moment they start, or the kill lands after them. */
const QUICK = new Set(['ValidateInput', 'AcquireLock', 'ProvisionReplacement', 'DiscardKeyBundle', 'TerminateLaunchedHost', 'RecordClusterState', 'ReleaseLock', 'StopFailedMember']);

interface Kill {
  step: string;
  /** The runner died before the step printed its end (✓, – or ✗). */
  interrupted: boolean;
  delayMs: number;
}

describe('resume after the runner is killed inside each step', () => {
  it('kills the CLI in every step of the success path in turn; the same command resumes and finishes', async () => {
    const args = ['run', '--sandbox', sandbox.name, '--failed', 'master-2', '--replacement', 'etcd-spare-0', '--grace-seconds', '1', '--json'];
    const kills: Kill[] = [];
    let next = 0;
    let processes = 0;
    let finished: Awaited<WatchedCli['done']> | null = null;

    while (!finished) {
      processes++;
      expect(processes).toBeLessThanOrEqual(VISITED.length + 5);
      const watched = new WatchedCli(args);
      const targets = VISITED.slice(next);
      const started = targets.length
        ? watched.waitFor(new RegExp(`^▶ (${targets.join('|')})$`)).catch(() => null)
        : Promise.resolve(null);
      const line = await started;
      if (line === null) {
        finished = await watched.done; // nothing left to interrupt: let it finish
        if (processes > 1) expect({ stderr: finished.stderr, stdout: finished.stdout.slice(0, 2000), code: finished.code, signal: finished.signal }).toMatchObject({ stderr: expect.stringMatching(/^resuming unfinished run r-[0-9a-z-]+ at /m) });
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
        finished = end;
        break;
      }
      const interrupted = !new RegExp(`^[✓–✗] ${step} `, 'm').test(end.stderr);
      kills.push({ step, interrupted, delayMs });
      next = VISITED.indexOf(step) + 1;
    }

    const killedSteps = kills.map((k) => k.step);
    const interrupted = kills.filter((k) => k.interrupted).map((k) => k.step);
    console.log(`killed in: ${kills.map((k) => `${k.step}${k.interrupted ? '' : ' (had ended)'} +${k.delayMs}ms`).join(', ')}`);
    // Every visited step was the one running when some runner was killed, or had already finished
    // before the runner reached it only because an earlier kill landed after it.
    expect(killedSteps.length).toBeGreaterThanOrEqual(VISITED.length - 3);
    expect(interrupted.length).toBeGreaterThanOrEqual(Math.ceil(VISITED.length / 2));
    for (const step of ['SnapshotCluster', 'IssueCertificates', 'RemoveFailedMember', 'AddMember', 'StartNewMember', 'RollMasters']) {
      expect(killedSteps).toContain(step);
    }

    expect(exitOf(finished)).toMatchObject({ code: 0 });
    const result = parseRunJson(finished.stdout);
    expect(result.outcome).toBe('succeeded');
    expect(stepStatus(result)).toMatchObject({ RemoveFailedMember: expect.stringMatching(/succeeded|skipped/), AddMember: expect.stringMatching(/succeeded|skipped/), CompensateNewMember: 'skipped' });

    await verifyReplaced(await loadSandbox(sandbox.name), 'master-2', 'etcd-spare-0', before);

    // One run for this request, and it succeeded; its record shows the re-entered steps.
    const history = await cli(['history', '--sandbox', sandbox.name, '--json']);
    expect(history.code).toBe(0);
    const runs = (JSON.parse(history.stdout) as Array<{ runId: string; outcome: string; request: Record<string, unknown> }>).filter(
      (r) => r.request['failed'] === 'master-2' && r.request['replacement'] === 'etcd-spare-0',
    );
    expect(runs.map((r) => [r.runId, r.outcome])).toEqual([[result.runId, 'succeeded']]);
    const record = (await new FileRunStore().get(result.runId))!;
    expect(record.steps.length).toBeGreaterThan(VISITED.length);
  });
});
