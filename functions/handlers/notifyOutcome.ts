// Run-outcome notification: EventBridge sends each "Step Functions Execution Status Change" of the
// replacement state machine here, and this publishes one readable message to the outcome topic: the
// cluster, the run, how it ended (succeeded, refused or failed, not just Step Functions' FAILED), the
// member replaced and its replacement, the reason, and what is left for a person (`remaining`).
//
// A Succeeded run's output is the final workflow context; a Fail state has none, so the context is
// read from the execution history (the FailStateEntered event's input). Only the named fields reach
// the message: never the whole context.

import { GetExecutionHistoryCommand, SFNClient } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { InvalidInputError } from '../errors.ts';
import { REFUSED_ERRORS } from '../../statemachine/spec.ts';

/** The parts of the EventBridge event this reads. */
export interface ExecutionStatusEvent {
  detail: {
    executionArn: string;
    name: string;
    status: string;
    stopDate?: number | null;
    output?: string | null;
    error?: string | null;
    cause?: string | null;
  };
}

export type Outcome = 'succeeded' | 'refused' | 'failed' | 'timed out' | 'aborted';

export interface OutcomeMessage {
  subject: string;
  message: string;
  outcome: Outcome;
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function parse(text: string | null | undefined): Record<string, unknown> {
  if (!text) return {};
  try {
    return record(JSON.parse(text));
  } catch {
    return {};
  }
}

/** How the run ended, in the workflow's words: a refusal is not a failure. */
export function outcomeOf(detail: ExecutionStatusEvent['detail']): Outcome {
  switch (detail.status) {
    case 'SUCCEEDED':
      return 'succeeded';
    case 'TIMED_OUT':
      return 'timed out';
    case 'ABORTED':
      return 'aborted';
    default:
      return detail.error && REFUSED_ERRORS.includes(detail.error) ? 'refused' : 'failed';
  }
}

const line = (text: string) => text.replace(/[\r\n]+/g, ' ').trim();
/** SNS subjects: at most 100 printable ASCII characters, no line breaks. */
const subjectOf = (text: string) => line(text).replace(/[^\x20-\x7e]/g, '?').slice(0, 100);

/** The message for one execution's end, from the event and the final context (when known). */
export function outcomeMessage(cluster: string, event: ExecutionStatusEvent, context: Record<string, unknown>): OutcomeMessage {
  const { detail } = event;
  const outcome = outcomeOf(detail);
  const request = record(context['request']);
  const failed = String(record(context['failedHost'])['name'] ?? request['failed'] ?? 'unknown');
  const replacement = String(record(context['replacement'])['name'] ?? request['replacement'] ?? 'the first spare');
  const remaining = Array.isArray(context['remaining']) ? context['remaining'].filter((r): r is string => typeof r === 'string') : [];
  const cleanup = record(context['cleanupError']);
  const lines = [
    `Run ${detail.name} on cluster ${cluster} ${outcome === 'succeeded' ? 'succeeded' : `ended ${outcome}`}: replace ${failed} with ${replacement}.`,
    ...(detail.error ? [`Reason: ${line(`${detail.error}${detail.cause ? `: ${detail.cause}` : ''}`)}`] : []),
    ...(cleanup['Error'] ? [`Cleanup failed too: ${line(`${String(cleanup['Error'])}: ${String(cleanup['Cause'] ?? '')}`)}`] : []),
    ...(remaining.length > 0 ? ['Left for a person:', ...remaining.map((r) => `  - ${line(r)}`)] : outcome === 'succeeded' ? ['Nothing is left to do.'] : []),
    `Execution: ${detail.executionArn}`,
    ...(detail.stopDate ? [`Ended: ${new Date(detail.stopDate).toISOString()}`] : []),
  ];
  const todo = remaining.length > 0 ? ` (${remaining.length} left for a person)` : '';
  return { outcome, subject: subjectOf(`etcd-replace ${cluster}: ${outcome}, ${failed} -> ${replacement}${todo}`), message: lines.join('\n') };
}

/** The workflow context the execution ended with: its output, or the input of the Fail state it entered. */
export async function finalContext(sfn: Pick<SFNClient, 'send'>, detail: ExecutionStatusEvent['detail']): Promise<Record<string, unknown>> {
  if (detail.status === 'SUCCEEDED') return parse(detail.output);
  const history = await sfn.send(new GetExecutionHistoryCommand({ executionArn: detail.executionArn, reverseOrder: true, maxResults: 20, includeExecutionData: true }));
  const entered = (history.events ?? []).find((e) => e.type === 'FailStateEntered' || e.type === 'TaskStateEntered' || e.type === 'ChoiceStateEntered');
  return parse(entered?.stateEnteredEventDetails?.input);
}

export async function notify(
  event: ExecutionStatusEvent,
  env: Record<string, string | undefined>,
  clients: { sfn: Pick<SFNClient, 'send'>; sns: Pick<SNSClient, 'send'> },
): Promise<OutcomeMessage> {
  const topicArn = env['TOPIC_ARN'];
  const cluster = env['CLUSTER_NAME'];
  if (!topicArn || !cluster) throw new InvalidInputError('environment', 'TOPIC_ARN and CLUSTER_NAME must be set');
  const context = await finalContext(clients.sfn, event.detail).catch(() => ({}));
  const out = outcomeMessage(cluster, event, context);
  await clients.sns.send(
    new PublishCommand({
      TopicArn: topicArn,
      Subject: out.subject,
      Message: out.message,
      MessageAttributes: {
        cluster: { DataType: 'String', StringValue: cluster },
        outcome: { DataType: 'String', StringValue: out.outcome },
      },
    }),
  );
  return out;
}

const clients = { sfn: new SFNClient({}), sns: new SNSClient({}) };

export async function handler(event: ExecutionStatusEvent): Promise<{ outcome: Outcome }> {
  const { outcome } = await notify(event, process.env, clients);
  return { outcome };
}
