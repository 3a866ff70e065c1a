import { GetExecutionHistoryCommand, SFNClient } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { notify, outcomeOf, type ExecutionStatusEvent } from '../../functions/handlers/notifyOutcome.ts';

const sfn = mockClient(SFNClient);
const sns = mockClient(SNSClient);
const env = { TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:outcomes', CLUSTER_NAME: 'ocp311' };
const arn = 'arn:aws:states:us-east-1:123456789012:execution:etcd-replace-ocp311:r-20261202-040000-abcdef';

/** A final context with more than the message may carry: an inventory, keys of stored artifacts. */
const context = (extra: Record<string, unknown>) => ({
  runId: 'r-20261202-040000-abcdef',
  request: { cluster: 'ocp311', failed: 'master-2', replacement: 'etcd-spare-0', startedBy: 'alarm:etcd-member-master-2' },
  options: { graceSeconds: 10, learner: 'auto' },
  inventory: { cluster: 'ocp311', hosts: [{ name: 'master-0', hostname: 'master-0.example.com', ip: '10.0.1.10', roles: ['master'] }] },
  failedHost: { name: 'master-2', hostname: 'master-2.example.com', ip: '10.0.1.12', roles: ['master', 'etcd'] },
  replacement: { name: 'etcd-spare-0', hostname: 'etcd-spare-0.example.com', ip: '10.0.1.20', roles: ['spare'] },
  bundleKey: 'runs/r-20261202-040000-abcdef/bundle-etcd-spare-0.example.com.tgz',
  ...extra,
});

function event(status: string, extra: Partial<ExecutionStatusEvent['detail']> = {}): ExecutionStatusEvent {
  return { detail: { executionArn: arn, name: 'r-20261202-040000-abcdef', status, stopDate: Date.parse('2026-12-02T04:05:00Z'), ...extra } };
}

function published(): { Subject?: string; Message?: string; MessageAttributes?: Record<string, { StringValue?: string }> } {
  const calls = sns.commandCalls(PublishCommand);
  expect(calls).toHaveLength(1);
  return calls[0]!.args[0].input;
}

beforeEach(() => {
  sfn.reset();
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
});

describe('Handler: notifyOutcome', () => {
  it('a success with work left for a person says Succeeded and lists it, from the execution output', async () => {
    const remaining = ['master-2: /var/lib/etcd was not backed up (the host could not reach the artifact store) and is left untouched'];
    const out = await notify(event('SUCCEEDED', { output: JSON.stringify(context({ remaining })) }), env, { sfn, sns });
    expect(out.outcome).toBe('succeeded');
    const message = published();
    expect(message.Subject).toBe('etcd-replace ocp311: succeeded, master-2 -> etcd-spare-0 (1 left for a person)');
    expect(message.Message).toContain('Run r-20261202-040000-abcdef on cluster ocp311 succeeded: replace master-2 with etcd-spare-0.');
    expect(message.Message).toContain(`Left for a person:\n  - ${remaining[0]}`);
    expect(message.MessageAttributes?.['outcome']?.StringValue).toBe('succeeded');
    // Only the named fields: nothing else of the context (addresses, artifact keys) reaches subscribers.
    expect(message.Message).not.toContain('10.0.1.');
    expect(message.Message).not.toContain('bundle-');
    expect(sfn.commandCalls(GetExecutionHistoryCommand)).toHaveLength(0);
  });

  it('a refusal is "refused", not FAILED; its context comes from the Fail state in the history', async () => {
    sfn.on(GetExecutionHistoryCommand).resolves({
      events: [
        { id: 40, type: 'ExecutionFailed', timestamp: new Date() },
        { id: 39, type: 'FailStateEntered', timestamp: new Date(), stateEnteredEventDetails: { name: 'Refused', input: JSON.stringify(context({})) } },
      ],
    });
    const cause = 'member master-2.example.com (1a2b3c4d5e6f7a8b) answers health checks at the second observation: refusing to remove a healthy member.';
    const out = await notify(event('FAILED', { error: 'RefusedError', cause }), env, { sfn, sns });
    expect(out.outcome).toBe('refused');
    const message = published();
    expect(message.Subject).toBe('etcd-replace ocp311: refused, master-2 -> etcd-spare-0');
    expect(message.Message).toContain('ended refused: replace master-2 with etcd-spare-0');
    expect(message.Message).toContain(`Reason: RefusedError: ${cause}`);
    expect(sfn.commandCalls(GetExecutionHistoryCommand)[0]!.args[0].input).toMatchObject({ executionArn: arn, reverseOrder: true });
  });

  it('a failure names a failed compensation and what remains; an unreadable history still notifies', async () => {
    sfn.on(GetExecutionHistoryCommand).resolves({
      events: [
        {
          id: 80,
          type: 'FailStateEntered',
          timestamp: new Date(),
          stateEnteredEventDetails: {
            name: 'Failed',
            input: JSON.stringify(context({ cleanupError: { Error: 'EtcdUnavailableError', Cause: 'etcdserver: no leader' }, remaining: ['a learner is left in the member list'] })),
          },
        },
      ],
    });
    await notify(event('FAILED', { error: 'NewMemberFailedError', cause: 'member has not started within 60s' }), env, { sfn, sns });
    const message = published();
    expect(message.Message).toContain('Cleanup failed too: EtcdUnavailableError: etcdserver: no leader');
    expect(message.Message).toContain('  - a learner is left in the member list');

    sns.resetHistory();
    sfn.on(GetExecutionHistoryCommand).rejects(new Error('AccessDenied'));
    const out = await notify(event('TIMED_OUT'), env, { sfn, sns });
    expect(out.outcome).toBe('timed out');
    expect(published().Subject).toBe('etcd-replace ocp311: timed out, unknown -> the first spare');
  });

  it('maps every status; a missing topic is an error before anything is sent', async () => {
    expect(outcomeOf({ executionArn: arn, name: 'x', status: 'ABORTED' })).toBe('aborted');
    expect(outcomeOf({ executionArn: arn, name: 'x', status: 'FAILED', error: 'LockHeldError' })).toBe('refused');
    expect(outcomeOf({ executionArn: arn, name: 'x', status: 'FAILED', error: 'States.Timeout' })).toBe('failed');
    await expect(notify(event('SUCCEEDED'), { CLUSTER_NAME: 'ocp311' }, { sfn, sns })).rejects.toMatchObject({ name: 'InvalidInputError' });
    expect(sns.commandCalls(PublishCommand)).toHaveLength(0);
  });
});
