// The deployment's configuration: what the stack needs to know about one OpenShift cluster. Read from
// a JSON file named by `-c etcdReplaceConfig=FILE` (or an `etcdReplace` object in CDK context), checked
// first against its JSON Schema (lib/config.schema.json: types, ranges, and no unknown key, named when
// found), then with the same validators the workflow uses, so a typo fails `cdk synth`, not a 3 a.m. run.
// There is no default cluster: without a configuration the app refuses to synthesize.

import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { InvalidInputError } from '../functions/errors.ts';
import * as validate from '../functions/validate.ts';
import type { AddMethod } from '../statemachine/context.ts';
import { unknownWaivers, type WaiverCondition } from '../statemachine/restorePolicy.ts';

/** The configuration's JSON Schema, for editors and for parseConfig(). */
export const CONFIG_SCHEMA_FILE = new URL('./config.schema.json', import.meta.url);

export interface MemberConfig {
  /** Short host name, e.g. `master-0`; names the member's alarm. */
  name: string;
  /** Fully qualified hostname: what the alarm names as the failed member. */
  hostname: string;
  /** IPv4 address etcd listens on (the health probe asks https://<ip>:2379). */
  ip: string;
  instanceId: string;
}

/** The launch template a run launches its replacement host from when no spare is at hand. */
export interface ReplacementLaunchTemplate {
  /** Exactly one of launchTemplateId and launchTemplateName. */
  launchTemplateId?: string;
  launchTemplateName?: string;
  /** `$Default`, `$Latest` or a version number. */
  version: string;
  /** Launch here instead of the failed member's subnet. */
  subnetId?: string;
  /** The role of the template's instance profile: the only role the step functions may pass, and only to EC2. */
  instanceRoleArn?: string;
}

/** Where the ansible add method runs the scaleup playbook. */
export interface AnsibleConfig {
  installerInstanceId: string;
  /** openshift-ansible's directory on the installer host; absent: OPENSHIFT_ANSIBLE_DIR. */
  openshiftAnsibleDir?: string;
}

/** The restore-quorum workflow's settings for one cluster (lib/constructs/restore-workflow.ts). */
export interface RestoreConfig {
  /** The cluster's VPC: the stack creates the quarantine security group there. Exclusive with quarantineSecurityGroupId. */
  vpcId?: string;
  /** An existing quarantine group (no rule lets 2379/2380 in or out; tagged with the cluster tag). */
  quarantineSecurityGroupId?: string;
  /** `stop-instance`: a former member that cannot be fenced on the host is stopped too. */
  fenceUnreachable: 'none' | 'stop-instance';
  /** How long a restore waits for a person's approval (default 3600). */
  approvalTimeoutSeconds: number;
  /** Named conditions under which no approval is needed (statemachine/restorePolicy.ts APPROVAL_WAIVERS). */
  approvalWaivers: WaiverCondition[];
  /** Grace window of alarm-started restores (default alarmGraceSeconds). */
  graceSeconds: number;
  /** Deploy the quorum-lost alarm that starts a restore (default true). */
  quorumAlarm: boolean;
}

