// The deployment's configuration: what the stack needs to know about one OpenShift cluster. Read from
// CDK context (cdk.json's `etcdReplace`, or a JSON file named by `-c etcdReplaceConfig=FILE`) and
// checked with the same validators the workflow uses, so a typo fails `cdk synth`, not a 3 a.m. run.

import { readFileSync } from 'node:fs';
import { InvalidInputError } from '../functions/errors.ts';
import * as validate from '../functions/validate.ts';

export interface MemberConfig {
  /** Short host name, e.g. `master-0`; names the member's alarm. */
  name: string;
  /** Fully qualified hostname: what the alarm names as the failed member. */
  hostname: string;
  /** IPv4 address etcd listens on (the health probe asks https://<ip>:2379). */
  ip: string;
  instanceId: string;
}

export interface DeploymentConfig {
  clusterName: string;
  /** EC2 tag whose value is clusterName on every host of the cluster (and on its security groups). */
  clusterTagKey: string;
  /** Tag marking the spare instances that may become a new member; its value is clusterName. */
  spareTagKey: string;
  /** The etcd members the probe watches, one alarm each. */
  members: MemberConfig[];
  /** The host an alarm-started run replaces a failed member with (a spare of the pool). */
  alarmReplacement: string;
  /** The cluster's etcd security group: the source of the 2379/2380 rules opened to the new member. */
  etcdSecurityGroupId: string;
  /** Grace window of alarm-started runs, seconds between the two observations of the failure. */
  alarmGraceSeconds: number;
  /** Consecutive unhealthy minutes before a member's alarm fires. */
  alarmMinutes: number;
  /** Days an etcd snapshot or data backup is kept in the artifact bucket. */
  snapshotRetentionDays: number;
  /** Days a finished run record is kept (DynamoDB TTL); absent: kept until deleted by hand. */
  runRetentionDays?: number;
  /**
   * Ask SSM to write full command output to the artifact bucket (under ssm-output/). Needs the
   * instances' role to allow s3:PutObject there and kms:GenerateDataKey on the stack's key.
   */
  ssmOutputToBucket: boolean;
  /** Optional e-mail address subscribed to run outcomes. */
  notificationEmail?: string;
}

export const DEFAULT_CLUSTER_TAG_KEY = 'openshift-etcd-cluster';
export const DEFAULT_SPARE_TAG_KEY = 'openshift-etcd-spare-pool';

const TAG_KEY = /^[A-Za-z0-9 _.:/=+@-]{1,128}$/;
const SG_ID = /^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function tagKey(field: string, value: unknown): string {
  if (typeof value !== 'string' || !TAG_KEY.test(value) || value.startsWith('aws:')) throw new InvalidInputError(field, 'expected an EC2 tag key');
  return value;
}

function intIn(field: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw new InvalidInputError(field, `expected an integer from ${min} to ${max}`);
  return value;
}

/** Checks a raw configuration object and fills in the defaults. */
export function parseConfig(raw: unknown): DeploymentConfig {
  if (!isObject(raw)) throw new InvalidInputError('etcdReplace', 'expected an object');
  const clusterName = validate.clusterName('clusterName', raw['clusterName']);
  const members = raw['members'];
  if (!Array.isArray(members) || members.length === 0) throw new InvalidInputError('members', 'expected a non-empty list of {name, hostname, ip, instanceId}');
  const parsedMembers = members.map((m: unknown, i): MemberConfig => {
    const member = isObject(m) ? m : {};
    return {
      name: validate.hostName(`members[${i}].name`, member['name']),
      hostname: validate.hostname(`members[${i}].hostname`, member['hostname']),
      ip: validate.ipv4(`members[${i}].ip`, member['ip']),
      instanceId: validate.instanceId(`members[${i}].instanceId`, member['instanceId']),
    };
  });
  const names = new Set(parsedMembers.map((m) => m.name));
  if (names.size !== parsedMembers.length) throw new InvalidInputError('members', 'member names must be unique');
  const etcdSecurityGroupId = raw['etcdSecurityGroupId'];
  if (typeof etcdSecurityGroupId !== 'string' || !SG_ID.test(etcdSecurityGroupId)) throw new InvalidInputError('etcdSecurityGroupId', 'expected a security group id (sg-...)');
  const email = raw['notificationEmail'];
  if (email !== undefined && (typeof email !== 'string' || !EMAIL.test(email))) throw new InvalidInputError('notificationEmail', 'expected an e-mail address');
  const config: DeploymentConfig = {
    clusterName,
    clusterTagKey: raw['clusterTagKey'] === undefined ? DEFAULT_CLUSTER_TAG_KEY : tagKey('clusterTagKey', raw['clusterTagKey']),
    spareTagKey: raw['spareTagKey'] === undefined ? DEFAULT_SPARE_TAG_KEY : tagKey('spareTagKey', raw['spareTagKey']),
    members: parsedMembers,
    alarmReplacement: validate.hostname('alarmReplacement', raw['alarmReplacement']),
    etcdSecurityGroupId,
    alarmGraceSeconds: intIn('alarmGraceSeconds', raw['alarmGraceSeconds'], 60, 0, 3600),
    alarmMinutes: intIn('alarmMinutes', raw['alarmMinutes'], 3, 1, 60),
    snapshotRetentionDays: intIn('snapshotRetentionDays', raw['snapshotRetentionDays'], 30, 1, 3650),
    ssmOutputToBucket: raw['ssmOutputToBucket'] === true,
  };
  if (raw['runRetentionDays'] !== undefined) config.runRetentionDays = intIn('runRetentionDays', raw['runRetentionDays'], 0, 1, 3650);
  if (typeof email === 'string') config.notificationEmail = email;
  return config;
}

/** The configuration from CDK context: a file named by `etcdReplaceConfig`, else the `etcdReplace` object. */
export function configFromContext(tryGetContext: (key: string) => unknown): DeploymentConfig {
  const file = tryGetContext('etcdReplaceConfig');
  if (typeof file === 'string' && file !== '') {
    return parseConfig(JSON.parse(readFileSync(file, 'utf8')) as unknown);
  }
  const inline = tryGetContext('etcdReplace');
  return parseConfig(typeof inline === 'string' ? (JSON.parse(inline) as unknown) : inline);
}
