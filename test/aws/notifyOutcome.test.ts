// The outcome notification a person reads: subject and body for a success, a refusal and a failure,
// read from the execution history (GetExecutionHistory mocked), and the JSON machines get as
// message attributes.

import { GetExecutionHistoryCommand, SFNClient } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  consoleLink,
  durationText,
  MAX_SUBJECT,
  notify,
  outcomeOf,
  shortRefusal,
  subjectOf,
  type ExecutionStatusEvent,
  type RunSummary,
} from '../../functions/handlers/notifyOutcome.ts';
import type { HistoryBuilder } from '../support/aws/sfnHistory.ts';
import { executionArnOf, failedRun, HEALTHY_CAUSE, lambdaCause, MEMBERS, NOT_STARTED, refusedRun, succeededRun, T0 } from '../support/aws/runHistories.ts';

const sfn = mockClient(SFNClient);
const sns = mockClient(SNSClient);
const env = { TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:outcomes', CLUSTER_NAME: 'ocp311', MEMBERS: JSON.stringify(MEMBERS) };

type Published = { Subject?: string; Message?: string; MessageAttributes?: Record<string, { DataType?: string; StringValue?: string }> };

function published(): Published {
  const calls = sns.commandCalls(PublishCommand);
  expect(calls).toHaveLength(1);
  return calls[0]!.args[0].input as Published;
}

/** The EventBridge event of an execution's end, and its history behind GetExecutionHistory. */
function ended(name: string, run: HistoryBuilder, status: string, error?: { error: string; cause: string }): ExecutionStatusEvent {
  sfn.on(GetExecutionHistoryCommand, { executionArn: executionArnOf(name) }).resolves({ events: run.events });
  const input = run.events[0]!.executionStartedEventDetails!.input!;
  return { detail: { executionArn: executionArnOf(name), name, status, startDate: T0, stopDate: run.now.getTime(), input, ...(error ?? {}) } };
}

beforeEach(() => {
  sfn.reset();
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
});

describe('Handler: notifyOutcome', () => {
  describe('Method: notify', () => {
    it('a success: "<cluster>: <failed> replaced by <replacement> in N s", the timeline, the members edit, the console link', async () => {
      const run = succeededRun('ocp311-master-2-0d1e2f3a-20260302-10');
      const out = await notify(ended('ocp311-master-2-0d1e2f3a-20260302-10', run, 'SUCCEEDED'), env, { sfn, sns });
      const seconds = Math.round((run.now.getTime() - T0) / 1000);
      expect(out.outcome).toBe('succeeded');
      const message = published();
      expect(message.Subject).toBe(`ocp311: master-2 replaced by etcd-spare-0 in ${durationText(seconds)}`);
      const body = message.Message!;
      expect(body).toContain('ocp311: master-2 was replaced by etcd-spare-0');
      expect(body).toContain('Started by: alarm:etcd-replace-ocp311-member-master-2');
      // The timeline: every step entered, with its time and attempts.
      expect(body).toMatch(/AcquireLock\s+succeeded\s+\d+\.\d s\s+\(2 attempts\)/);
      expect(body).toMatch(/PromoteNewMember\s+succeeded/);
      // After a replacement the probe still watches master-2 and not etcd-spare-0: the person must edit `members` and deploy.
      expect(body).toContain('Left for a person:');
      expect(body).toContain(
        'Edit "members" in the deployment configuration: remove master-2 (i-0a1b2c3d4e5f60712), add etcd-spare-0 (etcd-spare-0.ocp311.example.internal, i-0a1b2c3d4e5f60720)',
      );
      expect(body).toContain('the alarm etcd-replace-ocp311-member-master-2 stays in ALARM');
      expect(body).toContain(`Execution:  ${consoleLink(executionArnOf('ocp311-master-2-0d1e2f3a-20260302-10'))}`);
      expect(consoleLink(executionArnOf('x'))).toBe(
        'https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:123456789012:execution:etcd-replace-ocp311:x',
      );
      // Only named fields: no address, artifact key or member ID reaches subscribers.
      expect(body).not.toMatch(/10\.0\.1\.|runs\/|bundle-|8e9e05c52164694d/);
    });

    it('a step that found its work done (its report in the table) is "skipped" in the timeline, not "succeeded"; an unreadable table only loses that', async () => {
      const name = 'ocp311-master-2-0d1e2f3a-20260302-11';
      const run = succeededRun(name);
      const asked: string[] = [];
      const stepDetails = async (runId: string) => {
        asked.push(runId);
        return [
          {
            step: 'StopFailedMember',
            startedAt: new Date(T0 + 5000).toISOString(),
            outcome: 'skipped' as const,
            detail: 'master-2 does not answer: nothing to stop',
            durationMs: 40,
          },
        ];
      };
      const withDetails = await notify(ended(name, run, 'SUCCEEDED'), env, { sfn, sns }, { stepDetails });
      expect(asked).toEqual([name]);
      expect(published().Message).toMatch(/StopFailedMember\s+skipped/);
      expect(withDetails.run.steps.find((s) => s.name === 'StopFailedMember')?.status).toBe('skipped');
      expect(withDetails.run.steps.find((s) => s.name === 'AddMember')?.status).toBe('succeeded');

      sns.resetHistory();
      const unreadable = await notify(
        ended(name, run, 'SUCCEEDED'),
        env,
        { sfn, sns },
        { stepDetails: () => Promise.reject(new Error('AccessDeniedException')) },
      );
      expect(unreadable.run.steps.find((s) => s.name === 'StopFailedMember')?.status).toBe('succeeded');
      expect(published().Subject).toMatch(/^ocp311: master-2 replaced by etcd-spare-0/);
    });

    it('a refusal is REFUSED with its reason in a few words, never FAILED; nothing is left to do', async () => {
      const run = refusedRun('r-healthy-master-1');
      const out = await notify(ended('r-healthy-master-1', run, 'FAILED', { error: 'RefusedError', cause: lambdaCause('RefusedError', HEALTHY_CAUSE) }), env, {
        sfn,
        sns,
      });
      expect(out.outcome).toBe('refused');
      const message = published();
      expect(message.Subject).toBe('ocp311: REFUSED to replace master-1 (healthy)');
      expect(message.Message).toContain(`Reason:     RefusedError: ${HEALTHY_CAUSE}`);
      expect(message.Message).toMatch(/CheckClusterHealth\s+failed\s+\d+\.\d s\s+RefusedError/);
      expect(message.Message).toContain('Nothing is left to do.');
      expect(message.Message).not.toContain('Edit "members"');
      expect(message.MessageAttributes?.['outcome']?.StringValue).toBe('refused');
    });

    it('a failure names the step and the error, what the run left, and that master-2 must leave `members`', async () => {
      const run = failedRun('ocp311-master-2-failed-1');
      const out = await notify(
        ended('ocp311-master-2-failed-1', run, 'FAILED', { error: 'NewMemberFailedError', cause: lambdaCause('NewMemberFailedError', NOT_STARTED) }),
        env,
        { sfn, sns },
      );
      expect(out.outcome).toBe('failed');
      const message = published();
      expect(message.Subject).toBe('ocp311: FAILED to replace master-2 with etcd-spare-0 at StartNewMember (NewMemberFailedError)');
      expect(message.Message).toMatch(/StartNewMember\s+failed\s+\d+\.\d s\s+\(2 attempts\)\s+NewMemberFailedError/);
      expect(message.Message).toContain('  - the cluster runs with 2 members: replace master-2 with another spare (etcd-replace run)');
      expect(message.Message).toContain('remove master-2 (i-0a1b2c3d4e5f60712), add the new member once one has joined');
    });

    it('keeps the raw JSON for machines as message attributes', async () => {
      const run = failedRun('ocp311-master-2-failed-2');
      await notify(
        ended('ocp311-master-2-failed-2', run, 'FAILED', { error: 'NewMemberFailedError', cause: lambdaCause('NewMemberFailedError', NOT_STARTED) }),
        env,
        { sfn, sns },
      );
      const attributes = published().MessageAttributes!;
      expect(
        Object.fromEntries(
          Object.entries(attributes)
            .filter(([k]) => k !== 'run')
            .map(([k, v]) => [k, v.StringValue]),
        ),
      ).toEqual({
        cluster: 'ocp311',
        outcome: 'failed',
        runId: 'ocp311-master-2-failed-2',
        failed: 'master-2',
        replacement: 'etcd-spare-0',
        executionArn: executionArnOf('ocp311-master-2-failed-2'),
      });
      expect(Object.keys(attributes).length).toBeLessThanOrEqual(10);
      const summary = JSON.parse(attributes['run']!.StringValue!) as RunSummary;
      expect(summary).toMatchObject({
        runId: 'ocp311-master-2-failed-2',
        outcome: 'failed',
        reason: `NewMemberFailedError: ${NOT_STARTED}`,
        failed: 'master-2',
        startedBy: 'cli:ops',
      });
      expect(summary.steps.find((s) => s.name === 'StartNewMember')).toMatchObject({ status: 'failed', attempts: 2, error: 'NewMemberFailedError' });
      expect(JSON.stringify(summary)).not.toMatch(/10\.0\.1\./);
    });

    it('still notifies when the history cannot be read, and says so; a missing topic is an error before anything is sent', async () => {
      sfn.on(GetExecutionHistoryCommand).rejects(new Error('AccessDenied'));
      const out = await notify(
        { detail: { executionArn: executionArnOf('r-timeout-1'), name: 'r-timeout-1', status: 'TIMED_OUT', startDate: T0, stopDate: T0 + 3_600_000 } },
        env,
        { sfn, sns },
      );
      expect(out.outcome).toBe('timed out');
      const message = published();
      expect(message.Subject).toBe('ocp311: replacement of an unknown member TIMED OUT after 1 h 0 min');
      expect(message.Message).toContain('(the execution history could not be read; see the console)');
      sns.resetHistory();
      await expect(
        notify({ detail: { executionArn: executionArnOf('x1'), name: 'x1', status: 'SUCCEEDED' } }, { CLUSTER_NAME: 'ocp311' }, { sfn, sns }),
      ).rejects.toMatchObject({ name: 'InvalidInputError' });
      expect(sns.commandCalls(PublishCommand)).toHaveLength(0);
    });
  });

  describe('Function: subjectOf', () => {
    it('fits SNS: at most 100 printable ASCII characters, no line break', () => {
      const subject = subjectOf(`ocp311: REFUSED to replace ${'very-long-host-name-'.repeat(8)}\n(é → ok)`);
      expect(subject.length).toBe(MAX_SUBJECT);
      expect(subject).toMatch(/^[\x20-\x7e]+$/);
      expect(subject.endsWith('...')).toBe(true);
      expect(subjectOf('ocp311: café\r\nok')).toBe('ocp311: cafe ok');
    });
  });

  describe('Function: shortRefusal', () => {
    it('says why in a few words, and falls back to the first clause', () => {
      expect(shortRefusal(`RefusedError: ${HEALTHY_CAUSE}`)).toBe('healthy');
      expect(shortRefusal('LockHeldError: lock of ocp311 held by run r-1')).toBe('another run holds the lock');
      expect(shortRefusal('RefusedError: the cluster has no quorum: 1 of 3 voting members answer and 2 are needed')).toBe('quorum at risk');
      expect(shortRefusal('RefusedError: master-0 is the etcd CA host: its /etc/etcd/ca is needed')).toBe('CA host, no CA backup given');
      expect(shortRefusal('RefusedError: something new happened. More text')).toBe('something new happened');
    });
  });

  describe('Function: outcomeOf', () => {
    it('maps every status; refusals by their error class', () => {
      expect(outcomeOf({ status: 'ABORTED' })).toBe('aborted');
      expect(outcomeOf({ status: 'TIMED_OUT' })).toBe('timed out');
      expect(outcomeOf({ status: 'FAILED', error: 'LockHeldError' })).toBe('refused');
      expect(outcomeOf({ status: 'FAILED', error: 'States.Timeout' })).toBe('failed');
      expect(outcomeOf({ status: 'SUCCEEDED' })).toBe('succeeded');
    });
  });
});
