// RunStore on DynamoDB: one item per run (`pk = run#<runId>`), the whole record kept as JSON in `record`
// (an exact round trip, whatever the record holds) beside a few plain attributes for the console.
// Listing uses the byCluster / byStart indexes (dynamoTable.ts), newest first, ties broken by run id as
// the sandbox's FileRunStore does.

import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { InvalidInputError } from '../../errors.ts';
import type { RunRecord, RunStore } from '../../ports.ts';
import { clusterName, runId as validRunId } from '../../validate.ts';
import { queryRunItems } from './dynamoTable.ts';

/** DynamoDB items hold at most 400 KB; stay well under it. */
export const MAX_RECORD_BYTES = 350 * 1024;

export interface DynamoRunStoreConfig {
  doc: DynamoDBDocumentClient;
  table: string;
  /** Days to keep a finished run before DynamoDB's TTL deletes it; unset: keep forever. */
  retentionDays?: number;
}

export const runKey = (runId: string) => ({ pk: `run#${runId}`, sk: 'run' });

function sortKey(record: Pick<RunRecord, 'startedAt' | 'runId'>): string {
  const ms = Date.parse(record.startedAt);
  if (Number.isNaN(ms)) throw new InvalidInputError('startedAt', `${JSON.stringify(record.startedAt)} is not a timestamp`);
  return `${new Date(ms).toISOString()}#${record.runId}`;
}

/**
 * The attributes of a run item that the indexes and a reader of the table use, whoever writes it (the
 * run store, the audit recorder): its index keys, the run's identity and outcome, and its expiry
 * `retentionDays` after it ended (none while it runs, or without a retention).
 */
export function runItemAttributes(
  record: Pick<RunRecord, 'runId' | 'cluster' | 'startedAt' | 'startedBy' | 'outcome' | 'state' | 'endedAt'>,
  retentionDays: number | undefined,
): Record<string, unknown> {
  const runId = validRunId('runId', record.runId);
  const cluster = clusterName('cluster', record.cluster);
  const order = sortKey(record);
  const finished = record.outcome !== 'running' && record.endedAt !== undefined;
  const ttl = finished && retentionDays !== undefined ? Math.ceil(Date.parse(record.endedAt as string) / 1000) + retentionDays * 86_400 : undefined;
  return {
    kind: 'run',
    gsi1pk: `cluster#${cluster}`,
    gsi1sk: order,
    gsi2pk: 'run',
    gsi2sk: order,
    runId,
    cluster,
    startedAt: record.startedAt,
    startedBy: record.startedBy,
    outcome: record.outcome,
    state: record.state,
    ...(record.endedAt !== undefined ? { endedAt: record.endedAt } : {}),
    ...(ttl !== undefined && !Number.isNaN(ttl) ? { ttl } : {}),
  };
}

export class DynamoRunStore implements RunStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #retentionDays: number | undefined;

  constructor(config: DynamoRunStoreConfig) {
    this.#doc = config.doc;
    this.#table = config.table;
    this.#retentionDays = config.retentionDays;
  }

  async save(record: RunRecord): Promise<void> {
    const id = validRunId('runId', record.runId);
    const json = JSON.stringify(record);
    if (Buffer.byteLength(json) > MAX_RECORD_BYTES) {
      throw new InvalidInputError('record', `run ${id} is ${Buffer.byteLength(json)} bytes as JSON; DynamoDB keeps at most ${MAX_RECORD_BYTES}`);
    }
    await this.#doc.send(
      new PutCommand({
        TableName: this.#table,
        Item: { ...runKey(id), ...runItemAttributes(record, this.#retentionDays), record: json },
      }),
    );
  }

  async get(runId: string): Promise<RunRecord | null> {
    const answer = await this.#doc.send(new GetCommand({ TableName: this.#table, Key: runKey(validRunId('runId', runId)), ConsistentRead: true }));
    return answer.Item ? (JSON.parse(answer.Item['record'] as string) as RunRecord) : null;
  }

  async list(options: { cluster?: string; limit?: number } = {}): Promise<RunRecord[]> {
    return queryRunItems(this.#doc, this.#table, options, (item) => JSON.parse(item['record'] as string) as RunRecord);
  }
}
