// The CLI and a run record that cannot be read (a file cut short, an empty file): `run` refuses
// (exit 3) on that record's own sandbox, naming the file, before the sandbox is opened or any record
// is written; another sandbox's `run` and `history` go on; `history` lists the record as unreadable.
// And every input of `run` is checked before any record is written: a rejected value leaves none.
// The run record directory is a temporary one (ETCD_REPLACE_RUN_DIR); the sandboxes named here do not
// exist, so a command that got as far as opening its sandbox ends with exit 2 "no sandbox".

import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { main } from '../../cli/main.ts';
import { FileRunStore } from '../../sandbox/adapters/fileRunStore.ts';
import { InvalidInputError } from '../../functions/errors.ts';
import type { StepDeps } from '../../functions/workflow/stepDeps.ts';
import { ValidateInput } from '../../functions/steps/ValidateInput.ts';
import * as validate from '../../functions/validate.ts';
import { newRunRecord } from '../../functions/workflow/localRun.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { captureOutput, type CapturedOutput } from '../support/captureOutput.ts';

const OWN = 'zz-absent-own';
const OTHER = 'zz-absent-other';
const DAMAGED = 'r-20300101-000000-aaaaaa';
const READABLE = 'r-20300102-000000-bbbbbb';

let dir: string;
let output: CapturedOutput;

function context(runId: string, cluster: string, startedBy = 'test'): WorkflowContext {
  return {
    runId,
    request: { cluster, failed: 'master-2', replacement: 'etcd-spare-0', startedBy },
    options: { graceSeconds: 1, learner: 'auto' },
  } as WorkflowContext;
}

/** A running record of `cluster`, cut short at `at` characters, as a run killed mid-write of an older writer left it. */
async function saveTruncated(runId: string, cluster: string, at: (text: string) => number): Promise<string> {
  const store = new FileRunStore(dir);
  const record = { ...newRunRecord(context(runId, cluster), 'sandbox', new Date('2030-01-01T00:00:00Z')), state: 'AddMember' };
  await store.save({ ...record, context: { ...record.context, filler: 'x'.repeat(6000) } });
  const path = join(dir, `${runId}.json`);
  await truncate(path, at(await readFile(path, 'utf8')));
  return path;
}

/** JSON.parse's message for the record cut short at 4311 characters, as this Node.js words it (22 adds the line and column). */
async function parseError(path: string): Promise<string> {
  try {
    JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    const message = (e as Error).message;
    expect(message).toMatch(/^Unterminated string in JSON at position 4311( \(line \d+ column \d+\))?$/);
    return message;
  }
  throw new Error(`${path} parses`);
}

async function saveReadable(runId: string, cluster: string): Promise<void> {
  await new FileRunStore(dir).save({
    ...newRunRecord(context(runId, cluster), 'sandbox', new Date('2030-01-02T00:00:00Z')),
    outcome: 'succeeded',
    state: 'Done',
    endedAt: '2030-01-02T00:10:00.000Z',
  });
}

const runArgs = (sandbox: string, ...more: string[]) => ['run', '--sandbox', sandbox, '--failed', 'master-2', '--replacement', 'etcd-spare-0', ...more];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cli-runs-'));
  vi.stubEnv('ETCD_REPLACE_RUN_DIR', dir);
  output = captureOutput();
});
afterEach(async () => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  await rm(dir, { recursive: true, force: true });
});

