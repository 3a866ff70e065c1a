// The CLI explains itself (cli/commands/*.ts, cli/help.ts, cli/main.ts), asked through the bin as an operator asks it:
// every command and sandbox subcommand answers --help and -h with exit 0, its usage, a line per flag,
// an example and its exit codes, and the tool answers --version, all from the build in dist/.

import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { build, freshBuild } from '../../scripts/build.mjs';
import { allTopics, namedTopic } from '../../cli/commands/index.ts';
import { helpText, helpTopicOf, usageText, type Help } from '../../cli/help.ts';
import { main } from '../../cli/main.ts';
import { REPO, cli } from '../support/cli.ts';
import { captureOutput } from '../support/captureOutput.ts';

const VERSION = (JSON.parse(readFileSync(`${REPO}/package.json`, 'utf8')) as { version: string }).version;
const HELP: Record<string, Help> = await allTopics();
const TOPICS = Object.keys(HELP);
const topicHelp = (topic: string): Help => HELP[topic]!;

beforeAll(async () => {
  // One build before the spawns below, rather than one per spawn when a source has just changed.
  if (!freshBuild()) await build();
}, 120_000);

describe('Bin: etcd-replace <command> --help | -h', () => {
  it('has a help topic for every command and sandbox subcommand', () => {
    expect(TOPICS).toEqual(
      expect.arrayContaining([
        'plan',
        'run',
        'resume',
        'approve',
        'status',
        'history',
        'graph',
        'sandbox',
        'sandbox up',
        'sandbox status',
        'sandbox exec',
        'sandbox fail',
        'sandbox down',
        'bench',
      ]),
    );
  });

  describe.concurrent.each(TOPICS.flatMap((topic) => ['--help', '-h'].map((flag) => [topic, flag] as const)))('%s %s', (topic, flag) => {
    it('exits 0 with its usage, a line per flag, an example and its exit codes on stdout', async () => {
      const result = await cli([...topic.split(' '), flag]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(helpText(topicHelp(topic)));
      expect(result.stdout.startsWith(`usage: etcd-replace ${topic}`)).toBe(true);
      const lines = result.stdout.split('\n');
      for (const [name] of topicHelp(topic).sections.flatMap((s) => s.flags)) {
        expect(
          lines.some((l) => l.startsWith(`  ${name}`)),
          `${topic}: a line for ${name}`,
        ).toBe(true);
      }
      expect(lines.some((l) => /^ {2}-h, --help +show this help$/.test(l))).toBe(true);
      const examples = result.stdout.slice(result.stdout.indexOf('\nexamples:\n'));
      expect(examples).toMatch(/\n {2}(etcd-replace|npm run bench) \S/);
      expect(result.stdout).toMatch(/\nexit codes: \S/);
    });
  });

  it('names every flag each command accepts', () => {
    const flags = (topic: string) => topicHelp(topic).sections.flatMap((s) => s.flags.map(([name]) => name.split(/[ ,]/)[0]));
    expect(flags('approve')).toEqual(expect.arrayContaining(['RUN_ID', '--target', '--state-machine-arn', '--table', '--decline', '--reason', '--json', '-h']));
    expect(flags('plan')).toEqual(expect.arrayContaining(['--target', '--sandbox', '--failed', '--replacement', '--learner', '--json', '-h']));
    expect(flags('run')).toEqual(
      expect.arrayContaining([
        '--target',
        '--sandbox',
        '--failed',
        '--replacement',
        '--grace-seconds',
        '--learner',
        '--ca-backup-key',
        '--install-etcd-version',
        '--started-by',
        '--state-machine-arn',
        '--input',
        '--name',
        '--wait',
        '--json',
      ]),
    );
    expect(flags('history')).toEqual(
      expect.arrayContaining(['--target', '--sandbox', '--state-machine-arn', '--table', '--region', '--cluster', 'RUN_ID', '--limit', '--json']),
    );
    expect(flags('sandbox up')).toEqual(
      expect.arrayContaining(['--sandbox', '--members', '--spares', '--nodes', '--data-mb', '--etcd-version', '--host-etcd-version', '--json']),
    );
    expect(flags('bench')).toEqual(expect.arrayContaining(['--quick', '--scenario', '--reps', '--json', '--render', '--cost-only']));
  });

  it('answers help anywhere before `--`, and leaves what follows `--` to the command run on a host', () => {
    expect(helpTopicOf('run', ['--target', 'sandbox', '--help'], TOPICS)).toBe('run');
    expect(helpTopicOf('sandbox', ['up', '-h'], TOPICS)).toBe('sandbox up');
    expect(helpTopicOf('sandbox', ['-h', 'up'], TOPICS)).toBe('sandbox');
    expect(helpTopicOf('sandbox', ['exec', 'master-0', '--', 'etcdctl', '--help'], TOPICS)).toBeUndefined();
    expect(helpTopicOf('sandbox', ['exec', '--help', 'master-0', '--', 'ls'], TOPICS)).toBe('sandbox exec');
    expect(helpTopicOf('plan', ['--failed', 'master-2'], TOPICS)).toBeUndefined();
  });

  it("keeps the argument errors' usage lines as they were", () => {
    expect(usageText(topicHelp('status'))).toBe('usage: etcd-replace status EXECUTION_ARN [--json]');
    expect(usageText(topicHelp('sandbox fail'))).toBe('usage: etcd-replace sandbox fail [--sandbox NAME] HOST [--mode kill|etcd|partition]');
    expect(usageText(topicHelp('run')).split('\n')[1]).toBe(
      '       etcd-replace run --target aws --state-machine-arn ARN --input FILE [--name EXECUTION_NAME] [--wait] [--json]',
    );
  });
});

describe('Bin: etcd-replace --version, --help, help TOPIC', () => {
  it.each([['--version'], ['-V']])('%s prints the package version, exit 0', async (flag) => {
    const result = await cli([flag]);
    expect(result).toEqual({ code: 0, stdout: `etcd-replace ${VERSION}\n`, stderr: '' });
  });

  it('--help lists every command and --version', async () => {
    const result = await cli(['--help']);
    expect(result.code).toBe(0);
    for (const command of ['plan', 'run', 'resume', 'status', 'history', 'graph', 'sandbox', 'bench'])
      expect(result.stdout).toMatch(new RegExp(`\\n {2}${command} +\\S`));
    expect(result.stdout).toContain('-V, --version');
  });

  it('runs from the build: after a start, dist/ holds a build of the current sources', async () => {
    expect((await cli(['-h'])).code).toBe(0);
    expect(freshBuild()).toMatch(/\/dist\/b-[0-9a-f]{16}\/main\.js$/);
  });

  it('`help sandbox up` prints that topic; an unknown topic is a usage error (exit 2)', async () => {
    expect(await namedTopic(['sandbox', 'up'])).toBe(topicHelp('sandbox up'));
    expect(await namedTopic(['toString'])).toBeUndefined();
    expect(await namedTopic(['sandbox', 'toString'])).toBeUndefined();
    const output = captureOutput();
    try {
      expect(await main(['help', 'sandbox', 'up'])).toBe(0);
      expect(output.out).toBe(helpText(topicHelp('sandbox up')));
      expect(await main(['help', 'nothing'])).toBe(2);
      expect(output.err).toContain('no help for "nothing"');
      expect(await main(['toString'])).toBe(2);
      expect(output.err).toContain('unknown command "toString"');
    } finally {
      vi.restoreAllMocks();
    }
  });
});