export interface DeploymentConfig {
  clusterName: string;
  /** EC2 tag whose value is clusterName on every host of the cluster (and on its security groups). */
  clusterTagKey: string;
  /** Tag marking the spare instances that may become a new member; its value is clusterName. */
  spareTagKey: string;
  /** The etcd members the probe watches, one alarm each. */
  members: MemberConfig[];
  /**
   * Pins the host an alarm-started run replaces a failed member with. Absent: the spare pool's next free
   * host (or one launched), as an EC2-started run takes it.
   */
  alarmReplacement?: string;
  /** The cluster's etcd security group: the source of the 2379/2380 rules opened to the new member. */
  etcdSecurityGroupId: string;
  /** Absent: a run that must launch its replacement fails at ProvisionReplacement, naming this key. */
  replacementLaunchTemplate?: ReplacementLaunchTemplate;
  /** Grace window of alarm-started runs, seconds between the two observations of the failure. */
  alarmGraceSeconds: number;
  /**
   * Signals that are final evidence of a failure (`ec2:<state>` of a member's instance, `alarm`): a run
   * they start confirms the failure at the first observation, without the grace window's wait. Default
   * `["ec2:terminated"]`: a terminated instance never answers again.
   */
  finalSignals: FinalSignal[];
  /** The restore-quorum workflow's settings (every default when the file has no `restore`). */
  restore: RestoreConfig;
  /** Consecutive unhealthy minutes before a member's alarm fires. */
  alarmMinutes: number;
  /** Minutes between two runs of the health probe (one SSM command each). */
  probeIntervalMinutes: number;
  /** Consecutive minutes of a failed EC2 system status check before a member's status-check alarm fires. */
  statusCheckMinutes: number;
  /** Days an etcd snapshot or data backup is kept in the artifact bucket. */
  snapshotRetentionDays: number;
  /** Days the audit record of a finished run is kept after it ended (DynamoDB TTL); at least 91. */
  runRetentionDays: number;
  /**
   * Ask SSM to write full command output to the artifact bucket (under ssm-output/). Needs the
   * instances' role to allow s3:PutObject there and kms:GenerateDataKey on the stack's key.
   */
  ssmOutputToBucket: boolean;
  /** The add method of runs whose request names none (default `manual`). */
  defaultAddMethod: AddMethod;
  /** The installer host of the ansible add method; absent: runs cannot use it. */
  ansible?: AnsibleConfig;
  /** Optional e-mail address subscribed to run outcomes and the stack's alarms. */
  notificationEmail?: string;
  /** The account and region the stack is bound to; absent: the deploying CLI's. */
  account?: string;
  region?: string;
  /** Tags on every resource, besides etcd-replace:cluster. */
  tags?: Record<string, string>;
}

export const DEFAULT_CLUSTER_TAG_KEY = 'openshift-etcd-cluster';
export const DEFAULT_SPARE_TAG_KEY = 'openshift-etcd-spare-pool';
/** Every 2 minutes: half the probe's SSM commands (and CloudTrail events) of a one-minute probe; EC2's own signals cover a host that fails. */
export const DEFAULT_PROBE_INTERVAL_MINUTES = 2;
export const DEFAULT_STATUS_CHECK_MINUTES = 2;
/** 13 months: a yearly audit finds the run, with a month to spare. */
export const DEFAULT_RUN_RETENTION_DAYS = 400;

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
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    throw new InvalidInputError(field, `expected an integer from ${min} to ${max}`);
  return value;
}

/** Edit distance, for naming the key a misspelt one was probably meant to be. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

type SchemaNode = { properties?: Record<string, SchemaNode>; items?: SchemaNode };

let compiled: { check: ReturnType<Ajv['compile']>; schema: SchemaNode } | undefined;
function schemaCheck(): { check: ReturnType<Ajv['compile']>; schema: SchemaNode } {
  if (!compiled) {
    const schema = JSON.parse(readFileSync(CONFIG_SCHEMA_FILE, 'utf8')) as SchemaNode;
    compiled = { check: new Ajv({ allErrors: true, strict: true }).compile(schema), schema };
  }
  return compiled;
}

/** `/members/0/ip` as `members[0].ip`. */
function fieldOf(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((part, i) => (/^\d+$/.test(part) ? `[${part}]` : `${i === 0 ? '' : '.'}${part}`))
    .join('');
}

/** The schema node of a path, for the keys it allows. */
function nodeAt(schema: SchemaNode, instancePath: string): SchemaNode | undefined {
  let node: SchemaNode | undefined = schema;
  for (const part of instancePath.split('/').slice(1)) node = /^\d+$/.test(part) ? node?.items : node?.properties?.[part];
  return node;
}

function schemaError(error: ErrorObject, schema: SchemaNode): InvalidInputError {
  const at = fieldOf(error.instancePath);
  if (error.keyword === 'additionalProperties') {
    const key = String((error.params as { additionalProperty?: unknown }).additionalProperty);
    const known = Object.keys(nodeAt(schema, error.instancePath)?.properties ?? {}).filter((k) => k !== '$schema');
    const near = known.map((k) => ({ k, d: distance(key, k) })).sort((x, y) => x.d - y.d)[0];
    const hint = near && near.d <= Math.max(2, Math.floor(key.length / 4)) ? ` (did you mean "${near.k}"?)` : '';
    return new InvalidInputError(at ? `${at}.${key}` : key, `unknown key "${key}"${at ? ` in ${at}` : ''}${hint}; allowed: ${known.join(', ')}`);
  }
  return new InvalidInputError(at || 'etcdReplace', `${error.message ?? 'is invalid'}`);
}

