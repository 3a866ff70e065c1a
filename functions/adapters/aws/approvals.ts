// A restore's approval on AWS (functions/steps/AwaitApproval.ts): the task token of the waiting state kept
// in the run table under the run's ID, where `etcd-replace approve RUN_ID` finds it, and the request
// published to the outcome topic. One item per run:
//
//   item                         pk                 sk          written by
//   a run's pending approval     approval#<runId>   approval    AwaitApproval (token, expiresAt, stateMachineArn, publishedAt); deleted by `approve`
//
// The token is a secret of the run: it is in this item only, never in a log, a message or the context.
// The item expires (`ttl`) a day after the wait would have ended.

import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { DeleteCommand, GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { InvalidInputError } from '../../errors.ts';
import * as validate from '../../validate.ts';
import type { ApprovalPort, ApprovalRequest } from '../../steps/AwaitApproval.ts';
import { isConditionalCheckFailed } from './dynamoLock.ts';
import { isStateMachineArn, regionOfArn } from './executions.ts';

const DAY_SECONDS = 24 * 60 * 60;

/** The item of a run's pending approval. */
export const approvalKey = (runId: string) => ({ pk: `approval#${validate.runId('runId', runId)}`, sk: 'approval' });

/** A run's pending approval as `approve` reads it. */
export interface PendingApproval {
  runId: string;
  token: string;
  expiresAt: string;
  stateMachineArn: string;
  publishedAt: string | null;
}

/** The console page of an execution of the state machine (its partition and region). */
export function executionConsoleLink(stateMachineArn: string, executionName: string): string {
  const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${executionName}`;
  const region = regionOfArn(stateMachineArn) ?? 'us-east-1';
  const host = stateMachineArn.startsWith('arn:aws-cn:')
    ? `${region}.console.amazonaws.cn`
    : stateMachineArn.startsWith('arn:aws-us-gov:')
      ? 'console.amazonaws-us-gov.com'
      : `${region}.console.aws.amazon.com`;
  return `https://${host}/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

export interface DynamoSnsApprovalsConfig {
  doc: DynamoDBDocumentClient;
  table: string;
  sns: SNSClient;
  topicArn: string;
  stateMachineArn: string;
  now?: () => Date;
}

export class DynamoSnsApprovals implements ApprovalPort {
  readonly stateMachineArn: string;
  readonly #config: DynamoSnsApprovalsConfig;
  readonly #now: () => Date;

  constructor(config: DynamoSnsApprovalsConfig) {
    if (!isStateMachineArn(config.stateMachineArn))
      throw new InvalidInputError('STATE_MACHINE_ARN', `${JSON.stringify(config.stateMachineArn)} is not a state machine ARN`);
    this.stateMachineArn = config.stateMachineArn;
    this.#config = config;
    this.#now = config.now ?? (() => new Date());
  }

  consoleLink(executionName: string): string {
    return executionConsoleLink(this.stateMachineArn, executionName);
  }

  async keep(runId: string, token: string, expiresAt: string): Promise<{ publishedAt: string | null }> {
    if (token === '') throw new InvalidInputError('taskToken', 'is empty');
    const expiresMs = Date.parse(expiresAt);
    if (Number.isNaN(expiresMs)) throw new InvalidInputError('expiresAt', `${JSON.stringify(expiresAt)} is not an ISO time`);
    const out = await this.#config.doc.send(
      new UpdateCommand({
        TableName: this.#config.table,
        Key: approvalKey(runId),
        UpdateExpression: 'SET #token = :token, #runId = :runId, #expiresAt = :expiresAt, #arn = :arn, #ttl = :ttl',
        ExpressionAttributeNames: { '#token': 'token', '#runId': 'runId', '#expiresAt': 'expiresAt', '#arn': 'stateMachineArn', '#ttl': 'ttl' },
        ExpressionAttributeValues: {
          ':token': token,
          ':runId': runId,
          ':expiresAt': expiresAt,
          ':arn': this.stateMachineArn,
          ':ttl': Math.ceil(expiresMs / 1000) + DAY_SECONDS,
        },
        ReturnValues: 'ALL_OLD',
      }),
    );
    const publishedAt = out.Attributes?.['publishedAt'];
    return { publishedAt: typeof publishedAt === 'string' ? publishedAt : null };
  }

  async publish(request: ApprovalRequest): Promise<void> {
    const attribute = (value: string) => ({ DataType: 'String', StringValue: value });
    await this.#config.sns.send(
      new PublishCommand({
        TopicArn: this.#config.topicArn,
        Subject: request.subject,
        Message: request.message,
        MessageAttributes: {
          cluster: attribute(request.cluster),
          outcome: attribute('awaiting-approval'),
          runId: attribute(request.runId),
          expiresAt: attribute(request.expiresAt),
        },
      }),
    );
    await this.#config.doc.send(
      new UpdateCommand({
        TableName: this.#config.table,
        Key: approvalKey(request.runId),
        UpdateExpression: 'SET #publishedAt = :at',
        ConditionExpression: 'attribute_exists(#pk)',
        ExpressionAttributeNames: { '#publishedAt': 'publishedAt', '#pk': 'pk' },
        ExpressionAttributeValues: { ':at': this.#now().toISOString() },
      }),
    );
  }
}

/** A run's pending approval, or null when the run table holds none (answered, expired, never requested). */
export async function readPendingApproval(doc: DynamoDBDocumentClient, table: string, runId: string): Promise<PendingApproval | null> {
  const out = await doc.send(new GetCommand({ TableName: table, Key: approvalKey(runId), ConsistentRead: true }));
  const item = out.Item;
  if (!item || typeof item['token'] !== 'string' || item['token'] === '') return null;
  return {
    runId,
    token: item['token'],
    expiresAt: typeof item['expiresAt'] === 'string' ? item['expiresAt'] : '',
    stateMachineArn: typeof item['stateMachineArn'] === 'string' ? item['stateMachineArn'] : '',
    publishedAt: typeof item['publishedAt'] === 'string' ? item['publishedAt'] : null,
  };
}

/** Forgets a run's approval once answered: only the token that was answered (a newer attempt's stays). */
export async function forgetApproval(doc: DynamoDBDocumentClient, table: string, runId: string, token: string): Promise<void> {
  try {
    await doc.send(
      new DeleteCommand({
        TableName: table,
        Key: approvalKey(runId),
        ConditionExpression: '#token = :token',
        ExpressionAttributeNames: { '#token': 'token' },
        ExpressionAttributeValues: { ':token': token },
      }),
    );
  } catch (error) {
    if (!isConditionalCheckFailed(error)) throw error;
  }
}
