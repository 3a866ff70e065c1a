// The host scripts' exit-code convention (functions/scripts/lib/exitCodes.sh), read once by the runner's
// result handling (functions/hosts/hostScript.ts): a fake HostRunner returns each code; the etcdctl
// adapter reads etcdctl.sh's codes the same way. Then the scripts' side: every script states the
// codes it uses in its header, and the ERR trap keeps a failing command's own status from passing for
// one of the convention's words.

import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { EtcdctlMembership } from '../../functions/adapters/etcdctl.ts';
import {
  EtcdUnavailableError,
  InvalidInputError,
  MemberNotFoundError,
  NewMemberFailedError,
  RefusedError,
  ScriptFailedError,
  ScriptTimedOutError,
  WorkflowError,
} from '../../functions/errors.ts';
import type { Host, HostRunner, ScriptRequest } from '../../functions/ports.ts';
import { runScript, runScriptText, SCRIPT_EXIT } from '../../functions/hosts/hostScript.ts';

const exec = promisify(execFile);
const SCRIPTS = path.join(import.meta.dirname, '../../functions/scripts');
const host: Host = { name: 'master-0', hostname: 'master-0.example.test', ip: '198.51.100.2', roles: ['master', 'etcd'] };

/** A runner whose script exits `exitCode` with `stderr`, and records what it was asked to run. */
function exiting(exitCode: number, stderr = 'what the script said', stdout = ''): HostRunner & { requests: ScriptRequest[] } {
  const requests: ScriptRequest[] = [];
  return {
    requests,
    run: async (request) => {
      requests.push(request);
      return { exitCode, stdout, stderr };
    },
  };
}

async function thrown(promise: Promise<unknown>): Promise<WorkflowError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof WorkflowError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

describe('Function: runScript, the exit-code convention', () => {
  it('resolves with the last stdout line as JSON on exit 0', async () => {
    const runner = exiting(0, '', 'progress\n{"changed":true}\n');
    await expect(runScript(runner, { host, script: 'WriteHostFile', args: ['/etc/ansible/hosts'] })).resolves.toEqual({ changed: true });
    expect(runner.requests[0]).toMatchObject({ host, script: 'WriteHostFile', args: ['/etc/ansible/hosts'], timeoutSeconds: 120 });
  });

  it.each([
    [SCRIPT_EXIT.badArguments, 'InvalidInputError', InvalidInputError],
    [SCRIPT_EXIT.refused, 'RefusedError', RefusedError],
    [SCRIPT_EXIT.notReady, 'ScriptTimedOutError', ScriptTimedOutError],
    [SCRIPT_EXIT.failed, 'ScriptFailedError', ScriptFailedError],
    [SCRIPT_EXIT.uploadCannotLeaveHost, 'ScriptFailedError', ScriptFailedError],
    [SCRIPT_EXIT.noSnapshotJob, 'ScriptFailedError', ScriptFailedError],
    [125, 'ScriptFailedError', ScriptFailedError],
    [137, 'ScriptFailedError', ScriptFailedError],
  ])('exit %i is %s', async (code, name, ErrorType) => {
    const error = await thrown(runScript(exiting(code, 'line 1\nthe reason'), { host, script: 'InstallEtcd', args: ['prepare'] }));
    expect(error).toBeInstanceOf(ErrorType);
    expect(error.name).toBe(name);
    expect(error.message).toContain('InstallEtcd');
    expect(error.message).toContain('master-0');
    expect(error.message).toContain('the reason');
  });

  it('names the exit code in a ScriptFailedError, and in the message of a script that said nothing', async () => {
    const failed = await thrown(runScriptText(exiting(7, ''), { host, script: 'OpenEtcdPorts' }));
    expect(failed).toBeInstanceOf(ScriptFailedError);
    expect((failed as ScriptFailedError).scriptExitCode).toBe(7);
    expect(failed.message).toBe('OpenEtcdPorts on master-0 exited 7: ');
    const refused = await thrown(runScriptText(exiting(3, ''), { host, script: 'WriteHostFile' }));
    expect(refused.message).toBe('WriteHostFile on master-0: exit 3');
  });

  it('bad arguments end the run with the CLI code for bad input (2), a refusal with 3', async () => {
    expect((await thrown(runScript(exiting(2, 'bad hostname'), { host, script: 'StartNewMember' }))).exitCode).toBe(2);
    expect((await thrown(runScript(exiting(3, 'refusing'), { host, script: 'StartNewMember' }))).exitCode).toBe(3);
  });

  it('a step that gives a code a meaning of its own gets that error; the other codes keep the convention', async () => {
    const exits = { [SCRIPT_EXIT.notReady]: (m: string) => new NewMemberFailedError(m) };
    const own = await thrown(runScript(exiting(4, 'etcd did not start listening'), { host, script: 'StartNewMember', exits }));
    expect(own).toBeInstanceOf(NewMemberFailedError);
    expect(own.message).toBe('StartNewMember on master-0: etcd did not start listening');
    expect(await thrown(runScript(exiting(3, 'refusing'), { host, script: 'StartNewMember', exits }))).toBeInstanceOf(RefusedError);
    expect(await thrown(runScript(exiting(1, 'tar failed'), { host, script: 'StartNewMember', exits }))).toBeInstanceOf(ScriptFailedError);
  });

  it('an exit 0 without a JSON last line is a ScriptFailedError', async () => {
    const error = await thrown(runScript(exiting(0, '', 'not json\n'), { host, script: 'DescribeEtcdHost' }));
    expect(error).toBeInstanceOf(ScriptFailedError);
    expect(error.message).toMatch(/did not print a JSON result/);
  });
});