function launchTemplate(value: unknown): ReplacementLaunchTemplate | undefined {
  if (value === undefined) return undefined;
  const raw = isObject(value) ? value : {};
  const id = raw['launchTemplateId'];
  const name = raw['launchTemplateName'];
  if ((id === undefined) === (name === undefined)) {
    throw new InvalidInputError('replacementLaunchTemplate', 'name the launch template by launchTemplateId or by launchTemplateName (exactly one)');
  }
  const out: ReplacementLaunchTemplate = { version: typeof raw['version'] === 'string' ? raw['version'] : '$Default' };
  if (typeof id === 'string') out.launchTemplateId = id;
  if (typeof name === 'string') out.launchTemplateName = name;
  if (typeof raw['subnetId'] === 'string') out.subnetId = raw['subnetId'];
  if (typeof raw['instanceRoleArn'] === 'string') out.instanceRoleArn = raw['instanceRoleArn'];
  return out;
}

const VPC_ID = /^vpc-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
export const DEFAULT_APPROVAL_TIMEOUT_SECONDS = 60 * 60;

function restoreConfig(value: unknown, alarmGraceSeconds: number): RestoreConfig {
  const raw = isObject(value) ? value : {};
  const vpcId = raw['vpcId'];
  const group = raw['quarantineSecurityGroupId'];
  if (vpcId !== undefined && group !== undefined)
    throw new InvalidInputError('restore', 'name the quarantine group by vpcId (the stack creates it) or by quarantineSecurityGroupId, not both');
  if (vpcId !== undefined && (typeof vpcId !== 'string' || !VPC_ID.test(vpcId))) throw new InvalidInputError('restore.vpcId', 'expected a VPC id (vpc-...)');
  if (group !== undefined && (typeof group !== 'string' || !SG_ID.test(group)))
    throw new InvalidInputError('restore.quarantineSecurityGroupId', 'expected a security group id (sg-...)');
  const waivers = Array.isArray(raw['approvalWaivers']) ? raw['approvalWaivers'].map(String) : [];
  const unknown = unknownWaivers(waivers);
  if (unknown.length > 0) throw new InvalidInputError('restore.approvalWaivers', `${unknown.join(', ')} is no waiver condition`);
  return {
    ...(typeof vpcId === 'string' ? { vpcId } : {}),
    ...(typeof group === 'string' ? { quarantineSecurityGroupId: group } : {}),
    fenceUnreachable: raw['fenceUnreachable'] === 'stop-instance' ? 'stop-instance' : 'none',
    approvalTimeoutSeconds: intIn('restore.approvalTimeoutSeconds', raw['approvalTimeoutSeconds'], DEFAULT_APPROVAL_TIMEOUT_SECONDS, 60, 86400),
    approvalWaivers: waivers as WaiverCondition[],
    graceSeconds: intIn('restore.graceSeconds', raw['graceSeconds'], alarmGraceSeconds, 0, 3600),
    quorumAlarm: raw['quorumAlarm'] !== false,
  };
}

export type FinalSignal = 'ec2:stopping' | 'ec2:stopped' | 'ec2:shutting-down' | 'ec2:terminated' | 'alarm';

