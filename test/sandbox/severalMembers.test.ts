// Several failed members in one run, on etcd 3.2.22 (no learners: each add makes a voter at once, and
// etcd adds a member only while the leader reaches every voting member). One five-member sandbox with
// ten spares, in order:
//   1. master-3 and master-4 powered off, as an availability-zone outage takes them: `plan` shows both
//      removals with quorum before and after each; then, under write load, one run brings the cluster back
//      to five; every acknowledged write is on every member; the writer's longest wait between two
//      acknowledgements; the timeline remove, remove, add, start, add, start.
//   2. two more members powered off, the run held once both are removed (before the first add): a second
//      command for one of them ends `covered by run R` (exit 0); the run killed there, the same command
//      finishes both.
//   3. two more down, the second new member unable to start: only it is compensated (the first stays); the
//      same command then finds the first done and replaces the second only;
//   4. many signals, one run: two more down, two commands, one per member, a second apart: the first takes
//      the second's member in at its second observation and replaces both; the second ends `covered by
//      run R` (exit 0), changing nothing;
//   5. three of five down: refused (exit 3), nothing changed, `remaining` pointing at restore-quorum.
// This sandbox is new because no other test has five members with two of them down at once.
// The same on etcd 3.4.23 with learners: test/sandbox/learner/severalMembers.test.ts.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failHost, type SandboxInfo } from '../../sandbox/index.ts';
import { waitFor } from '../../sandbox/util.ts';
import { cli } from '../support/cli.ts';
import {
  downAll,
  exitOf,
  holdBefore,
  memberNames,
  membershipOf,
  membersNow,
  parseRunJson,
  runsOf,
  sh,
  upSandbox,
  WatchedCli,
} from '../support/safetyHelpers.ts';
import { fqdn } from '../support/runChecks.ts';
import { QUORUM_LOSS_GAP_MS } from '../support/writer.ts';
import { expectOnEveryMember, membershipTimeline, runUnderWriteLoad } from '../support/underLoad.ts';

const created: string[] = [];
let sandbox: SandboxInfo;

beforeAll(async () => {
  sandbox = await upSandbox(created, 't-two', { members: 5, spares: 10, nodes: 1, dataMb: 2 });
});

afterAll(async () => {
  await downAll(created);
});

const twoArgs = (failed: [string, string], replacements: [string, string], ...extra: string[]) => [
  'run',
  '--sandbox',
  sandbox.name,
  '--failed',
  failed[0],
  '--failed',
  failed[1],
  '--replacement',
  replacements[0],
  '--replacement',
  replacements[1],
  '--grace-seconds',
  '0',
  '--json',
  ...extra,
];

const WORDS = { RemoveFailedMember: 'remove', AddMember: 'add', StartNewMember: 'start' };

