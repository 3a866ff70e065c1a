import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { mockClient } from 'aws-sdk-client-mock';
import {
  CancelCommandCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  InvalidInstanceId,
  InvocationDoesNotExist,
  SendCommandCommand,
  SSMClient,
  type GetCommandInvocationCommandOutput,
} from '@aws-sdk/client-ssm';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  INVOCATION_RULES,
  SsmHostRunner,
  classifyInvocation,
  encodeCommands,
  isTruncated,
  outputKey,
  outputKeyFromUrl,
  type SsmCommandEvent,
  type SsmHostRunnerConfig,
} from '../../functions/adapters/aws/ssmHostRunner.ts';
import { CommandCancelledError, HostUnreachableError, InvalidInputError, ScriptTimedOutError } from '../../functions/errors.ts';
import type { Host, ScriptRequest } from '../../functions/ports.ts';
import { oneTimeKeyCommands, sealSecrets } from '../../functions/adapters/aws/secretSeal.ts';

const INSTANCE = 'i-0123456789abcdef0';
const host: Host = { name: 'master-0', hostname: 'master-0.example.internal', ip: '10.0.1.10', roles: ['master', 'etcd', 'ca'], instanceId: INSTANCE };
const ECHO_ARGS = 'set -o errexit -o nounset -o pipefail\nprintf \'[%s]\\n\' "$0" "$@"\n';
const HOSTILE = ['$(id)', '`id`', "it's", '"double"', 'two words', '--flag', '-e', '', '*', '$HOME', '\\', "'", 'a;b|c&d>e', '!x'];

function bash(text: string, shell = 'bash'): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(shell, ['-c', text], { encoding: 'utf8', input: 'STDIN-SHOULD-NOT-BE-READ\n' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const ssmMock = mockClient(SSMClient);
const s3Mock = mockClient(S3Client);

interface Clock {
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  slept: number[];
}

function clock(): Clock {
  let t = 1_000_000;
  const slept: number[] = [];
  return {
    slept,
    now: () => t,
    sleep: async (ms: number) => {
      slept.push(ms);
      t += ms;
    },
  };
}

function runner(overrides: Partial<SsmHostRunnerConfig> = {}, c: Clock = clock()): SsmHostRunner {
  return new SsmHostRunner({
    ssm: new SSMClient({ region: 'eu-west-1' }),
    scripts: (name) => `#!/usr/bin/env bash\n# ${name}\n${ECHO_ARGS}`,
    sleep: c.sleep,
    now: c.now,
    ...overrides,
  });
}

const request = (over: Partial<ScriptRequest> = {}): ScriptRequest => ({
  host,
  script: 'StopFailedMember',
  args: ['a', 'b c'],
  timeoutSeconds: 120,
  ...over,
});

function invocation(over: Partial<GetCommandInvocationCommandOutput>): GetCommandInvocationCommandOutput {
  return { $metadata: {}, CommandId: 'cmd-1', InstanceId: INSTANCE, ...over };
}

function online(): void {
  ssmMock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: INSTANCE, PingStatus: 'Online' }] });
}

beforeEach(() => {
  ssmMock.reset();
  s3Mock.reset();
  online();
  ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
});

afterEach(() => {
  ssmMock.reset();
  s3Mock.reset();
});

