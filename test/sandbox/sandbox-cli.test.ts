// CLI argument errors that need no sandbox: every one exits 2 with a clear message and changes nothing.
import { describe, expect, it } from 'vitest';
import { cli } from '../support/cli.ts';
import { leftovers } from '../support/sandboxHelpers.ts';

describe.concurrent('CLI: sandbox arguments', () => {
  it.each([
    [['sandbox', 'up', '--sandbox', 'x-cli', '--members', '4'], /--members must be 3 or 5, got 4/],
    [['sandbox', 'up', '--sandbox', 'x-cli', '--members', 'three'], /--members must be a non-negative integer, got "three"/],
    [['sandbox', 'up', '--sandbox', 'x-cli', '--spares', '-1'], /--spares/],
    [['sandbox', 'up', '--sandbox', 'x-cli', '--data-mb', '1.5'], /--data-mb must be a non-negative integer, got "1.5"/],
    [['sandbox', 'up', '--sandbox', 'x-cli', '--nodes', '11'], /invalid nodes: must be an integer from 0 to 10, got 11/],
    [['sandbox', 'up', '--sandbox', 'x-cli', '--bogus'], /Unknown option '--bogus'/],
    [['sandbox', 'up', '--sandbox', 'x-cli', '--etcd-version', '3.2'], /invalid etcd-version: "3.2" must be a version like 3.2.22/],
    [['sandbox', 'up', '--sandbox', 'x-cli', '--etcd-version', '../../bin/3.2.22'], /invalid etcd-version/],
    [['sandbox', 'up', '--sandbox', 'x-cli', '--host-etcd-version', 'master-2'], /--host-etcd-version must be HOST=X.Y.Z/],
    [['sandbox', 'up', '--sandbox', 'x-cli', '--host-etcd-version', 'master-3=3.3.11'], /"master-3" is not a master of this sandbox/],
    [['sandbox', 'status', '--sandbox', 'Bad_Name'], /"Bad_Name" must match/],
    [['sandbox', 'status', '--sandbox', 'much-too-long-sandbox-name'], /must match/],
    [['sandbox', 'status', 'extra'], /takes no arguments/],
    [['sandbox', 'fail'], /usage: etcd-replace sandbox fail/],
    [['sandbox', 'explode'], /unknown sandbox subcommand "explode"/],
    [['sandbox'], /no sandbox subcommand/],
    [['no-such-command'], /unknown command "no-such-command"/],
  ])('%j', async (args, message) => {
    const result = await cli(args);
    expect(result.stderr).toMatch(message);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(await leftovers('x-cli')).toEqual([]);
  });

  it('answers status for a sandbox that does not exist with exit 1 and how to create it', async () => {
    const result = await cli(['sandbox', 'status', '--sandbox', 'x-absent', '--json']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('sandbox "x-absent" does not exist');
    expect(result.stdout).toBe('');
  });

  it('prints usage for --help', async () => {
    const result = await cli(['sandbox', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('up [--members 3|5]');
  });
});
