// The one DynamoDB table behind DynamoLock and DynamoRunStore. The CDK stack creates it from these
// names (on-demand billing, point-in-time recovery, TTL on `ttl`):
//
//   item              pk                   sk      gsi1pk (byCluster)   gsi1sk / gsi2sk          gsi2pk (byStart)
//   lock of a cluster lock#<cluster>       lock    -                    -                        -
//   run record        run#<runId>          run     cluster#<cluster>    <startedAt ISO>#<runId>  run
//
// Both indexes project ALL attributes, so a list is one Query.

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