describe('Function: encodeCommands', () => {
  it('passes hostile arguments to the script literally when the commands run under real bash', () => {
    const result = bash(encodeCommands('EchoArgs', ECHO_ARGS, HOSTILE).join('\n'));
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(['EchoArgs', ...HOSTILE].map((a) => `[${a}]\n`).join(''));
  });

  it('runs the same under a plain POSIX sh (the agent may use /bin/sh)', () => {
    const sh = existsSync('/bin/dash') ? '/bin/dash' : '/bin/sh';
    const result = bash(encodeCommands('EchoArgs', ECHO_ARGS, HOSTILE).join('\n'), sh);
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(['EchoArgs', ...HOSTILE].map((a) => `[${a}]\n`).join(''));
  });

  it('keeps the script errexit intact and hands its exit code back', () => {
    const script = 'set -o errexit -o nounset -o pipefail\necho before\nfalse\necho not-reached\n';
    const result = bash(encodeCommands('Fails', script, []).join('\n'));
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('before\n');
  });

  it('keeps nounset intact (a missing argument stops the script)', () => {
    const script = 'set -o errexit -o nounset -o pipefail\necho "${1:?path}"\n';
    const result = bash(encodeCommands('NeedsArg', script, []).join('\n'));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('path');
  });

  it('runs a script that contains quotes, heredoc markers and the wrapper variable name unchanged', () => {
    const script = [
      'set -o errexit',
      'echo \'single\' "double" `echo back`',
      "cat <<'__ETCD_REPLACE_EOF__'",
      '$etcd_replace_script stays literal',
      '__ETCD_REPLACE_EOF__',
      'exit 7',
    ].join('\n');
    const result = bash(encodeCommands('Tricky', script, []).join('\n'));
    expect(result.status).toBe(7);
    expect(result.stdout).toBe('single double back\n$etcd_replace_script stays literal\n');
  });

  it('gives the script /dev/null as stdin', () => {
    const result = bash(encodeCommands('ReadsStdin', 'cat; echo "[done]"', []).join('\n'));
    expect(result.stdout).toBe('[done]\n');
  });

  it('refuses arguments with newlines or NUL, and bad script names', () => {
    expect(() => encodeCommands('X', 'true', ['a\nb'])).toThrow(InvalidInputError);
    expect(() => encodeCommands('X', 'true', ['a\u0000b'])).toThrow(InvalidInputError);
    expect(() => encodeCommands('X', 'true', ['a\rb'])).toThrow(/args\[0\]/);
    expect(() => encodeCommands('../x', 'true', [])).toThrow(InvalidInputError);
    expect(() => encodeCommands('X; rm', 'true', [])).toThrow(InvalidInputError);
  });

  it('never puts an argument outside single quotes', () => {
    const [, , last] = encodeCommands('X', 'true', ['$(id)', "it's"]);
    expect(last).toBe(`exec bash -c "$etcd_replace_script" 'X' '$(id)' 'it'\\''s' </dev/null`);
  });
});

describe('Function: classifyInvocation', () => {
  it.each([
    [{ Status: 'Pending', StatusDetails: 'Pending' }, 'wait'],
    [{ Status: 'InProgress', StatusDetails: 'InProgress' }, 'wait'],
    [{ Status: 'Delayed', StatusDetails: 'Delayed' }, 'wait'],
    [{ Status: 'Success', StatusDetails: 'Success', ResponseCode: 0 }, 'output'],
    [{ Status: 'Failed', StatusDetails: 'Failed', ResponseCode: 3 }, 'output'],
    [{ Status: 'Failed', StatusDetails: 'Failed', ResponseCode: -1 }, 'agentFailed'],
    [{ Status: 'Failed', StatusDetails: 'Failed' }, 'agentFailed'],
    [{ Status: 'Failed', StatusDetails: 'Execution Timed Out', ResponseCode: 1 }, 'timedOut'],
    [{ Status: 'TimedOut', StatusDetails: 'ExecutionTimedOut' }, 'timedOut'],
    [{ Status: 'TimedOut', StatusDetails: 'Delivery Timed Out' }, 'unreachable'],
    [{ Status: 'TimedOut', StatusDetails: 'DeliveryTimedOut' }, 'unreachable'],
    [{ Status: 'TimedOut' }, 'timedOut'],
    [{ Status: 'Failed', StatusDetails: 'Undeliverable' }, 'unreachable'],
    [{ Status: 'Failed', StatusDetails: 'Terminated' }, 'unreachable'],
    [{ Status: 'Cancelled', StatusDetails: 'Cancelled' }, 'cancelled'],
    [{ Status: 'Cancelling', StatusDetails: 'Cancelling' }, 'cancelled'],
    [{ Status: 'SomethingNew' }, 'wait'],
  ])('classifies %j as %s', (input, outcome) => {
    expect(classifyInvocation(input).outcome).toBe(outcome);
  });

  it('exports a table where every throwing outcome names its error and retryability', () => {
    for (const rule of INVOCATION_RULES) {
      if (rule.outcome === 'wait' || rule.outcome === 'output') expect(rule.error).toBeUndefined();
      else expect(rule.error).toMatch(/Error$/);
    }
    expect(INVOCATION_RULES.filter((r) => r.error === 'HostUnreachableError').every((r) => r.retryable)).toBe(true);
    expect(INVOCATION_RULES.filter((r) => r.error === 'CommandCancelledError').every((r) => !r.retryable)).toBe(true);
  });
});

