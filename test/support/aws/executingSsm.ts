// A fake SSM (aws-sdk-client-mock) whose SendCommand runs the command's `commands` text with bash here,
// as the agent would on the host, and whose GetCommandInvocation answers with what that run printed.

import { spawnSync } from 'node:child_process';
import { DescribeInstanceInformationCommand, GetCommandInvocationCommand, SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { AwsClientStub } from 'aws-sdk-client-mock';

/** Routes `ssm`'s commands to bash on this machine; `instanceId` is the one instance it reports Online. Returns what was sent, in order. */
export function executingSsm(ssm: AwsClientStub<SSMClient>, instanceId: string): Array<{ comment: string; commands: string[] }> {
  const sent: Array<{ comment: string; commands: string[] }> = [];
  const results = new Map<string, { code: number; stdout: string; stderr: string }>();
  ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: instanceId, PingStatus: 'Online' }] });
  ssm.on(SendCommandCommand).callsFake((input: { Comment?: string; Parameters?: Record<string, string[]> }) => {
    const commands = input.Parameters?.['commands'] ?? [];
    sent.push({ comment: input.Comment ?? '', commands });
    const run = spawnSync('bash', ['-c', commands.join('\n')], { encoding: 'utf8' });
    const id = `cmd-${sent.length}`;
    results.set(id, { code: run.status ?? -1, stdout: run.stdout, stderr: run.stderr });
    return { Command: { CommandId: id } };
  });
  ssm.on(GetCommandInvocationCommand).callsFake((input: { CommandId: string }) => {
    const r = results.get(input.CommandId);
    if (!r) throw Object.assign(new Error('no invocation'), { name: 'InvocationDoesNotExist' });
    return {
      Status: r.code === 0 ? 'Success' : 'Failed',
      StatusDetails: r.code === 0 ? 'Success' : 'Failed',
      ResponseCode: r.code,
      StandardOutputContent: r.stdout,
      StandardErrorContent: r.stderr,
    };
  });
  return sent;
}
