// A step that times out is cancelled (functions/workflow/stepSignal.ts): an SSM command in flight gets
// CancelCommand and the runner rejects with the step's reason at once; a command never starts once the
// step's signal has aborted. The signal comes from the request or, by default, from the step that runs.

import { mockClient } from 'aws-sdk-client-mock';
import { CancelCommandCommand, DescribeInstanceInformationCommand, GetCommandInvocationCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { beforeEach, describe, expect, it } from 'vitest';
import { SsmHostRunner } from '../../functions/adapters/aws/ssmHostRunner.ts';
import type { Host } from '../../functions/ports.ts';
import { withStepSignal } from '../../functions/workflow/stepSignal.ts';

const INSTANCE = 'i-0123456789abcdef0';
const host: Host = { name: 'master-0', hostname: 'master-0.example.internal', ip: '10.0.1.10', roles: ['master', 'etcd'], instanceId: INSTANCE };
const ssmMock = mockClient(SSMClient);

beforeEach(() => {
  ssmMock.reset();
  ssmMock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: INSTANCE, PingStatus: 'Online' }] });
  ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
  ssmMock.on(GetCommandInvocationCommand).resolves({ CommandId: 'cmd-1', InstanceId: INSTANCE, Status: 'InProgress', StatusDetails: 'InProgress' });
  ssmMock.on(CancelCommandCommand).resolves({});
});

/** A runner that polls every 20 ms for real: the command stays InProgress until cancelled. */
const runner = () =>
  new SsmHostRunner({ ssm: new SSMClient({ region: 'eu-west-1' }), scripts: () => '#!/usr/bin/env bash\nsleep 600\n', pollInitialMs: 20, pollMaxMs: 20 });
const timedOut = () => Object.assign(new Error('StartNewMember did not finish within 4s'), { name: 'States.Timeout' });

describe('Class: SsmHostRunner, cancelled with its step', () => {
  it("sends CancelCommand for the command in flight when the step's signal aborts, and rejects with its reason at once", async () => {
    const controller = new AbortController();
    const running = withStepSignal(controller.signal, () => runner().run({ host, script: 'StartNewMember', args: [], timeoutSeconds: 600 }));
    while (ssmMock.commandCalls(GetCommandInvocationCommand).length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    const reason = timedOut();
    const aborted = Date.now();
    controller.abort(reason);
    await expect(running).rejects.toBe(reason);
    expect(Date.now() - aborted).toBeLessThan(1000);
    expect(ssmMock.commandCalls(CancelCommandCommand).map((c) => c.args[0].input)).toEqual([{ CommandId: 'cmd-1', InstanceIds: [INSTANCE] }]);
    const polls = ssmMock.commandCalls(GetCommandInvocationCommand).length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(ssmMock.commandCalls(GetCommandInvocationCommand)).toHaveLength(polls);
  });

  it("takes the request's own signal, and sends nothing once it has aborted", async () => {
    const controller = new AbortController();
    controller.abort(timedOut());
    await expect(runner().run({ host, script: 'StartNewMember', args: [], timeoutSeconds: 600, signal: controller.signal })).rejects.toThrow(
      'did not finish within 4s',
    );
    expect(ssmMock.commandCalls(SendCommandCommand)).toEqual([]);
    expect(ssmMock.commandCalls(CancelCommandCommand)).toEqual([]);
  });

  it('without a signal, waits for the command as before', async () => {
    ssmMock.on(GetCommandInvocationCommand).resolves({
      CommandId: 'cmd-1',
      InstanceId: INSTANCE,
      Status: 'Success',
      StatusDetails: 'Success',
      ResponseCode: 0,
      StandardOutputContent: 'ok\n',
      StandardErrorContent: '',
    });
    await expect(runner().run({ host, script: 'StartNewMember', args: [], timeoutSeconds: 600 })).resolves.toMatchObject({ exitCode: 0, stdout: 'ok\n' });
    expect(ssmMock.commandCalls(CancelCommandCommand)).toEqual([]);
  });
});