describe('Class: SsmHostRunner', () => {
  describe('Method: run', () => {
    it('sends AWS-RunShellScript with the encoded script, executionTimeout and a short delivery timeout', async () => {
      ssmMock
        .on(GetCommandInvocationCommand)
        .resolves(invocation({ Status: 'Success', StatusDetails: 'Success', ResponseCode: 0, StandardOutputContent: 'ok\n' }));
      const out = await runner({ deliveryTimeoutSeconds: 45, comment: 'run-abc123' }).run(request({ timeoutSeconds: 300 }));
      expect(out).toEqual({ exitCode: 0, stdout: 'ok\n', stderr: '' });
      const input = ssmMock.commandCalls(SendCommandCommand)[0]?.args[0].input;
      expect(input).toMatchObject({
        DocumentName: 'AWS-RunShellScript',
        InstanceIds: [INSTANCE],
        TimeoutSeconds: 45,
        Comment: 'StopFailedMember run-abc123',
        Parameters: { executionTimeout: ['300'] },
      });
      expect(input?.OutputS3BucketName).toBeUndefined();
      expect(input?.CloudWatchOutputConfig).toBeUndefined();
      const commands = input?.Parameters?.commands ?? [];
      expect(commands).toEqual(encodeCommands('StopFailedMember', `#!/usr/bin/env bash\n# StopFailedMember\n${ECHO_ARGS}`, ['a', 'b c']));
      // The exact text SSM would run, run by bash here: the script gets its arguments.
      expect(bash(commands.join('\n')).stdout).toBe('[StopFailedMember]\n[a]\n[b c]\n');
      expect(ssmMock.commandCalls(GetCommandInvocationCommand)[0]?.args[0].input).toEqual({ CommandId: 'cmd-1', InstanceId: INSTANCE });
    });

    it('checks the instance is managed and online before sending', async () => {
      ssmMock.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'Success', ResponseCode: 0 }));
      await runner().run(request());
      expect(ssmMock.commandCalls(DescribeInstanceInformationCommand)[0]?.args[0].input).toEqual({
        Filters: [{ Key: 'InstanceIds', Values: [INSTANCE] }],
      });
    });

    it('sets S3 and CloudWatch output when configured', async () => {
      ssmMock.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'Success', ResponseCode: 0 }));
      await runner({
        s3: new S3Client({ region: 'eu-west-1' }),
        outputBucket: 'out-bucket',
        outputKeyPrefix: 'ssm/',
        cloudWatchLogGroup: '/etcd-replace/ssm',
      }).run(request());
      expect(ssmMock.commandCalls(SendCommandCommand)[0]?.args[0].input).toMatchObject({
        OutputS3BucketName: 'out-bucket',
        OutputS3KeyPrefix: 'ssm/',
        CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: '/etcd-replace/ssm' },
      });
    });

    it('looks once when a short command is done: one GetCommandInvocation, a second after SendCommand', async () => {
      ssmMock.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'Success', ResponseCode: 0, StandardOutputContent: 'done' }));
      const c = clock();
      const out = await runner({}, c).run(request());
      expect(out.stdout).toBe('done');
      expect(ssmMock.commandCalls(GetCommandInvocationCommand)).toHaveLength(1);
      expect(c.slept).toEqual([1000]);
    });

    it('waits through Pending, InProgress and Delayed, looking again every 0.25 s for the first 3 s after SendCommand', async () => {
      ssmMock
        .on(GetCommandInvocationCommand)
        .resolvesOnce(invocation({ Status: 'Pending' }))
        .resolvesOnce(invocation({ Status: 'Delayed' }))
        .resolvesOnce(invocation({ Status: 'InProgress' }))
        .resolves(invocation({ Status: 'Success', ResponseCode: 0, StandardOutputContent: 'done' }));
      const c = clock();
      const out = await runner({}, c).run(request());
      expect(out.stdout).toBe('done');
      expect(ssmMock.commandCalls(GetCommandInvocationCommand)).toHaveLength(4);
      expect(c.slept).toEqual([1000, 250, 250, 250]);
    });

    it('backs off after 3 s, by half each time up to 2 s: a command that waits on its host for 2 minutes costs about 70 looks, not 480', async () => {
      const c = clock();
      ssmMock
        .on(GetCommandInvocationCommand)
        .callsFake(() => (c.now() < 1_120_000 ? invocation({ Status: 'InProgress' }) : invocation({ Status: 'Success', ResponseCode: 0 })));
      await runner({}, c).run(request({ timeoutSeconds: 600 }));
      expect(c.slept.slice(0, 16)).toEqual([1000, ...Array<number>(8).fill(250), 375, 562.5, 843.75, 1265.625, 1898.4375, 2000, 2000]);
      expect(Math.max(...c.slept)).toBe(2000);
      expect(ssmMock.commandCalls(GetCommandInvocationCommand).length).toBeLessThanOrEqual(75);
    });

    it('asks DescribeInstanceInformation once for two commands sent to one host side by side', async () => {
      ssmMock.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'Success', ResponseCode: 0 }));
      const r = runner();
      await Promise.all([r.run(request()), r.run(request({ script: 'SnapshotCluster' }))]);
      expect(ssmMock.commandCalls(DescribeInstanceInformationCommand)).toHaveLength(1);
      expect(ssmMock.commandCalls(SendCommandCommand)).toHaveLength(2);
    });

    it("asks DescribeInstanceInformation once for a step's commands to one host, and again after the host did not answer", async () => {
      ssmMock.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'Success', ResponseCode: 0 }));
      const r = runner();
      await r.run(request());
      await r.run(request({ script: 'SnapshotCluster' }));
      expect(ssmMock.commandCalls(DescribeInstanceInformationCommand)).toHaveLength(1);
      ssmMock.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'Failed', StatusDetails: 'Undeliverable', ResponseCode: -1 }));
      await expect(r.run(request())).rejects.toThrow(HostUnreachableError);
      ssmMock.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'Success', ResponseCode: 0 }));
      await r.run(request());
      expect(ssmMock.commandCalls(DescribeInstanceInformationCommand)).toHaveLength(2);
    });

    it('tolerates InvocationDoesNotExist right after sending', async () => {
      const missing = new InvocationDoesNotExist({ message: 'no invocation', $metadata: {} });
      ssmMock
        .on(GetCommandInvocationCommand)
        .rejectsOnce(missing)
        .rejectsOnce(missing)
        .resolves(invocation({ Status: 'Success', ResponseCode: 0, StandardOutputContent: 'x' }));
      await expect(runner().run(request())).resolves.toMatchObject({ exitCode: 0, stdout: 'x' });
    });

    it('gives up on InvocationDoesNotExist after the grace period with HostUnreachableError', async () => {
      ssmMock.on(GetCommandInvocationCommand).rejects(new InvocationDoesNotExist({ message: 'no invocation', $metadata: {} }));
      await expect(runner({ invocationGraceMs: 5_000 }).run(request())).rejects.toThrow(HostUnreachableError);
    });

    it('resolves with the exit code when the script ran and failed (the step decides)', async () => {
      ssmMock
        .on(GetCommandInvocationCommand)
        .resolves(
          invocation({ Status: 'Failed', StatusDetails: 'Failed', ResponseCode: 2, StandardOutputContent: 'partial', StandardErrorContent: 'bad path' }),
        );
      await expect(runner().run(request())).resolves.toEqual({ exitCode: 2, stdout: 'partial', stderr: 'bad path' });
    });

    it.each([
      [{ Status: 'Failed', StatusDetails: 'Failed', ResponseCode: -1 }, HostUnreachableError, /SSM agent could not run/],
      [{ Status: 'TimedOut', StatusDetails: 'Execution Timed Out', ResponseCode: -1 }, ScriptTimedOutError, /did not finish within 120 s/],
      [{ Status: 'Failed', StatusDetails: 'ExecutionTimedOut', ResponseCode: 137 }, ScriptTimedOutError, /did not finish/],
      [{ Status: 'TimedOut', StatusDetails: 'Delivery Timed Out' }, HostUnreachableError, /not delivered/],
      [{ Status: 'Failed', StatusDetails: 'Undeliverable' }, HostUnreachableError, /not delivered/],
      [{ Status: 'Failed', StatusDetails: 'Terminated' }, HostUnreachableError, /not delivered/],
      [{ Status: 'Cancelled', StatusDetails: 'Cancelled' }, CommandCancelledError, /was cancelled/],
      [{ Status: 'Cancelling', StatusDetails: 'Cancelling' }, CommandCancelledError, /was cancelled/],
    ] as const)('maps %j to its named error', async (answer, ErrorClass, message) => {
      ssmMock.on(GetCommandInvocationCommand).resolves(invocation(answer));
      const error = await runner()
        .run(request())
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ErrorClass);
      expect((error as Error).name).toBe(ErrorClass.name);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).toContain(INSTANCE);
    });

    it('cancels and throws ScriptTimedOutError when the invocation never finishes', async () => {
      ssmMock.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'InProgress' }));
      ssmMock.on(CancelCommandCommand).resolves({});
      const c = clock();
      const error = await runner({ deliveryTimeoutSeconds: 30, deadlineSlackSeconds: 10 }, c)
        .run(request({ timeoutSeconds: 20 }))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ScriptTimedOutError);
      expect(ssmMock.commandCalls(CancelCommandCommand)[0]?.args[0].input).toEqual({ CommandId: 'cmd-1', InstanceIds: [INSTANCE] });
      expect(c.slept.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(60_000);
    });

    it('says clearly when SendCommand answers InvalidInstanceId', async () => {
      ssmMock.on(SendCommandCommand).rejects(new InvalidInstanceId({ message: 'Instances not in a valid state', $metadata: {} }));
      const error = await runner({ checkManaged: false })
        .run(request())
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HostUnreachableError);
      expect((error as Error).message).toContain(`instance ${INSTANCE} is not managed by SSM (agent not running, no instance profile, or offline)`);
    });

    it('refuses before sending when DescribeInstanceInformation does not list the instance', async () => {
      ssmMock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [] });
      await expect(runner().run(request())).rejects.toThrow(/is not managed by SSM .*does not list it/);
      expect(ssmMock.commandCalls(SendCommandCommand)).toHaveLength(0);
    });

    it('refuses before sending when the agent lost its connection', async () => {
      ssmMock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: INSTANCE, PingStatus: 'ConnectionLost' }] });
      const error = await runner()
        .run(request())
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HostUnreachableError);
      expect((error as Error).message).toMatch(/not managed by SSM.*ConnectionLost/);
      expect(ssmMock.commandCalls(SendCommandCommand)).toHaveLength(0);
    });

    it('needs an instance id and a sane timeout', async () => {
      const { instanceId: _omit, ...noId } = host;
      await expect(runner().run(request({ host: noId }))).rejects.toThrow(InvalidInputError);
      await expect(runner().run(request({ host: { ...host, instanceId: 'i-nothex!' } }))).rejects.toThrow(InvalidInputError);
      await expect(runner().run(request({ timeoutSeconds: 0 }))).rejects.toThrow(InvalidInputError);
      await expect(runner().run(request({ timeoutSeconds: 172_801 }))).rejects.toThrow(InvalidInputError);
      await expect(runner().run(request({ args: ['x\ny'] }))).rejects.toThrow(InvalidInputError);
      expect(ssmMock.commandCalls(SendCommandCommand)).toHaveLength(0);
    });

    it('counts SendCommand calls and reports each through onCommand', async () => {
      ssmMock
        .on(SendCommandCommand)
        .resolvesOnce({ Command: { CommandId: 'cmd-1' } })
        .resolves({ Command: { CommandId: 'cmd-2' } });
      ssmMock.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'Success', ResponseCode: 0 }));
      const events: SsmCommandEvent[] = [];
      const r = runner({ onCommand: (e) => events.push(e) });
      await r.run(request());
      await r.run(request({ script: 'SnapshotCluster' }));
      expect(r.commandsSent).toBe(2);
      expect(events).toEqual([
        { commandId: 'cmd-1', instanceId: INSTANCE, script: 'StopFailedMember', count: 1 },
        { commandId: 'cmd-2', instanceId: INSTANCE, script: 'SnapshotCluster', count: 2 },
      ]);
    });

    describe('output cut at 24,000 / 8,000 characters', () => {
      const longOut = 'o'.repeat(24_000);
      const fullOut = `${'o'.repeat(30_000)}\n`;
      const fullErr = `${'e'.repeat(9_000)}\n`;

      it('reads full stdout and stderr from the S3 output bucket when inline output is cut', async () => {
        ssmMock.on(GetCommandInvocationCommand).resolves(
          invocation({
            Status: 'Success',
            ResponseCode: 0,
            StandardOutputContent: longOut,
            StandardErrorContent: `${'e'.repeat(7_900)}\n---Output truncated---`,
            StandardOutputUrl: 'https://s3.eu-west-1.amazonaws.com/out-bucket/ssm/cmd-1/i-0123456789abcdef0/awsrunShellScript/0.awsrunShellScript/stdout',
            StandardErrorUrl: '',
          }),
        );
        const body = (text: string) => ({ transformToString: async () => text }) as never;
        s3Mock
          .on(GetObjectCommand, { Bucket: 'out-bucket', Key: 'ssm/cmd-1/i-0123456789abcdef0/awsrunShellScript/0.awsrunShellScript/stdout' })
          .resolves({ Body: body(fullOut) })
          .on(GetObjectCommand, { Bucket: 'out-bucket', Key: 'ssm/cmd-1/i-0123456789abcdef0/awsrunShellScript/0.awsrunShellScript/stderr' })
          .resolves({ Body: body(fullErr) });
        const out = await runner({ s3: new S3Client({ region: 'eu-west-1' }), outputBucket: 'out-bucket', outputKeyPrefix: 'ssm' }).run(request());
        expect(out.stdout).toBe(fullOut);
        expect(out.stderr).toBe(fullErr);
        expect(s3Mock.commandCalls(GetObjectCommand)).toHaveLength(2);
      });

      it('does not read S3 when the output fits', async () => {
        ssmMock.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'Success', ResponseCode: 0, StandardOutputContent: 'short' }));
        await runner({ s3: new S3Client({ region: 'eu-west-1' }), outputBucket: 'out-bucket' }).run(request());
        expect(s3Mock.commandCalls(GetObjectCommand)).toHaveLength(0);
      });

      it('returns the inline output when no output bucket is configured', async () => {
        ssmMock.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'Success', ResponseCode: 0, StandardOutputContent: longOut }));
        await expect(runner().run(request())).resolves.toMatchObject({ stdout: longOut });
      });

      it('reports an unreadable S3 output as HostUnreachableError naming the object', async () => {
        ssmMock.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'Success', ResponseCode: 0, StandardOutputContent: longOut }));
        s3Mock.on(GetObjectCommand).rejects(new Error('AccessDenied'));
        await expect(runner({ s3: new S3Client({ region: 'eu-west-1' }), outputBucket: 'out-bucket' }).run(request())).rejects.toThrow(
          /s3:\/\/out-bucket\/cmd-1\/i-0123456789abcdef0\/awsrunShellScript\/0.awsrunShellScript\/stdout/,
        );
      });

      it('detects truncation by length or marker', () => {
        expect(isTruncated('x'.repeat(8_000), 8_000)).toBe(true);
        expect(isTruncated('abc\n--output truncated--', 24_000)).toBe(true);
        expect(isTruncated('abc', 24_000)).toBe(false);
      });

      it('finds the key in path-style and virtual-hosted URLs', () => {
        expect(outputKeyFromUrl('https://s3.eu-west-1.amazonaws.com/b/p/k/stdout', 'b')).toBe('p/k/stdout');
        expect(outputKeyFromUrl('https://b.s3.eu-west-1.amazonaws.com/p/k/stdout', 'b')).toBe('p/k/stdout');
        expect(outputKeyFromUrl('https://other.s3.amazonaws.com/p/k', 'b')).toBeUndefined();
        expect(outputKeyFromUrl('', 'b')).toBeUndefined();
        expect(outputKey('pre/', 'c', 'i-1', 'stderr')).toBe('pre/c/i-1/awsrunShellScript/0.awsrunShellScript/stderr');
      });
    });
  });

  describe('Method: constructor', () => {
    it('refuses an output bucket without an S3 client and a delivery timeout under 30 s', () => {
      expect(() => runner({ outputBucket: 'b' })).toThrow(InvalidInputError);
      expect(() => runner({ deliveryTimeoutSeconds: 10 })).toThrow(InvalidInputError);
    });
  });
});