/** Checks a raw configuration object against lib/config.schema.json, then field by field, and fills in the defaults. */
export function parseConfig(given: unknown): DeploymentConfig {
  if (!isObject(given)) throw new InvalidInputError('etcdReplace', 'expected an object');
  // A key set to undefined (from code, never from JSON) is an absent key.
  const raw: Record<string, unknown> = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined));
  const { check, schema } = schemaCheck();
  if (!check(raw)) {
    const errors = check.errors ?? [];
    // An unknown key first: it is the most likely mistake, and the other errors may follow from it.
    throw schemaError(errors.find((e) => e.keyword === 'additionalProperties') ?? errors[0]!, schema);
  }
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
  if (typeof etcdSecurityGroupId !== 'string' || !SG_ID.test(etcdSecurityGroupId))
    throw new InvalidInputError('etcdSecurityGroupId', 'expected a security group id (sg-...)');
  const email = raw['notificationEmail'];
  if (email !== undefined && (typeof email !== 'string' || !EMAIL.test(email))) throw new InvalidInputError('notificationEmail', 'expected an e-mail address');
  const config: DeploymentConfig = {
    clusterName,
    clusterTagKey: raw['clusterTagKey'] === undefined ? DEFAULT_CLUSTER_TAG_KEY : tagKey('clusterTagKey', raw['clusterTagKey']),
    spareTagKey: raw['spareTagKey'] === undefined ? DEFAULT_SPARE_TAG_KEY : tagKey('spareTagKey', raw['spareTagKey']),
    members: parsedMembers,
    ...(raw['alarmReplacement'] === undefined ? {} : { alarmReplacement: validate.hostname('alarmReplacement', raw['alarmReplacement']) }),
    etcdSecurityGroupId,
    alarmGraceSeconds: intIn('alarmGraceSeconds', raw['alarmGraceSeconds'], 60, 0, 3600),
    finalSignals: Array.isArray(raw['finalSignals']) ? (raw['finalSignals'] as FinalSignal[]) : ['ec2:terminated'],
    restore: restoreConfig(raw['restore'], intIn('alarmGraceSeconds', raw['alarmGraceSeconds'], 60, 0, 3600)),
    alarmMinutes: intIn('alarmMinutes', raw['alarmMinutes'], 3, 1, 60),
    probeIntervalMinutes: intIn('probeIntervalMinutes', raw['probeIntervalMinutes'], DEFAULT_PROBE_INTERVAL_MINUTES, 1, 60),
    statusCheckMinutes: intIn('statusCheckMinutes', raw['statusCheckMinutes'], DEFAULT_STATUS_CHECK_MINUTES, 1, 60),
    snapshotRetentionDays: intIn('snapshotRetentionDays', raw['snapshotRetentionDays'], 30, 1, 3650),
    runRetentionDays: intIn('runRetentionDays', raw['runRetentionDays'], DEFAULT_RUN_RETENTION_DAYS, 91, 3650),
    ssmOutputToBucket: raw['ssmOutputToBucket'] === true,
    defaultAddMethod: raw['defaultAddMethod'] === 'ansible' ? 'ansible' : 'manual',
  };
  if (isObject(raw['ansible'])) {
    const ansible = raw['ansible'];
    config.ansible = {
      installerInstanceId: validate.instanceId('ansible.installerInstanceId', ansible['installerInstanceId']),
      ...(typeof ansible['openshiftAnsibleDir'] === 'string' ? { openshiftAnsibleDir: ansible['openshiftAnsibleDir'] } : {}),
    };
  }
  if (config.defaultAddMethod === 'ansible' && !config.ansible) {
    throw new InvalidInputError('defaultAddMethod', 'ansible needs `ansible.installerInstanceId`: the installer host the scaleup playbook runs on');
  }
  const template = launchTemplate(raw['replacementLaunchTemplate']);
  if (template) config.replacementLaunchTemplate = template;
  if (typeof email === 'string') config.notificationEmail = email;
  if (typeof raw['account'] === 'string') config.account = raw['account'];
  if (typeof raw['region'] === 'string') config.region = raw['region'];
  if (isObject(raw['tags'])) config.tags = Object.fromEntries(Object.entries(raw['tags']).map(([k, v]) => [k, String(v)]));
  return config;
}

export const NO_CONFIG_MESSAGE =
  "no configuration: name the cluster's file with -c etcdReplaceConfig=FILE (copy docs/etcd-replace.config.example.json and edit it; " +
  '`npm run synth` synthesizes the example offline)';

/** The configuration from CDK context: a file named by `etcdReplaceConfig`, else an `etcdReplace` object; neither: an error. */
export function configFromContext(tryGetContext: (key: string) => unknown): DeploymentConfig {
  const file = tryGetContext('etcdReplaceConfig');
  if (typeof file === 'string' && file !== '') {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new InvalidInputError('etcdReplaceConfig', `cannot read ${file}: ${(error as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new InvalidInputError('etcdReplaceConfig', `${file} is not JSON: ${(error as Error).message}`);
    }
    return parseConfig(parsed);
  }
  const inline = tryGetContext('etcdReplace');
  if (inline === undefined || inline === null || inline === '') throw new InvalidInputError('etcdReplaceConfig', NO_CONFIG_MESSAGE);
  return parseConfig(typeof inline === 'string' ? (JSON.parse(inline) as unknown) : inline);
}