describe('several failed members in one run (etcd 3.2.22)', () => {
  it('replaces master-3 and master-4, powered off under write load, in one run: remove, remove, add, start, add, start', async () => {
    await failHost(sandbox.name, 'master-3', 'kill');
    await failHost(sandbox.name, 'master-4', 'kill');
    // plan first, changing nothing: each member with its replacement, and quorum before and after each removal.
    const planned = await cli([
      'plan',
      '--sandbox',
      sandbox.name,
      '--failed',
      'master-3',
      '--failed',
      'master-4',
      '--replacement',
      'etcd-spare-0',
      '--replacement',
      'etcd-spare-1',
      '--json',
    ]);
    expect(exitOf(planned)).toMatchObject({ code: 0 });
    const plan = JSON.parse(planned.stdout) as {
      verdict: string;
      members: Array<{ failed: string; replacement: string }>;
      steps: Array<{ name: string; quorumBefore?: { text: string }; quorumAfter?: { text: string } }>;
    };
    expect(plan.verdict).toMatch(/^would proceed/);
    expect(plan.members.map((m) => [m.failed, m.replacement])).toEqual([
      ['master-3', 'etcd-spare-0'],
      ['master-4', 'etcd-spare-1'],
    ]);
    expect(plan.steps.filter((st) => st.name === 'RemoveFailedMember').map((st) => `${st.quorumBefore?.text} → ${st.quorumAfter?.text}`)).toEqual([
      'quorum holds: 3 of 5 voting members answer and 3 are needed → quorum holds: 3 of 4 voting members answer and 3 are needed',
      'quorum holds: 3 of 4 voting members answer and 3 are needed → quorum holds: 3 of 3 voting members answer and 2 are needed',
    ]);
    const { out, writes, gap } = await runUnderWriteLoad(
      sandbox,
      ['master-0', 'master-1', 'master-2'],
      twoArgs(['master-3', 'master-4'], ['etcd-spare-0', 'etcd-spare-1']),
      'two-member run',
    );
    expect(exitOf(out)).toMatchObject({ code: 0 });
    const result = parseRunJson(out.stdout);
    expect(result.outcome).toBe('succeeded');
    // --json and history show each failed member with its replacement and its steps.
    const members = (
      result as unknown as { members: Array<{ failed: string; replacement: string; removed: boolean; joined: boolean; steps: Array<{ name: string }> }> }
    ).members;
    expect(members.map((m) => [m.failed, m.replacement, m.removed, m.joined])).toEqual([
      ['master-3', 'etcd-spare-0', true, true],
      ['master-4', 'etcd-spare-1', true, true],
    ]);
    expect(members[1]!.steps.map((st) => st.name)).toEqual(
      expect.arrayContaining(['RemoveFailedMember', 'AddMember', 'StartNewMember', 'VerifyClusterHealth']),
    );
    const history = await cli(['history', '--sandbox', sandbox.name]);
    expect(history.stdout).toMatch(/member 1 of 2: master-3 → etcd-spare-0, named in the request: removed [0-9a-f]{16}, added [0-9a-f]{16}, started/);
    expect(history.stdout).toMatch(/member 2 of 2: master-4 → etcd-spare-1, named in the request: removed [0-9a-f]{16}, added [0-9a-f]{16}, started/);

    const live = ['master-0', 'master-1', 'master-2', 'etcd-spare-0', 'etcd-spare-1'];
    expect(memberNames(await membersNow(sandbox, live))).toEqual(live.map(fqdn).sort());
    expect(await membershipTimeline(sandbox, WORDS)).toEqual([
      'remove master-3 → etcd-spare-0 (1 of 2)',
      'remove master-4 → etcd-spare-1 (2 of 2)',
      'add master-3 → etcd-spare-0 (1 of 2)',
      'start master-3 → etcd-spare-0 (1 of 2)',
      'add master-4 → etcd-spare-1 (2 of 2)',
      'start master-4 → etcd-spare-1 (2 of 2)',
    ]);
    // The writer kept writing: quorum held at every step.
    expect(gap.ms).toBeLessThan(QUORUM_LOSS_GAP_MS);
    await expectOnEveryMember(sandbox, writes.acknowledged, live);
  });

  it('held once both members are removed: a second command for one of them is covered by the run; killed there, the same command adds and starts both', async () => {
    await failHost(sandbox.name, 'master-2', 'kill');
    await failHost(sandbox.name, 'etcd-spare-1', 'kill');
    const args = twoArgs(['master-2', 'etcd-spare-1'], ['etcd-spare-2', 'etcd-spare-3']);
    const hold = await holdBefore('ConfigureNewMember');
    const first = new WatchedCli(args, hold.env);
    try {
      await first.waitFor(/^hold: ConfigureNewMember waits while /, { past: true });
      // Both removed, nothing added yet: three members.
      const removed = await membersNow(sandbox, ['master-0', 'master-1', 'etcd-spare-0']);
      expect(memberNames(removed)).toEqual(['master-0', 'master-1', 'etcd-spare-0'].map(fqdn).sort());
      // Many signals, one run: a second command for a member the live run covers says so and exits 0.
      const second = await cli(['run', '--sandbox', sandbox.name, '--failed', 'etcd-spare-1', '--grace-seconds', '0', '--json']);
      expect(exitOf(second)).toMatchObject({ code: 0 });
      const [running] = await runsOf(sandbox.name);
      expect(second.stderr).toMatch(new RegExp(`^etcd-spare-1: covered by run ${running!.runId} \\(in progress in pid \\d+`, 'm'));
      expect(JSON.parse(second.stdout)).toEqual({ runId: running!.runId, outcome: 'covered', reason: `covered by run ${running!.runId}` });
      expect(memberNames(await membersNow(sandbox, ['master-0', 'master-1', 'etcd-spare-0']))).toEqual(
        ['master-0', 'master-1', 'etcd-spare-0'].map(fqdn).sort(),
      );
      first.kill('SIGKILL');
      await first.done;
    } finally {
      await hold.release();
    }
    const again = await cli(args);
    expect(exitOf(again)).toMatchObject({ code: 0 });
    expect(again.stderr).toMatch(/resuming unfinished run/);
    const live = ['master-0', 'master-1', 'etcd-spare-0', 'etcd-spare-2', 'etcd-spare-3'];
    expect(memberNames(await membersNow(sandbox, live))).toEqual(live.map(fqdn).sort());
    expect(await membershipTimeline(sandbox, WORDS)).toEqual([
      'remove master-2 → etcd-spare-2 (1 of 2)',
      'remove etcd-spare-1 → etcd-spare-3 (2 of 2)',
      'add master-2 → etcd-spare-2 (1 of 2)',
      'start master-2 → etcd-spare-2 (1 of 2)',
      'add etcd-spare-1 → etcd-spare-3 (2 of 2)',
      'start etcd-spare-1 → etcd-spare-3 (2 of 2)',
    ]);
  });

  it('the second new member cannot start: only it is compensated, the first stays; the same command then replaces the second only', async () => {
    await failHost(sandbox.name, 'etcd-spare-2', 'kill');
    await failHost(sandbox.name, 'etcd-spare-3', 'kill');
    const args = twoArgs(['etcd-spare-2', 'etcd-spare-3'], ['etcd-spare-4', 'etcd-spare-5']);
    // Once both replacements are prepared (InstallEtcd refuses a host whose etcd ports are taken), a
    // process takes etcd-spare-5's peer port: its etcd cannot start.
    const hold = await holdBefore('ConfigureNewMember');
    const run = new WatchedCli(args, { ETCD_REPLACE_MEMBER_START_SECONDS: '5', ...hold.env });
    let holder = 0;
    try {
      await run.waitFor(/^hold: ConfigureNewMember waits while /, { past: true });
      holder = Number(
        (
          await sh(
            sandbox,
            'etcd-spare-5',
            `${process.execPath} -e "require('net').createServer(() => {}).listen(2380, '0.0.0.0')" </dev/null >/dev/null 2>&1 & echo $!`,
          )
        ).trim(),
      );
      expect(holder).toBeGreaterThan(1);
      await waitFor('the port holder to listen', 20_000, 200, async () => (await sh(sandbox, 'etcd-spare-5', "ss -Hltn '( sport = :2380 )'")).trim() !== '');
    } finally {
      await hold.release();
    }
    const out = await run.done;
    process.kill(holder, 'SIGKILL');
    expect(exitOf(out)).toMatchObject({ code: 1 });
    const result = parseRunJson(out.stdout) as unknown as { members: Array<{ failed: string; replacement: string; removed: boolean; joined: boolean }> };
    expect(result.members.map((m) => [m.failed, m.replacement, m.removed, m.joined])).toEqual([
      ['etcd-spare-2', 'etcd-spare-4', true, true],
      ['etcd-spare-3', 'etcd-spare-5', true, false],
    ]);
    const [record] = await runsOf(sandbox.name);
    expect(record!.steps.filter((st) => st.name === 'CompensateNewMember').map((st) => [st.status, st.member])).toEqual([
      ['succeeded', 'etcd-spare-3 → etcd-spare-5 (2 of 2)'],
    ]);
    const four = ['master-0', 'master-1', 'etcd-spare-0', 'etcd-spare-4'];
    expect(memberNames(await membersNow(sandbox, four))).toEqual(four.map(fqdn).sort());

    // The same command: etcd-spare-2 is done (its replacement started), etcd-spare-3 gets its replacement.
    const again = await cli(args);
    expect(exitOf(again)).toMatchObject({ code: 0 });
    expect(again.stderr).toMatch(/etcd-spare-2: already done by run r-[0-9a-f-]+ on .* \(etcd-spare-4\); failed etcd-spare-3, replacement etcd-spare-5/);
    const five = [...four, 'etcd-spare-5'];
    expect(memberNames(await membersNow(sandbox, five))).toEqual(five.map(fqdn).sort());
    const [finished] = await runsOf(sandbox.name);
    expect(finished!.steps.filter((st) => st.name === 'RemoveFailedMember').map((st) => st.status)).toEqual(['skipped']);
  });

  it('two commands a second apart, one per failed member: the first takes the second member in and replaces both; the second ends covered by it', async () => {
    await failHost(sandbox.name, 'master-1', 'kill');
    await failHost(sandbox.name, 'etcd-spare-0', 'kill');
    const one = (failed: string, replacement: string) => [
      'run',
      '--sandbox',
      sandbox.name,
      '--failed',
      failed,
      '--replacement',
      replacement,
      '--grace-seconds',
      '6',
      '--json',
    ];
    const first = new WatchedCli(one('master-1', 'etcd-spare-6'));
    await first.waitFor(/^run r-\S+: replace master-1 /);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const second = new WatchedCli(one('etcd-spare-0', 'etcd-spare-7'));
    const [firstOut, secondOut] = await Promise.all([first.done, second.done]);
    expect(exitOf(firstOut)).toMatchObject({ code: 0 });
    const result = parseRunJson(firstOut.stdout) as unknown as {
      runId: string;
      outcome: string;
      members: Array<{ failed: string; replacement: string; removed: boolean; joined: boolean }>;
    };
    expect(result.outcome).toBe('succeeded');
    expect(result.members.map((m) => [m.failed, m.replacement, m.removed, m.joined])).toEqual([
      ['master-1', 'etcd-spare-6', true, true],
      ['etcd-spare-0', 'etcd-spare-7', true, true],
    ]);
    expect(firstOut.stderr).toMatch(/took in etcd-spare-0 → etcd-spare-7 \(asked by run r-\S+, started by /);
    expect(await membershipTimeline(sandbox, WORDS, result.runId)).toEqual([
      'remove master-1 → etcd-spare-6 (1 of 2)',
      'remove etcd-spare-0 → etcd-spare-7 (2 of 2)',
      'add master-1 → etcd-spare-6 (1 of 2)',
      'start master-1 → etcd-spare-6 (1 of 2)',
      'add etcd-spare-0 → etcd-spare-7 (2 of 2)',
      'start etcd-spare-0 → etcd-spare-7 (2 of 2)',
    ]);
    // The second: it asked, waited, and ended covered by the first, a success that changed nothing.
    expect(exitOf(secondOut)).toMatchObject({ code: 0 });
    expect(secondOut.stderr).toMatch(
      new RegExp(`run ${result.runId} is in progress in pid \\d+ .*: this run asks it to take etcd-spare-0 in, or waits for its lock`),
    );
    expect(secondOut.stderr).toMatch(new RegExp(`etcd-spare-0: covered by run ${result.runId} `));
    const covered = parseRunJson(secondOut.stdout);
    expect(covered.runId).not.toBe(result.runId);
    expect(covered).toMatchObject({ outcome: 'succeeded', reason: `covered by run ${result.runId}` });
    const [record] = (await runsOf(sandbox.name)).filter((r) => r.runId === covered.runId);
    expect(record!.steps.filter((st) => st.status === 'succeeded').map((st) => st.name)).toEqual(['ValidateInput', 'AcquireLock']);
    const live = ['master-0', 'etcd-spare-4', 'etcd-spare-5', 'etcd-spare-6', 'etcd-spare-7'];
    expect(memberNames(await membersNow(sandbox, live))).toEqual(live.map(fqdn).sort());
  });

  it('refuses three of five down, changing nothing, pointing at restore-quorum', async () => {
    for (const host of ['etcd-spare-4', 'etcd-spare-5', 'etcd-spare-6']) await failHost(sandbox.name, host, 'kill');
    const live = ['master-0', 'etcd-spare-7'];
    const before = membershipOf(await membersNow(sandbox, live));
    const out = await cli([
      'run',
      '--sandbox',
      sandbox.name,
      '--failed',
      'etcd-spare-4',
      '--failed',
      'etcd-spare-5',
      '--replacement',
      'etcd-spare-8',
      '--replacement',
      'etcd-spare-9',
      '--grace-seconds',
      '0',
      '--json',
    ]);
    expect(exitOf(out)).toMatchObject({ code: 3 });
    const result = parseRunJson(out.stdout);
    expect(result.outcome).toBe('refused');
    expect(result.reason).toMatch(/no quorum: 2 of 5 voting members answer and 3 are needed/);
    expect(result.remaining?.join('\n')).toMatch(/restore-quorum/);
    expect(membershipOf(await membersNow(sandbox, live))).toEqual(before);
  });
});