/** A signed URL as S3 presigns one: what must never appear in a command's text. */
const SIGNED =
  'https://artifacts.s3.eu-west-1.amazonaws.com/runs/r1/bundle-new.tgz?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAXXX%2F20261202%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date=20261202T120000Z&X-Amz-Expires=900&X-Amz-Security-Token=' +
  'T'.repeat(900) +
  '&X-Amz-Signature=' +
  'a'.repeat(64) +
  '&X-Amz-SignedHeaders=host';
const PRINT_STDIN = 'set -o errexit -o nounset -o pipefail\nprintf "[%s]" "$@"; echo; cat\n';

describe('Secrets through SSM: sealed to a one-time key of the host', () => {
  let keyDir: string;
  beforeEach(() => {
    keyDir = mkdtempSync(join(tmpdir(), 'seal-'));
  });
  afterEach(() => rmSync(keyDir, { recursive: true, force: true }));

  it('makes the key on the host (real openssl), seals to it, and the script reads the secrets on stdin; the key is gone after', () => {
    const made = bash(oneTimeKeyCommands('0123456789abcdef', keyDir).join('\n'));
    expect(made.status).toBe(0);
    expect(made.stdout).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const lines = `BUNDLE_URL=${SIGNED}\nBACKUP_UPLOAD_URL=${SIGNED.replace('bundle', 'backup')}\n`;
    const commands = encodeCommands('Echo', PRINT_STDIN, ['a b'], { keyId: '0123456789abcdef', chunks: sealSecrets(made.stdout, lines), keyDir }).join('\n');
    expect(commands).not.toContain('X-Amz-Signature');
    expect(commands).not.toContain('amazonaws.com');
    const ran = bash(commands);
    expect(ran.stderr).toBe('');
    expect(ran.status).toBe(0);
    expect(ran.stdout).toBe(`[a b]\n${lines.trimEnd()}`);
    expect(readdirSync(keyDir)).toEqual([]);
  });

  it('never runs the script when the secrets cannot be unsealed (no key, or another key): exit 125', () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const chunks = sealSecrets(other.publicKey.export({ type: 'spki', format: 'pem' }).toString(), `UPLOAD_URL=${SIGNED}\n`);
    const missing = bash(encodeCommands('Echo', 'echo RAN', [], { keyId: 'feedfacefeedface', chunks, keyDir }).join('\n'));
    expect(missing.status).toBe(125);
    expect(missing.stdout).not.toContain('RAN');
    bash(oneTimeKeyCommands('feedfacefeedface', keyDir).join('\n'));
    const wrong = bash(encodeCommands('Echo', 'echo RAN', [], { keyId: 'feedfacefeedface', chunks, keyDir }).join('\n'));
    expect(wrong.status).toBe(125);
    expect(wrong.stdout).not.toContain('RAN');
    expect(readdirSync(keyDir)).toEqual([]);
  });

  it('refuses a host answer that is not an RSA public key of 2048 bits or more', () => {
    expect(() => sealSecrets('not a key', 'A=b\n')).toThrow(InvalidInputError);
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(() => sealSecrets(small, 'A=b\n')).toThrow(/2048/);
  });

  it('run(): two commands, a one-time key and then the script, and no SSM request carries a signed URL or a secret', async () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const sent: Array<{ Comment?: string; commands: string[] }> = [];
    let n = 0;
    ssmMock.on(SendCommandCommand).callsFake((input) => {
      sent.push({ Comment: input.Comment, commands: input.Parameters.commands });
      n += 1;
      return { Command: { CommandId: `cmd-${n}` } };
    });
    ssmMock
      .on(GetCommandInvocationCommand, { CommandId: 'cmd-1' })
      .resolves(invocation({ Status: 'Success', ResponseCode: 0, StandardOutputContent: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString() }));
    ssmMock.on(GetCommandInvocationCommand, { CommandId: 'cmd-2' }).resolves(invocation({ Status: 'Success', ResponseCode: 0, StandardOutputContent: 'ok' }));
    const r = runner({ keyDir, scripts: () => PRINT_STDIN });
    const out = await r.run(request({ script: 'StartNewMember', args: ['x'], secrets: { BUNDLE_URL: SIGNED, BACKUP_UPLOAD_URL: `${SIGNED}&b` } }));
    expect(out.stdout).toBe('ok');
    expect(sent).toHaveLength(2);
    expect(sent[0]?.Comment).toMatch(/OneTimeKey for StartNewMember/);
    const everything = JSON.stringify(ssmMock.calls().map((c) => c.args[0].input));
    expect(everything).not.toContain('X-Amz-Signature');
    expect(everything).not.toContain('X-Amz-Security-Token');
    // The second command, run with the host's private key in place, hands the script exactly the secrets.
    const keyId = /keys?\/?([0-9a-f]{32})\.pem|\/([0-9a-f]{32})\.pem/.exec(sent[0]!.commands.join('\n'))!;
    const id = keyId[1] ?? keyId[2];
    writeFileSync(join(keyDir, `${id}.pem`), pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600 });
    const ran = bash(sent[1]!.commands.join('\n'));
    expect(ran.status).toBe(0);
    expect(ran.stdout).toBe(`[x]\nBUNDLE_URL=${SIGNED}\nBACKUP_UPLOAD_URL=${SIGNED}&b`);
    expect(existsSync(join(keyDir, `${id}.pem`))).toBe(false);
  });

  it('prepareSecrets(): the key is made ahead, before the command that needs it is asked for; that command takes it, once', async () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const sent: Array<{ Comment?: string; commands: string[] }> = [];
    ssmMock.on(SendCommandCommand).callsFake((input) => {
      sent.push({ Comment: input.Comment, commands: input.Parameters.commands });
      return { Command: { CommandId: `cmd-${sent.length}` } };
    });
    const publicKey = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    ssmMock.on(GetCommandInvocationCommand).callsFake(({ CommandId }: { CommandId: string }) => {
      const key = sent[Number(CommandId.slice(4)) - 1]?.Comment?.includes('OneTimeKey') === true;
      return invocation({ Status: 'Success', ResponseCode: 0, StandardOutputContent: key ? publicKey : 'ok' });
    });
    const r = runner({ keyDir, scripts: () => PRINT_STDIN });
    r.prepareSecrets(request().host, 'StartNewMember');
    r.prepareSecrets(request().host, 'StartNewMember'); // asked twice before its command: still one key
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]?.Comment).toMatch(/OneTimeKey/);
    await r.run(request({ script: 'StartNewMember', args: ['x'], secrets: { BUNDLE_URL: SIGNED } }));
    expect(sent).toHaveLength(2);
    const keyId = /\/([0-9a-f]{32})\.pem/.exec(sent[0]!.commands.join('\n'))![1];
    expect(sent[1]!.commands.join('\n')).toContain(`${keyId}.pem`);
    expect(JSON.stringify(ssmMock.calls().map((c) => c.args[0].input))).not.toContain('X-Amz-Signature');
    // The key was taken: the next command with secrets makes its own.
    await r.run(request({ script: 'StartNewMember', args: ['x'], secrets: { BUNDLE_URL: SIGNED } }));
    expect(sent.map((c) => (c.Comment ?? '').split(' ')[1])).toEqual(['OneTimeKey', 'StartNewMember', 'OneTimeKey', 'StartNewMember']);
  });

  it('prepareSecrets(): a key the host could not make ahead is made again by the command', async () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    let n = 0;
    ssmMock.on(SendCommandCommand).callsFake(() => ({ Command: { CommandId: `cmd-${(n += 1)}` } }));
    ssmMock
      .on(GetCommandInvocationCommand, { CommandId: 'cmd-1' })
      .resolves(invocation({ Status: 'Failed', ResponseCode: 1, StandardErrorContent: 'no openssl' }));
    ssmMock
      .on(GetCommandInvocationCommand, { CommandId: 'cmd-2' })
      .resolves(invocation({ Status: 'Success', ResponseCode: 0, StandardOutputContent: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString() }));
    ssmMock.on(GetCommandInvocationCommand, { CommandId: 'cmd-3' }).resolves(invocation({ Status: 'Success', ResponseCode: 0, StandardOutputContent: 'ok' }));
    const r = runner({ keyDir, scripts: () => PRINT_STDIN });
    r.prepareSecrets(request().host, 'StartNewMember');
    const out = await r.run(request({ script: 'StartNewMember', args: ['x'], secrets: { BUNDLE_URL: SIGNED } }));
    expect(out.stdout).toBe('ok');
    expect(ssmMock.commandCalls(SendCommandCommand)).toHaveLength(3);
  });

  it('run(): a request without secrets is one command, as before', async () => {
    ssmMock.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'Success', ResponseCode: 0, StandardOutputContent: 'ok' }));
    await runner({ keyDir }).run(request());
    expect(ssmMock.commandCalls(SendCommandCommand)).toHaveLength(1);
  });

  it('run(): a secret with a newline or a bad name is refused before anything is sent', async () => {
    await expect(runner({ keyDir }).run(request({ secrets: { UPLOAD_URL: 'a\nB=c' } }))).rejects.toThrow(InvalidInputError);
    await expect(runner({ keyDir }).run(request({ secrets: { 'bad name': 'x' } }))).rejects.toThrow(InvalidInputError);
    expect(ssmMock.commandCalls(SendCommandCommand)).toHaveLength(0);
  });
});
