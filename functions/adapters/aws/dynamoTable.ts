// The one DynamoDB table behind DynamoLock and DynamoRunStore. The CDK stack creates it from these
// names (on-demand billing, point-in-time recovery, TTL on `ttl`):
//
//   item              pk                   sk      gsi1pk (byCluster)   gsi1sk / gsi2sk          gsi2pk (byStart)
//   lock of a cluster lock#<cluster>       lock    -                    -                        -
//   run record        run#<runId>          run     cluster#<cluster>    <startedAt ISO>#<runId>  run
//
// Both indexes project ALL attributes, so a list is one Query.

import { QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { clusterName, positiveInt } from '../../validate.ts';

export const TABLE_SCHEMA = {
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'ttl',
  indexes: {
    /** Runs of one cluster, newest first. */
    byCluster: { name: 'byCluster', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
    /** All runs, newest first. */
    byStart: { name: 'byStart', partitionKey: 'gsi2pk', sortKey: 'gsi2sk' },
  },
} as const;

/**
 * The run items, newest first: of one cluster (index byCluster) or of all (byStart), page by page up to
 * `limit`. DynamoRunStore and AuditStore read the same items, each into its own record.
 */
export async function queryRunItems<T>(
  doc: DynamoDBDocumentClient,
  table: string,
  options: { cluster?: string; limit?: number },
  read: (item: Record<string, unknown>) => T | null,
): Promise<T[]> {
  const cluster = options.cluster === undefined ? undefined : clusterName('cluster', options.cluster);
  const limit = options.limit === undefined ? undefined : positiveInt('limit', options.limit);
  const index = cluster === undefined ? TABLE_SCHEMA.indexes.byStart : TABLE_SCHEMA.indexes.byCluster;
  const records: T[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const answer = await doc.send(
      new QueryCommand({
        TableName: table,
        IndexName: index.name,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': index.partitionKey },
        ExpressionAttributeValues: { ':pk': cluster === undefined ? 'run' : `cluster#${cluster}` },
        ScanIndexForward: false,
        ...(limit !== undefined ? { Limit: limit - records.length } : {}),
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    for (const item of answer.Items ?? []) {
      const record = read(item);
      if (record !== null) records.push(record);
    }
    start = answer.LastEvaluatedKey;
  } while (start && (limit === undefined || records.length < limit));
  return limit === undefined ? records : records.slice(0, limit);
}
