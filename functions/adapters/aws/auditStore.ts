// The audit trail in the run table (dynamoTable.ts), written by the deployed system itself:
//
//   item                         pk                 sk                     written by
//   audit record of a run        run#<runId>        run                    the AuditRecorder function, on every status change
//   what a step reported         steps#<runId>      <startedAt>#<Step>     each step function, after each invocation
//
// The record item has DynamoRunStore's layout (the same plain attributes and indexes, the whole record
// as JSON in `record`), so DynamoRunStore and `etcd-replace history` read it as they read a sandbox run.
// Writes are updates of named attributes, never a whole-item put, so that concurrent writers cannot
// undo each other:
// - the record is rebuilt from the execution's whole history on every event and written only if it was
//   built from at least as many history events as the stored one (EventBridge does not keep order);
// - the principal that started the execution is its own attribute, set once (a CloudTrail event can
//   arrive before or after any status change);
// - `metricsEmittedAt` is claimed once, so a duplicate delivery of the final status counts no run twice.
// TTL: a finished record expires `retentionDays` after it ended; step details `retentionDays` after they
// were written.

import { GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { InvalidInputError } from '../../errors.ts';
import { positiveInt, runId as validRunId } from '../../validate.ts';
import type { AuditRecord, StartPrincipal, StepDetail } from './auditRecord.ts';
import { isConditionalCheckFailed } from './dynamoLock.ts';
import { MAX_RECORD_BYTES, runItemAttributes, runKey } from './dynamoRunStore.ts';
import { queryRunItems, TABLE_SCHEMA } from './dynamoTable.ts';

export const stepDetailsKey = (runId: string) => `steps#${runId}`;

export interface AuditStoreConfig {
  doc: DynamoDBDocumentClient;
  table: string;
  /** Days a finished record (and a step's detail) is kept; DynamoDB's TTL deletes it then. */
  retentionDays: number;
  now?: () => Date;
}

/** What is stored of a run besides its record. */
export interface StoredAudit {
  record: AuditRecord | null;
  principal: StartPrincipal | null;
  historyEvents: number;
  metricsEmittedAt: string | null;
}

const DAY_SECONDS = 86_400;

/** The record as JSON within DynamoDB's item limit: a context too large to keep is left out, and the record says so. */
function recordJson(record: AuditRecord): string {
  const json = JSON.stringify(record);
  if (Buffer.byteLength(json) <= MAX_RECORD_BYTES) return json;
  const slim = JSON.stringify({
    ...record,
    context: { omitted: `the final context was ${Buffer.byteLength(JSON.stringify(record.context))} bytes; read it from the execution history` },
  });
  if (Buffer.byteLength(slim) > MAX_RECORD_BYTES)
    throw new InvalidInputError('record', `run ${record.runId} is ${Buffer.byteLength(slim)} bytes as JSON even without its context`);
  return slim;
}

export class AuditStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #retentionDays: number;
  readonly #now: () => Date;

  constructor(config: AuditStoreConfig) {
    this.#doc = config.doc;
    this.#table = config.table;
    this.#retentionDays = positiveInt('retentionDays', config.retentionDays);
    this.#now = config.now ?? (() => new Date());
  }

  /** Keeps what one step invocation reported, beside the run's record. */
  async putStepDetail(runId: string, detail: StepDetail & { executionArn?: string | undefined }): Promise<void> {
    const id = validRunId('runId', runId);
    await this.#doc.send(
      new PutCommand({
        TableName: this.#table,
        Item: {
          pk: stepDetailsKey(id),
          sk: `${detail.startedAt}#${detail.step}`,
          kind: 'step',
          step: detail.step,
          startedAt: detail.startedAt,
          outcome: detail.outcome,
          detail: detail.detail,
          durationMs: detail.durationMs,
          ...(detail.executionArn ? { executionArn: detail.executionArn } : {}),
          ttl: Math.ceil(this.#now().getTime() / 1000) + this.#retentionDays * DAY_SECONDS,
        },
      }),
    );
  }

  /** Every detail the run's steps reported, oldest first. */
  async stepDetails(runId: string): Promise<StepDetail[]> {
    const details: StepDetail[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const answer = await this.#doc.send(
        new QueryCommand({
          TableName: this.#table,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey },
          ExpressionAttributeValues: { ':pk': stepDetailsKey(validRunId('runId', runId)) },
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of answer.Items ?? []) {
        details.push({
          step: String(item['step']),
          startedAt: String(item['startedAt']),
          outcome: item['outcome'] as StepDetail['outcome'],
          detail: String(item['detail'] ?? ''),
          durationMs: Number(item['durationMs'] ?? 0),
        });
      }
      start = answer.LastEvaluatedKey;
    } while (start);
    return details;
  }

  /** What is stored for a run, or null. */
  async stored(runId: string): Promise<StoredAudit | null> {
    const answer = await this.#doc.send(new GetCommand({ TableName: this.#table, Key: runKey(validRunId('runId', runId)), ConsistentRead: true }));
    const item = answer.Item;
    if (!item) return null;
    const record = typeof item['record'] === 'string' ? (JSON.parse(item['record']) as AuditRecord) : null;
    const principal = (item['principal'] as StartPrincipal | undefined) ?? null;
    if (record && !record.principal && principal) record.principal = principal;
    return {
      record,
      principal,
      historyEvents: typeof item['historyEvents'] === 'number' ? item['historyEvents'] : 0,
      metricsEmittedAt: typeof item['metricsEmittedAt'] === 'string' ? item['metricsEmittedAt'] : null,
    };
  }

  /**
   * Writes the record unless a record built from more history events is stored already. Returns
   * whether it was written.
   */
  async save(record: AuditRecord): Promise<boolean> {
    const id = validRunId('runId', record.runId);
    const attributes: Record<string, unknown> = {
      ...runItemAttributes(record, this.#retentionDays),
      executionArn: record.executionArn,
      historyEvents: record.historyEvents,
      record: recordJson(record),
    };
    const names = Object.keys(attributes);
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: runKey(id),
          UpdateExpression: `SET ${names.map((_, i) => `#a${i} = :a${i}`).join(', ')}`,
          ConditionExpression: 'attribute_not_exists(#events) OR #events <= :events',
          ExpressionAttributeNames: { ...Object.fromEntries(names.map((name, i) => [`#a${i}`, name])), '#events': 'historyEvents' },
          ExpressionAttributeValues: { ...Object.fromEntries(names.map((name, i) => [`:a${i}`, attributes[name]])), ':events': record.historyEvents },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  /** Records who started the run, once. Returns whether this call set it. */
  async setPrincipal(runId: string, principal: StartPrincipal): Promise<boolean> {
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: runKey(validRunId('runId', runId)),
          UpdateExpression: 'SET #p = :p',
          ConditionExpression: 'attribute_not_exists(#p)',
          ExpressionAttributeNames: { '#p': 'principal' },
          ExpressionAttributeValues: { ':p': principal },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  /** Claims the one emission of a finished run's metrics. Returns whether this call claimed it. */
  async claimMetrics(runId: string): Promise<boolean> {
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: runKey(validRunId('runId', runId)),
          UpdateExpression: 'SET #m = :m',
          ConditionExpression: 'attribute_not_exists(#m)',
          ExpressionAttributeNames: { '#m': 'metricsEmittedAt' },
          ExpressionAttributeValues: { ':m': this.#now().toISOString() },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  /** One run's audit record, with its principal. */
  async get(runId: string): Promise<AuditRecord | null> {
    return (await this.stored(runId))?.record ?? null;
  }

  /** Audit records, newest first: of one cluster (index byCluster) or of all (byStart). */
  async list(options: { cluster?: string; limit?: number } = {}): Promise<AuditRecord[]> {
    return queryRunItems(this.#doc, this.#table, options, (item) => {
      if (typeof item['record'] !== 'string') return null;
      const record = JSON.parse(item['record']) as AuditRecord;
      if (!record.principal && item['principal']) record.principal = item['principal'] as StartPrincipal;
      return record;
    });
  }
}