describe('CLI: a run record that cannot be read', () => {
  it('run on its own sandbox: exit 3, naming the file, the run and what to do, before the sandbox is opened or anything is written', async () => {
    const path = await saveTruncated(DAMAGED, OWN, () => 4311);
    const error = await parseError(path);
    const before = await readdir(dir);
    expect(await main(runArgs(OWN))).toBe(3);
    expect(output.err).toContain(
      `error: run record ${path} (run ${DAMAGED} on ${OWN}) cannot be read: ${error}\n  run ${DAMAGED} may have stopped partway through changing ${OWN}: `,
    );
    expect(output.err).toContain(`check ${OWN} by hand (etcd-replace sandbox status --sandbox ${OWN};`);
    expect(output.err).toContain(`then move the record aside: mv ${path} ${path}.unreadable`);
    expect(output.err).not.toMatch(/no sandbox|--sandbox:/); // refused before the (absent) sandbox was read
    expect(await readdir(dir)).toEqual(before);
  });

  it('resume of that run: exit 3, naming the file', async () => {
    const path = await saveTruncated(DAMAGED, OWN, () => 4311);
    expect(await main(['resume', DAMAGED])).toBe(3);
    expect(output.err).toContain(`error: run record ${path} (run ${DAMAGED} on ${OWN}) cannot be read`);
  });

  it("another sandbox's run is not blocked: it goes on to open its own sandbox", async () => {
    await saveTruncated(DAMAGED, OWN, () => 4311);
    expect(await main(runArgs(OTHER))).toBe(2);
    expect(output.err).toMatch(/invalid --sandbox/);
    expect(output.err).not.toContain(DAMAGED);
  });

  it('a record whose cluster cannot be known blocks no run, and the run names it on stderr', async () => {
    const path = await saveTruncated(DAMAGED, OWN, (text) => text.indexOf('"cluster"') + 5);
    expect(await main(runArgs(OWN))).toBe(2);
    expect(output.err).toContain(`warning: run record ${path} (run ${DAMAGED}, cluster unknown) cannot be read: `);
    expect(output.err).toContain(`if it is a run of ${OWN}, run ${DAMAGED} may have stopped partway through changing the cluster it was run on`);
    expect(output.err).toMatch(/invalid --sandbox/);
  });

  it('history --json lists it as {runId, cluster, unreadable: {path, error, action}} beside the readable runs', async () => {
    const path = await saveTruncated(DAMAGED, OWN, () => 4311);
    const error = await parseError(path);
    await saveReadable(READABLE, OTHER);
    expect(await main(['history', '--json'])).toBe(0);
    const listed = JSON.parse(output.out) as Record<string, unknown>[];
    expect(listed).toHaveLength(2);
    expect(listed[0]).toEqual({
      runId: DAMAGED,
      cluster: OWN,
      unreadable: { path, error, action: expect.stringContaining(`mv ${path} ${path}.unreadable`) },
    });
    expect(listed[1]).toMatchObject({ runId: READABLE, cluster: OTHER, outcome: 'succeeded', target: 'sandbox', startedBy: 'test', state: 'Done' });
    expect(output.err).toContain('warning: 1 run record cannot be read (the entries with "unreadable")');
  });

  it("history of another sandbox neither fails on it nor lists it; its own sandbox's history lists it in text", async () => {
    const path = await saveTruncated(DAMAGED, OWN, () => 4311);
    const error = await parseError(path);
    await saveReadable(READABLE, OTHER);
    expect(await main(['history', '--sandbox', OTHER, '--json'])).toBe(0);
    expect((JSON.parse(output.out) as { runId: string }[]).map((r) => r.runId)).toEqual([READABLE]);
    expect(output.err).toBe('');

    output.out = '';
    expect(await main(['history', '--sandbox', OWN])).toBe(0);
    expect(output.out).toContain(`run ${DAMAGED} on ${OWN}: UNREADABLE record ${path}\n  ${error}\n  run ${DAMAGED} may have stopped`);
    expect(output.out).toContain(`mv ${path} ${path}.unreadable`);
    expect(output.out).not.toContain(READABLE);
  });

  it('history lists an empty record of an unknown cluster for every sandbox', async () => {
    await writeFile(join(dir, `${DAMAGED}.json`), '');
    expect(await main(['history', '--sandbox', OTHER])).toBe(0);
    expect(output.out).toContain(`run ${DAMAGED} on an unknown cluster: UNREADABLE record ${join(dir, `${DAMAGED}.json`)}\n  the file is empty`);
    output.out = '';
    expect(await main(['history', '--json'])).toBe(0);
    expect(JSON.parse(output.out)).toEqual([
      { runId: DAMAGED, unreadable: { path: join(dir, `${DAMAGED}.json`), error: 'the file is empty', action: expect.any(String) } },
    ]);
  });
});

describe('CLI: run checks every input before any record is written', () => {
  for (const value of ['ü', 'alice smith', 'x'.repeat(129), 'a;rm -rf /']) {
    it(`--started-by ${JSON.stringify(value.length > 20 ? `${value.slice(0, 8)}…` : value)}: exit 2, no record`, async () => {
      expect(await main(runArgs(OWN, '--started-by', value))).toBe(2);
      expect(output.err).toMatch(/^error: invalid --started-by: .* is not who started the run: 1-128 characters of letters, digits and :@._\/-\n$/);
      await expect(readdir(dir)).resolves.toEqual([]);
    });
  }

  it('--started-by ü is named escaped', async () => {
    expect(await main(runArgs(OWN, '--started-by', 'ü'))).toBe(2);
    expect(output.err).toContain('invalid --started-by: "\\u00fc" is not who started the run');
    await expect(readdir(dir)).resolves.toEqual([]);
  });

  it('an accepted --started-by goes on to the sandbox', async () => {
    expect(await main(runArgs(OWN, '--started-by', 'ci/job-7@host.example'))).toBe(2);
    expect(output.err).toMatch(/invalid --sandbox/);
  });
});

describe('Function: validate.startedBy', () => {
  it('accepts exactly what the workflow ValidateInput accepts', async () => {
    const reached = new Error('startedBy accepted');
    const deps = { resolveInventory: () => Promise.reject(reached) } as unknown as StepDeps;
    for (const value of ['cli:root', 'ci/job-7@host.example', 'x'.repeat(128), 'x'.repeat(129), '', 'ü', 'a b', 'a\nb', 'a;b', 'cli:jo$e']) {
      const cli = (() => {
        try {
          return validate.startedBy('--started-by', value) === value;
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidInputError);
          return false;
        }
      })();
      const workflow = await ValidateInput(context('r-20300101-000000-cccccc', OWN, value), deps).then(
        () => true,
        (error: unknown) => error === reached,
      );
      expect({ value, cli }).toEqual({ value, cli: workflow });
    }
  });
});
