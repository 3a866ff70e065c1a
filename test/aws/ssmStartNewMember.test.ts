// StartNewMember over SSM (SsmHostRunner on a faked SSMClient): a new member that replays the log for
// 110 s (1 GB on etcd 3.2) costs the step two SendCommand (the one-time key for its secrets, then the
// start that waits on the host) besides the member list before it, whatever the catch-up takes; the
// runner sees the one long command done through GetCommandInvocation with backoff, not a poll per
// fact. Before, the step asked the member list and the new member's health through SSM every 2 s.

import { generateKeyPairSync } from 'node:crypto';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  SendCommandCommand,
  SSMClient,
  type GetCommandInvocationCommandOutput,
} from '@aws-sdk/client-ssm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SsmHostRunner } from '../../functions/adapters/aws/ssmHostRunner.ts';
import { StartNewMember } from '../../functions/steps/StartNewMember.ts';
import { FAKE_CLUSTER_ID, FakeCluster, fakeDeps, fakeMember, memberId, threeMembers, unitInventory, validatedContext } from '../support/fakeCluster.ts';
import { FakeArtifactStore } from '../support/fakePorts.ts';

const SPARE_IP = '198.51.100.9';
const INSTANCE = 'i-0aaaaaaaaaaaaaaaa';
const NEW_ID = memberId(0xb0);
const CATCH_UP_MS = 110_000;

const ssm = mockClient(SSMClient);
beforeEach(() => ssm.reset());
afterEach(() => ssm.reset());

function invocation(over: Partial<GetCommandInvocationCommandOutput>): GetCommandInvocationCommandOutput {
  return { $metadata: {}, Status: 'InProgress', ...over };
}

describe('StartNewMember through SSM', () => {
  it('a member catching up for 110 s: two SendCommand for the start and the wait, about 65 GetCommandInvocation, one DescribeInstanceInformation', async () => {
    const clock = { t: Date.parse('2026-12-02T04:00:00Z') };
    const sleep = async (ms: number) => {
      clock.t += ms;
    };
    const publicKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const sentAt = new Map<string, { comment: string; at: number }>();
    ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: INSTANCE, PingStatus: 'Online' }] });
    ssm.on(SendCommandCommand).callsFake((input: { Comment?: string }) => {
      const id = `cmd-${sentAt.size + 1}`;
      sentAt.set(id, { comment: input.Comment ?? '', at: clock.t });
      return { Command: { CommandId: id } };
    });
    ssm.on(GetCommandInvocationCommand).callsFake((input: { CommandId: string }) => {
      const sent = sentAt.get(input.CommandId)!;
      if (sent.comment.includes('OneTimeKey')) return invocation({ Status: 'Success', ResponseCode: 0, StandardOutputContent: publicKey });
      // The start and the wait on the host: done once the member has caught up, with the progress lines before its result.
      if (clock.t - sent.at < CATCH_UP_MS) return invocation({ Status: 'InProgress' });
      const result = { started: 'now', backedUpData: false, state: 'caughtUp', named: true, answered: true, dataBytes: 1_300_000_000, waitedSeconds: 110 };
      return invocation({
        Status: 'Success',
        ResponseCode: 0,
        StandardOutputContent: `progress: 10s: named true, answering false\n${JSON.stringify(result)}\n`,
      });
    });
    const runner = new SsmHostRunner({ ssm: new SSMClient({ region: 'eu-west-1' }), scripts: (name) => `# ${name}\n`, sleep, now: () => clock.t });
    const cluster = new FakeCluster([...threeMembers([]).slice(0, 2), fakeMember(0xb0, 'etcd-spare-0.example.test', SPARE_IP, true)]);
    const artifacts = new FakeArtifactStore();
    const deps = { ...fakeDeps(cluster), runner, artifacts, now: () => new Date(clock.t), sleep };
    const context = validatedContext(unitInventory(), 'master-2', 'etcd-spare-0', {
      newMemberId: NEW_ID,
      memberAdded: true,
      addedAsLearner: false,
      memberAddedAt: new Date(clock.t).toISOString(),
      bundleKey: 'runs/r-unit-0001/bundle.tgz',
      clusterId: FAKE_CLUSTER_ID,
      clusterVersion: '3.2.22',
      survivors: [
        { id: memberId(0xa0), name: 'master-0.example.test', peerURL: 'https://198.51.100.2:2380', clientURL: 'https://198.51.100.2:2379' },
        { id: memberId(0xa1), name: 'master-1.example.test', peerURL: 'https://198.51.100.3:2380', clientURL: 'https://198.51.100.3:2379' },
      ],
    });
    context.replacement = { ...context.replacement!, instanceId: INSTANCE };

    const result = await StartNewMember(context, deps);

    expect(result.detail).toMatch(/voted 11\d\.\d s before it had caught up/);
    expect([...sentAt.values()].map((s) => s.comment)).toEqual(['etcd-replace OneTimeKey for StartNewMember', 'etcd-replace StartNewMember']);
    // The member list before the start is the etcd port's one command (etcdctl.sh on a survivor: one more SendCommand on AWS).
    expect(cluster.calls.filter((c) => c === 'memberList')).toHaveLength(1);
    expect(ssm.commandCalls(DescribeInstanceInformationCommand)).toHaveLength(1);
    const looks = ssm.commandCalls(GetCommandInvocationCommand).length;
    expect(looks).toBeGreaterThanOrEqual(20);
    expect(looks).toBeLessThanOrEqual(70);
  });
});
