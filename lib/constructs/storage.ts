// Encryption and storage: the KMS key (artifacts, run records and notifications), the artifact bucket
// and its access-log bucket, and the lock and run table (which also holds the audit trail).

import { Aws, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { TABLE_SCHEMA } from '../../functions/adapters/aws/dynamoTable.ts';
import { ARTIFACT_PREFIXES, type ReplacementContext } from './shared.ts';

/** Created on the EtcdReplacement's own scope, so the logical IDs are those it always had. */
export class Storage {
  readonly key: kms.Key;
  readonly artifactBucket: s3.Bucket;
  /** Locks, and the audit record of every execution (and what each step reported). */
  readonly table: dynamodb.Table;

  constructor(scope: Construct, ctx: ReplacementContext) {
    const { cluster, config } = ctx;
    this.key = new kms.Key(scope, 'Key', {
      description: `etcd-replace ${cluster}: artifacts, run records and notifications`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // EventBridge publishes run outcomes, and CloudWatch the stack's alarms, to the encrypted topic.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('events.amazonaws.com'), new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    );

    const accessLogs = new s3.Bucket(scope, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(365) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: "This bucket receives the artifact bucket's server access logs; logging it into itself would loop.",
    });

    this.artifactBucket = new s3.Bucket(scope, 'Artifacts', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'artifacts/',
      // Snapshots, data backups and certificate bundles of a run expire together; an object the
      // workflow deletes (a bundle once the new member has started) leaves a noncurrent version that
      // is gone a day later.
      lifecycleRules: [
        {
          id: 'run-artifacts',
          prefix: ARTIFACT_PREFIXES.artifacts,
          expiration: Duration.days(config.snapshotRetentionDays),
          noncurrentVersionExpiration: Duration.days(1),
        },
        { id: 'ssm-output', prefix: ARTIFACT_PREFIXES.ssmOutput, expiration: Duration.days(30), noncurrentVersionExpiration: Duration.days(1) },
        { id: 'incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // Locks, audit records and step details, as functions/adapters/aws/dynamoTable.ts and auditStore.ts
    // lay them out. TTL deletes finished records runRetentionDays after they ended.
    this.table = new dynamodb.Table(scope, 'Runs', {
      partitionKey: { name: TABLE_SCHEMA.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE_SCHEMA.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: TABLE_SCHEMA.ttlAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.key,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const index of Object.values(TABLE_SCHEMA.indexes)) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }
  }
}