describe('Class: EtcdctlMembership, etcdctl.sh exit codes', () => {
  const etcd = (runner: HostRunner) => new EtcdctlMembership(runner, [host], ['https://198.51.100.2:2379']);

  it('2 (bad arguments) is InvalidInputError, whatever the text', async () => {
    const error = await thrown(etcd(exiting(2, 'etcdctl.sh: member id must be 16 lowercase hex digits')).memberList());
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toContain('member id must be 16 lowercase hex digits');
  });

  it("1 (etcdctl failed) is the error etcd's message names, else ScriptFailedError", async () => {
    expect(await thrown(etcd(exiting(1, 'Error: etcdserver: member not found\netcdctl exited 1')).removeMember('8e9e05c52164694d'))).toBeInstanceOf(
      MemberNotFoundError,
    );
    expect(await thrown(etcd(exiting(1, 'Error: context deadline exceeded\netcdctl exited 1')).memberList())).toBeInstanceOf(EtcdUnavailableError);
    expect(await thrown(etcd(exiting(1, 'Error: something new\netcdctl exited 128')).memberList())).toBeInstanceOf(ScriptFailedError);
  });
});

/** The comment lines at the top of a script, up to `set -o`. */
function header(text: string): string {
  const lines = text.split('\n');
  return lines
    .slice(
      0,
      lines.findIndex((line) => line.startsWith('set -o')),
    )
    .join('\n');
}

describe('Host scripts: each states its exit codes', () => {
  const scripts = readdirSync(SCRIPTS).filter((name) => name.endsWith('.sh'));

  it.each(scripts)('%s sources lib/exitCodes.sh and names in its header every code it exits with', (name) => {
    const text = readFileSync(path.join(SCRIPTS, name), 'utf8');
    expect(text).toMatch(
      /^set -o errexit -o nounset -o pipefail\n# shellcheck source=functions\/scripts\/lib\/exitCodes\.sh\nsource "\$\(dirname "\$\{BASH_SOURCE\[0\]\}"\)\/lib\/exitCodes\.sh"$/m,
    );
    const stated = header(text).split(/Exit codes \(lib\/exitCodes\.sh\):/)[1];
    expect(stated, `${name} has an "Exit codes (lib/exitCodes.sh):" paragraph in its header`).toBeDefined();
    const used = new Set([...text.matchAll(/\bexit (\d+)\b/g)].map((m) => Number(m[1])).filter((code) => code > 1));
    if (/\bcheck_[a-z0-9_]+ /.test(text)) used.add(2); // lib/args.sh's checks exit 2 on the script's behalf
    for (const code of used) expect(stated, `${name} exits ${code}`).toMatch(new RegExp(`(^|[\\s;:])${code}\\s+[a-z]`));
    expect(text).not.toMatch(/\$\{\d:\?/); // a missing argument is a bad argument (2), not bash's own exit
  });

  it('lib/exitCodes.sh names every code a script uses beyond 4, once', () => {
    const lib = readFileSync(path.join(SCRIPTS, 'lib/exitCodes.sh'), 'utf8');
    const libs = readdirSync(path.join(SCRIPTS, 'lib')).map((name) => readFileSync(path.join(SCRIPTS, 'lib', name), 'utf8'));
    const texts = [...scripts.map((name) => readFileSync(path.join(SCRIPTS, name), 'utf8')), ...libs];
    const beyond = new Set(texts.flatMap((text) => [...text.matchAll(/\bexit (\d+)\b/g)].map((m) => Number(m[1]))).filter((code) => code > 4));
    expect([...beyond].sort()).toEqual([SCRIPT_EXIT.uploadCannotLeaveHost, SCRIPT_EXIT.noSnapshotJob]);
    for (const code of [0, 1, 2, 3, 4, ...beyond]) expect(lib.match(new RegExp(`^#\\s+${code}\\s+\\S`, 'gm')), `code ${code}`).toHaveLength(1);
  });
});

describe('lib/exitCodes.sh: a failing command exits 1, an explicit exit keeps its code', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'exit-codes-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const run = async (body: string): Promise<number> => {
    const file = path.join(dir, `t${Math.random().toString(36).slice(2)}.sh`);
    writeFileSync(file, `set -o errexit -o nounset -o pipefail\nsource ${JSON.stringify(path.join(SCRIPTS, 'lib/exitCodes.sh'))}\n${body}\n`);
    try {
      await exec('bash', [file]);
      return 0;
    } catch (error) {
      return (error as { code: number }).code;
    }
  };

  it.each([
    ['a command that fails with 3 at the top', '(exit 3)', 1],
    ['a command that fails with 2 in a function', 'f() { (exit 2); echo not here; }; f', 1],
    ['an assignment whose command substitution exits 5', 'x=$(exit 5)', 1],
    ['a pipeline whose first command fails with 4', '(exit 4) | cat', 1],
    ['an explicit exit 3 at the top', 'echo refusing >&2; exit 3', 3],
    ['an explicit exit 4 in a function', 'f() { exit 4; }; f', 4],
    ['an exit passed on from a command substitution', 'x=$(exit 5) || exit $?', 5],
    ['a failure in a condition, then success', 'if (exit 3); then exit 9; fi; (exit 2) || true; echo "$(grep -c x <<<abc)"', 0],
  ])('%s: %i', async (_what, body, code) => {
    expect(await run(body)).toBe(code);
  });
});
