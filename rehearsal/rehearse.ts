// A rehearsal of the deployed system on this machine: what `cdk deploy` would ship, run against a
// sandbox cluster whose master-2 is powered off.
//
// 1. `cdk synth` (the project's CDK app, offline) with the example configuration, its cluster-specific
//    fields (members, the alarm's replacement) set to the sandbox's hosts; the template, the assets
//    manifest and the bundled Lambda code are read from that cdk.out.
// 2. The services, over HTTP on the sandbox gateway (awsFront.ts): DynamoDB on dynalite with the
//    template's table, S3 on s3rver with the template's bucket (the hosts fetch its presigned URLs with
//    curl), SSM and EC2 on the sandbox hosts, Step Functions, CloudWatch, SNS and CloudTrail.
// 3. The member alarm of the failed host goes to ALARM: its "CloudWatch Alarm State Change" event is
//    matched against the template's EventBridge rules; the AlarmTrigger rule's input transformer makes
//    the execution input, and its role starts the execution of the template's state machine
//    definition (stepFunctions.ts), whose tasks invoke the bundled functions (lambdaService.ts) with
//    their template environment. Status changes go to the rules too: AuditTrail runs the audit
//    recorder, RunOutcome the notifier.
// 4. Every AWS API call is checked against the caller's IAM policy from the template (iam.ts).
// 5. Afterwards, what the run left: the audit record in the table, the notification published to the
//    topic, the lock, the bucket and every IAM verdict, judged by run.ts's verdict (the sandbox test adds
//    the cluster's independent facts, test/rehearsal/checks.ts).
//
// One synthesized app (synthesizeApp) and one EC2/SSM model of the hosts (rehearsalCloud) can serve
// several runs on the same sandbox, one after the other, as one deployment meets one failure after
// another: the instances keep the tags the runs gave them. The services behind the endpoint, the
// functions' environments and the event bus are each run's own.

import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import S3rver from 's3rver';
import type { AddMethod } from '../statemachine/context.ts';
import { failHost, type SandboxInfo } from '../sandbox/index.ts';
import { PROJECT_ROOT } from '../lib/etcd-replacement.ts';
import { runIdFromExecutionName } from '../functions/handlers/event.ts';
import { lockKey } from '../functions/adapters/aws/dynamoLock.ts';
import { AwsFront } from './awsFront.ts';
import { alarmStateChangeEvent, matchesPattern, transformInput } from './eventBridge.ts';
import { SandboxCloud, type IngressChange, type Invocation } from './hosts.ts';
import { IamCheck } from './iam.ts';
import { awsFigures, type AwsFigures } from './figures.ts';
import { AWS_LATENCY, delay, type LatencyModel } from './latency.ts';
import { LambdaService, lambdaNode, type Runtime } from './lambdaService.ts';
import { StepFunctionsService, type Execution } from './stepFunctions.ts';
import { SynthesizedStack, type PolicyDocument, type Role, type Rule } from './template.ts';
import { approveWhenAsked, operatorOf, PARTITIONED, quorumLostEvent, restoreStateMachine } from './quorumLoss.ts';

export const EXAMPLE_CONFIG = join(PROJECT_ROOT, 'docs/etcd-replace.config.example.json');
const S3RVER_KEY = 'S3RVER';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface ExampleConfig {
  clusterName: string;
  account: string;
  region: string;
  clusterTagKey: string;
  spareTagKey: string;
  members: Array<{ name: string; hostname: string; ip: string; instanceId: string }>;
  alarmReplacement: string;
  etcdSecurityGroupId: string;
  alarmGraceSeconds: number;
  [key: string]: unknown;
}

export interface RehearsalOptions {
  sandbox: SandboxInfo;
  failed: string;
  /** The alarm's replacement (the configuration's alarmReplacement): needed when the rehearsal synthesizes the app itself. */
  replacement?: string;
  /** Seconds between the run's two observations of the failure (the configuration's alarmGraceSeconds). */
  graceSeconds?: number;
  /** The app synthesized for this sandbox (synthesizeApp), kept by the caller; without it the rehearsal synthesizes its own. */
  app?: SynthesizedApp;
  /** EC2 and SSM of this sandbox's hosts (rehearsalCloud), kept across runs by the caller; without it a new one. */
  cloud?: SandboxCloud;
  /** What starts the run: the probe's member alarm going to ALARM (default), or EC2's state-change event of the failed member's instance. */
  trigger?: RehearsalTrigger;
  /** The instance state EC2's event names (`ec2-state-change` only; default `stopped`). `terminated`: EC2 reports the instance terminated from then on. */
  state?: RehearsalState;
  /** What the emulated services add to each call (latency.ts; default AWS_LATENCY). */
  latency?: LatencyModel;
  /** The deployment's defaultAddMethod when the rehearsal synthesizes the app itself (default manual). */
  addMethod?: AddMethod;
  log?: (line: string) => void;
}

/** `quorum-lost`: the restore-quorum scenario (quorumLoss.ts), the quorum-lost alarm starting the restore. */
export type RehearsalTrigger = 'alarm' | 'ec2-state-change' | 'quorum-lost';
export type RehearsalState = 'stopped' | 'terminated';

export interface Delivery {
  rule: string;
  target: string;
  detailType: string;
  status?: string;
  attempts: number;
  ok: boolean;
  error?: string;
}

export interface Rehearsal {
  config: ExampleConfig;
  stack: SynthesizedStack;
  failed: string;
  trigger: RehearsalTrigger;
  state?: RehearsalState;
  latency: LatencyModel;
  /** The run as AWS would take it: end to end by phase, the calls made (figures.ts). */
  figures: AwsFigures;
  execution: Execution;
  runId: string;
  /** The SSM commands of this run (the cloud's invocations since it started). */
  commands: Invocation[];
  /** The security-group ingress changes of this run. */
  ingressChanges: IngressChange[];
  /** The cluster's lock item in the table after the run (undefined: released). */
  lockItem: Record<string, unknown> | undefined;
  /** The bucket's objects after the run. */
  bucketObjects: Array<{ key: string; size: number }>;
  /** The Node.js binary the functions were given, and what each function's environment reported running on. */
  lambdaNode: string;
  lambdaRuntimes: Map<string, Runtime>;
  /** The audit record as the audit recorder wrote it to the table (its `record` attribute, parsed). */
  auditItem: Record<string, unknown> | undefined;
  auditRecord: Record<string, unknown> | undefined;
  notifications: AwsFront['published'];
  deliveries: Delivery[];
  iam: IamCheck;
  front: AwsFront;
  cloud: SandboxCloud;
  lambdas: LambdaService;
  roleLabel: (roleName: string) => string;
  timings: { synthSeconds: number; runSeconds: number };
  /** quorum-lost: what `etcd-replace approve` exited with (null: the run never asked). */
  approval?: number | null;
}

/** The project's app synthesized for one sandbox: its configuration, cdk.out and the stack read from it. */
export interface SynthesizedApp {
  config: ExampleConfig;
  configFile: string;
  outdir: string;
  stack: SynthesizedStack;
  synthSeconds: number;
  /** Removes the configuration and cdk.out. */
  close(): Promise<void>;
}

/** `cdk synth` of the app with the example configuration naming `sandbox`'s hosts (the alarm's replacement: `replacement`). */
export async function synthesizeApp(
  sandbox: SandboxInfo,
  replacement: string,
  graceSeconds = 5,
  log: (line: string) => void = () => {},
  addMethod: AddMethod = 'manual',
): Promise<SynthesizedApp> {
  const work = await mkdtemp(join(tmpdir(), 'etcd-replace-synth-'));
  try {
    const config = await rehearsalConfig(sandbox, replacement, graceSeconds, addMethod);
    const configFile = join(work, 'etcd-replace.rehearsal.json');
    await writeFile(configFile, `${JSON.stringify(config, null, 2)}\n`);
    const outdir = join(work, 'cdk.out');
    log(`cdk synth -c etcdReplaceConfig=${configFile} -o ${outdir}`);
    const t0 = Date.now();
    await synth(configFile, outdir);
    const synthSeconds = (Date.now() - t0) / 1000;
    const stack = new SynthesizedStack(outdir, `EtcdReplace-${config.clusterName}`, { account: config.account, region: config.region });
    log(
      `synthesized in ${synthSeconds.toFixed(0)} s: ${stack.functions().length} functions from ${new Set(stack.functions().map((f) => f.assetDir)).size} assets, ${stack.roles().length} roles, ${stack.rules().length} rules`,
    );
    return { config, configFile, outdir, stack, synthSeconds, close: () => rm(work, { recursive: true, force: true }) };
  } catch (error) {
    await rm(work, { recursive: true, force: true });
    throw error;
  }
}

/** EC2 and SSM of the sandbox's hosts as the app's configuration names them (its members' instance IDs, tag keys, etcd group). */
export function rehearsalCloud(app: SynthesizedApp, sandbox: SandboxInfo): Promise<SandboxCloud> {
  const { config } = app;
  const instanceIds = Object.fromEntries(config.members.map((m) => [m.name, m.instanceId]));
  return SandboxCloud.create({
    sandbox,
    clusterName: config.clusterName,
    tagKeys: { cluster: config.clusterTagKey, spare: config.spareTagKey },
    etcdGroupId: config.etcdSecurityGroupId,
    instanceIds,
    region: config.region,
    account: config.account,
  });
}

/**
 * The example configuration with its cluster-specific fields naming the sandbox's hosts; with the ansible
 * add method, the deployment's default, with the installer host (master-0) named by its instance ID.
 */
export async function rehearsalConfig(
  sandbox: SandboxInfo,
  replacement: string,
  graceSeconds: number,
  addMethod: AddMethod = 'manual',
): Promise<ExampleConfig> {
  const example = JSON.parse(await readFile(EXAMPLE_CONFIG, 'utf8')) as ExampleConfig;
  const { $schema: _schema, ...config } = example;
  const spare = sandbox.hosts.find((h) => h.name === replacement);
  if (!spare) throw new Error(`the sandbox has no host ${replacement}`);
  const byName = new Map(example.members.map((m) => [m.name, m.instanceId]));
  const members = sandbox.hosts
    .filter((h) => h.roles.includes('etcd'))
    .map((h) => ({ name: h.name, hostname: h.hostname, ip: h.ip, instanceId: byName.get(h.name) ?? `i-${randomBytes(9).toString('hex').slice(0, 17)}` }));
  const installer = sandbox.hosts.find((h) => h.roles.includes('installer'));
  const installerId = members.find((m) => m.name === installer?.name)?.instanceId;
  if (addMethod === 'ansible' && !installerId) throw new Error('the sandbox has no installer host among its members');
  return {
    ...config,
    members,
    alarmReplacement: spare.hostname,
    alarmGraceSeconds: graceSeconds,
    // The restore's waiver, which the quorum-loss scenario's members never meet (one stopped, one running):
    // ChooseRestorePoint reads their instance states from EC2 and the approval is still asked.
    restore: { ...(config['restore'] as Record<string, unknown>), approvalWaivers: ['all-others-terminated'] },
    ...(addMethod === 'ansible' ? { defaultAddMethod: 'ansible', ansible: { installerInstanceId: installerId } } : {}),
  };
}

/** `cdk synth` of the project's app, offline, into `outdir`. */
export async function synth(configFile: string, outdir: string): Promise<void> {
  const cdk = join(PROJECT_ROOT, 'node_modules/.bin/cdk');
  const args = ['synth', '--quiet', '--no-notices', '-c', `etcdReplaceConfig=${configFile}`, '-o', outdir];
  const output: string[] = [];
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(cdk, args, {
      cwd: PROJECT_ROOT,
      env: { ...process.env, CDK_DISABLE_VERSION_CHECK: 'true', CDK_DISABLE_CLI_TELEMETRY: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (c: Buffer) => output.push(c.toString()));
    child.stderr.on('data', (c: Buffer) => output.push(c.toString()));
    child.on('error', reject);
    child.on('close', (c) => resolve(c ?? 1));
  });
  if (code !== 0) throw new Error(`cdk ${args.join(' ')} exited ${code}:\n${output.join('').slice(-4000)}`);
}

function listen(server: Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port));
  });
}

/** EventBridge for the template's rules: targets are the state machine (through the rule's role) or a function. */
class EventBus {
  readonly deliveries: Delivery[] = [];
  readonly #pending = new Set<Promise<void>>();

  constructor(
    private readonly rules: Rule[],
    private readonly deps: {
      stack: SynthesizedStack;
      roles: Role[];
      iam: IamCheck;
      lambdas: LambdaService;
      startExecution: (input: string, rule: Rule, role: Role) => Promise<void>;
      retryDelayMs: number;
      maxRetries: number;
      /** From an event's arrival to a target's first delivery attempt (latency.ts). */
      deliveryMs: number;
    },
  ) {}

  put(event: Record<string, Json>): void {
    for (const rule of this.rules) {
      if (!matchesPattern(rule.eventPattern, event)) continue;
      for (const target of rule.targets) {
        const delivery = this.#deliver(rule, target, event).finally(() => this.#pending.delete(delivery));
        this.#pending.add(delivery);
      }
    }
  }

  async #deliver(rule: Rule, target: Rule['targets'][number], event: Record<string, Json>): Promise<void> {
    const detail = (event['detail'] ?? {}) as Record<string, Json>;
    const record: Delivery = {
      rule: rule.logicalId,
      target: target.arn.split(':').at(-1) ?? target.arn,
      detailType: String(event['detail-type']),
      ...(typeof detail['status'] === 'string' ? { status: detail['status'] } : {}),
      attempts: 0,
      ok: false,
    };
    this.deliveries.push(record);
    const input = target.inputTransformer ? transformInput(event, target.inputTransformer) : (target.input ?? JSON.stringify(event));
    const { stack, lambdas, iam, roles } = this.deps;
    await delay(this.deps.deliveryMs);
    for (let attempt = 0; attempt <= Math.min(target.maximumRetryAttempts, this.deps.maxRetries); attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, this.deps.retryDelayMs * attempt));
      record.attempts++;
      try {
        if (target.arn.includes(':states:') && target.arn.includes(':stateMachine:')) {
          const role = roles.find((r) => r.arn === target.roleArn);
          if (!role) throw new Error(`rule ${rule.logicalId}: the target has no role`);
          const call = await iam.check({ caller: `events:${rule.name}`, role, action: 'states:StartExecution', resource: target.arn, via: 'service' });
          if (call.verdict !== 'Allowed') throw new Error(`AccessDenied: ${role.name} may not states:StartExecution on ${target.arn}`);
          await this.deps.startExecution(input, rule, role);
        } else {
          // EventBridge invokes a function under the function's resource policy (AWS::Lambda::Permission).
          const allowed = stack
            .lambdaPermissions()
            .some(
              (p) => p.functionArn === target.arn && p.principal === 'events.amazonaws.com' && p.action === 'lambda:InvokeFunction' && p.sourceArn === rule.arn,
            );
          iam.calls.push({
            caller: `events:${rule.name}`,
            role: 'events.amazonaws.com',
            action: 'lambda:InvokeFunction',
            resource: target.arn,
            verdict: allowed ? 'Allowed' : 'ImplicitlyDenied',
            via: 'service',
            context: { 'aws:SourceArn': rule.arn },
            detail: "the function's resource policy (AWS::Lambda::Permission)",
          });
          if (!allowed) throw new Error(`AccessDenied: no AWS::Lambda::Permission lets rule ${rule.name} invoke ${target.arn}`);
          const result = await lambdas.invoke(target.arn, JSON.parse(input) as unknown);
          if (result.functionError) throw new Error(`${result.errorType ?? 'Error'}: ${result.errorMessage ?? ''}`);
        }
        record.ok = true;
        delete record.error;
        return;
      } catch (error) {
        record.error = (error as Error).message;
      }
    }
  }

  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }
}

/** The event EC2 sends when an instance changes state (its documented shape). */
function instanceStateChange(config: ExampleConfig, instanceId: string, state: string, at: Date): Record<string, Json> {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'EC2 Instance State-change Notification',
    source: 'aws.ec2',
    account: config.account,
    time: at.toISOString().replace(/\.\d+Z$/, 'Z'),
    region: config.region,
    resources: [`arn:aws:ec2:${config.region}:${config.account}:instance/${instanceId}`],
    detail: { 'instance-id': instanceId, state },
  };
}

/** The event CloudWatch sends when the member alarm of `instanceId` goes from OK to ALARM, and its history item. */
function alarmStateChange(stack: SynthesizedStack, instanceId: string, at: Date): { event: Record<string, Json>; history: AwsFront['alarmHistory'][number] } {
  // The probe's member alarm (the stack also has an EC2 status-check alarm on the same instance).
  const alarm = stack
    .alarms()
    .find(
      (a) =>
        a.properties['MetricName'] === 'MemberHealthy' &&
        ((a.properties['Dimensions'] ?? []) as Array<{ Name: string; Value: string }>).some((d) => d.Name === 'InstanceId' && d.Value === instanceId),
    );
  if (!alarm) throw new Error(`the template has no member alarm for ${instanceId}`);
  const p = alarm.properties as {
    AlarmName: string;
    AlarmDescription?: string;
    MetricName: string;
    Namespace: string;
    Dimensions: Array<{ Name: string; Value: string }>;
    Period: number;
    Statistic: string;
    Threshold: number;
    EvaluationPeriods: number;
    DatapointsToAlarm?: number;
  };
  const n = p.DatapointsToAlarm ?? p.EvaluationPeriods;
  const points = Array.from({ length: n }, (_v, i) => new Date(at.getTime() - (i + 1) * p.Period * 1000));
  const reason = `Threshold Crossed: ${n} out of the last ${p.EvaluationPeriods} datapoints [${points.map((t) => `0.0 (${t.toISOString().slice(8, 16).replace('T', '/')})`).join(', ')}] were less than the threshold (${p.Threshold.toFixed(1)}) (minimum ${n} datapoints for OK -> ALARM transition).`;
  const reasonData = JSON.stringify({
    version: '1.0',
    queryDate: at.toISOString(),
    startDate: points.at(-1)!.toISOString(),
    statistic: p.Statistic,
    period: p.Period,
    recentDatapoints: points.map(() => 0),
    threshold: p.Threshold,
    evaluatedDatapoints: points.map((t) => ({ timestamp: t.toISOString(), sampleCount: 1, value: 0 })),
  });
  const timestamp = at.toISOString().replace('Z', '+0000');
  const previous = {
    value: 'OK',
    reason: 'Threshold Crossed: no datapoints were received for 3 periods and 3 missing datapoints were treated as [NonBreaching].',
    timestamp: new Date(at.getTime() - 3_600_000).toISOString().replace('Z', '+0000'),
  };
  const event: Record<string, Json> = alarmStateChangeEvent(stack, alarm.arn, at, {
    alarmName: p.AlarmName,
    state: { value: 'ALARM', reason, reasonData, timestamp },
    previousState: previous,
    configuration: {
      ...(p.AlarmDescription ? { description: p.AlarmDescription } : {}),
      metrics: [
        {
          id: randomBytes(16).toString('hex'),
          metricStat: {
            metric: { namespace: p.Namespace, name: p.MetricName, dimensions: Object.fromEntries(p.Dimensions.map((d) => [d.Name, d.Value])) },
            period: p.Period,
            stat: p.Statistic,
          },
          returnData: true,
        },
      ],
    },
  });
  const history = {
    AlarmName: p.AlarmName,
    AlarmType: 'MetricAlarm',
    Timestamp: at,
    HistoryItemType: 'StateUpdate',
    HistorySummary: 'Alarm updated from OK to ALARM',
    HistoryData: JSON.stringify({
      version: '1.0',
      oldState: { stateValue: 'OK', stateReason: previous.reason },
      newState: { stateValue: 'ALARM', stateReason: reason, stateReasonData: JSON.parse(reasonData) as Json },
    }),
  };
  return { event, history };
}

/**
 * Rehearses the replacement of `failed` (powered off already) by `replacement` through the synthesized
 * stack. Everything it starts is stopped before it returns or throws; the sandbox is the caller's.
 */
export async function rehearse(options: RehearsalOptions): Promise<Rehearsal> {
  const log = options.log ?? (() => {});
  const { sandbox } = options;
  const work = await mkdtemp(join(tmpdir(), 'etcd-replace-rehearsal-'));
  const cleanups: Array<() => Promise<unknown>> = [() => rm(work, { recursive: true, force: true })];
  try {
    // 1. Synthesize (or the caller's app) ----------------------------------------------------------
    let app = options.app;
    if (!app) {
      if (!options.replacement) throw new Error('rehearse: a replacement for the configuration, or an app synthesized with one');
      app = await synthesizeApp(sandbox, options.replacement, options.graceSeconds ?? 5, log, options.addMethod ?? 'manual');
      cleanups.push(app.close);
    }
    const { config, stack, synthSeconds } = app;
    // A replacement's run does not start the restore's step functions (WORKFLOW=restore-quorum).
    const quorumLoss = options.trigger === 'quorum-lost';
    const functions = stack.functions().filter((f) => quorumLoss || f.environment['WORKFLOW'] === undefined);
    const operator = quorumLoss ? operatorOf(stack) : undefined;
    const roles = stack.roles();
    const machine = stack.stateMachine();

    // 2. Services ----------------------------------------------------------------------------------
    // The step function: the one the state machine's tasks invoke.
    const definition = JSON.stringify(machine.definition);
    const stepEnv = functions.find((f) => definition.includes(f.arn))!.environment;
    const tableName = stepEnv['TABLE']!;
    const bucketName = stepEnv['BUCKET']!;
    const table = stack.only('AWS::DynamoDB::Table');
    const tableProps = table.properties as unknown as Omit<CreateTableCommandInput, 'KeySchema' | 'GlobalSecondaryIndexes'> & {
      GlobalSecondaryIndexes?: Array<{ IndexName: string; KeySchema: Array<{ AttributeName: string; KeyType: string }> }>;
      KeySchema: Array<{ AttributeName: string; KeyType: string }>;
    };
    const dynamo = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    const dynamoPort = await listen(dynamo, '127.0.0.1');
    cleanups.push(() => new Promise((resolve) => dynamo.close(resolve)));
    const admin = { region: config.region, credentials: { accessKeyId: S3RVER_KEY, secretAccessKey: S3RVER_KEY } };
    const dynamoAdmin = new DynamoDBClient({ ...admin, endpoint: `http://127.0.0.1:${dynamoPort}` });
    await dynamoAdmin.send(
      new CreateTableCommand({
        TableName: tableName,
        KeySchema: tableProps.KeySchema,
        AttributeDefinitions: tableProps.AttributeDefinitions,
        BillingMode: tableProps.BillingMode,
        ...(tableProps.GlobalSecondaryIndexes ? { GlobalSecondaryIndexes: tableProps.GlobalSecondaryIndexes } : {}),
      } as CreateTableCommandInput),
    );
    const doc = DynamoDBDocumentClient.from(dynamoAdmin);

    const s3dir = join(work, 's3');
    await mkdir(s3dir);
    const s3rver = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: s3dir, configureBuckets: [{ name: bucketName, configs: [] }] });
    const s3Port = (await s3rver.run()).port;
    cleanups.push(() => s3rver.close());
    const s3Admin = new S3Client({ ...admin, endpoint: `http://127.0.0.1:${s3Port}`, forcePathStyle: true });

    const latency = options.latency ?? AWS_LATENCY;
    const cloud = options.cloud ?? (await rehearsalCloud(app, sandbox));
    cloud.latency = latency;
    if (cloud.sandbox.name !== sandbox.name) throw new Error(`the cloud is sandbox ${cloud.sandbox.name}'s, not ${sandbox.name}'s`);
    const commandsFrom = cloud.invocations.length;
    const ingressFrom = cloud.ingressChanges.length;
    const iam = new IamCheck(config.account);
    const lambdas = new LambdaService(functions, { region: config.region, endpointUrl: '', node: lambdaNode(), latency });
    cleanups.push(() => lambdas.close());
    // s3rver knows the accounts whose access keys it accepts; each function's role session is one.
    const account = (createRequire(import.meta.url)('s3rver/lib/models/account.js') as { DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void } })
      .DUMMY_ACCOUNT;
    for (const fn of functions) {
      const c = lambdas.credentialsOf(fn.name);
      account.createKeyPair(c.accessKeyId, c.secretAccessKey);
    }
    const key = stack.only('AWS::KMS::Key');
    const keyArn = stack.getAtt(key.logicalId, 'Arn');
    const bucket = stack.bucket(bucketName);
    const notifier = functions.find((f) => f.environment['TOPIC_ARN'])!;
    const topicArn = notifier.environment['TOPIC_ARN']!;
    const topic = stack.only('AWS::SNS::Topic');
    const front = new AwsFront({
      host: sandbox.gateway,
      latency,
      account: config.account,
      region: config.region,
      lambdas,
      roles,
      iam,
      cloud,
      dynamo: {
        port: dynamoPort,
        tableName,
        tableArn: stack.getAtt(table.logicalId, 'Arn'),
        partitionKey: tableProps.KeySchema.find((k) => k.KeyType === 'HASH')!.AttributeName,
        indexPartitionKeys: Object.fromEntries(
          (tableProps.GlobalSecondaryIndexes ?? []).map((i) => [i.IndexName, i.KeySchema.find((k) => k.KeyType === 'HASH')!.AttributeName]),
        ),
      },
      s3: {
        port: s3Port,
        bucket: bucketName,
        bucketArn: bucket.arn,
        keyArn,
        bucketPolicy: stack.resourcePolicy('AWS::S3::BucketPolicy', bucketName),
        admin: s3Admin,
      },
      keyPolicy: key.properties['KeyPolicy'] as unknown as PolicyDocument,
      sns: { topicArn, keyArn: topic.properties['KmsMasterKeyId'] ? keyArn : undefined, topicPolicy: stack.resourcePolicy('AWS::SNS::TopicPolicy', topicArn) },
      ...(operator ? { people: [operator] } : {}),
    });
    await front.start();
    cleanups.push(() => front.close());
    lambdas.runtime.endpointUrl = front.url;
    // Each function's process started and its code loaded before the event: a first invocation costs the model's cold start, not this machine's.
    const warmStart = Date.now();
    await lambdas.prewarm();
    log(`${functions.length} Lambda environments started in ${((Date.now() - warmStart) / 1000).toFixed(0)} s (before the event)`);
    log(`AWS endpoint ${front.url} (DynamoDB: dynalite :${dynamoPort}, S3: s3rver :${s3Port}, bucket ${bucketName})`);

    // 3. The alarm, the rules, the execution --------------------------------------------------------
    const machineRole = roles.find((r) => r.arn === machine.roleArn);
    if (!machineRole) throw new Error('the state machine has no role in the template');
    const statusEvent = (e: Execution): Record<string, Json> => ({
      version: '0',
      id: randomUUID(),
      'detail-type': 'Step Functions Execution Status Change',
      source: 'aws.states',
      account: config.account,
      time: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      region: config.region,
      resources: [e.executionArn],
      detail: {
        executionArn: e.executionArn,
        stateMachineArn: e.stateMachineArn,
        name: e.name,
        status: e.status,
        startDate: e.startDate,
        stopDate: e.stopDate ?? null,
        input: e.input,
        output: e.output ?? null,
        inputDetails: { included: true },
        outputDetails: e.output !== undefined ? { included: true } : null,
        error: e.error ?? null,
        cause: e.cause ?? null,
        redriveCount: 0,
        redriveDate: null,
        redriveStatus: e.status === 'RUNNING' || e.status === 'SUCCEEDED' ? 'NOT_REDRIVABLE' : 'REDRIVABLE',
        redriveStatusReason: e.status === 'RUNNING' ? 'Execution is RUNNING and cannot be redriven' : null,
      },
    });
    const sfn = new StepFunctionsService(
      { ...machine, definition: machine.definition as Record<string, unknown> },
      machineRole,
      lambdas,
      iam,
      config.region,
      (e) => bus.put(statusEvent(e)),
    );
    front.sfn = sfn;
    const restore = quorumLoss ? restoreStateMachine(stack, roles, lambdas, iam, cloud, tableName, (e) => bus.put(statusEvent(e))) : undefined;
    if (restore) front.otherStateMachines.push(restore);
    let execution: Execution | undefined;
    /** The run's execution (the first started) and the CloudTrail record of its StartExecution, which EventBridge also gets (the AuditStartedBy rule). */
    const recordStart = (started: Execution, role: Role, session: string, invokedBy?: string) => {
      execution ??= started;
      const eventTime = new Date(started.startDate);
      const document = {
        eventVersion: '1.09',
        userIdentity: {
          type: 'AssumedRole',
          principalId: `AROA${randomBytes(8).toString('hex').toUpperCase()}:${session}`,
          arn: `arn:aws:sts::${config.account}:assumed-role/${role.name}/${session}`,
          accountId: config.account,
          sessionContext: {
            sessionIssuer: { type: 'Role', principalId: 'AROA', arn: role.arn, accountId: config.account, userName: role.name },
            attributes: { creationDate: eventTime.toISOString(), mfaAuthenticated: 'false' },
          },
          ...(invokedBy ? { invokedBy } : {}),
        },
        eventTime: eventTime.toISOString().replace(/\.\d+Z$/, 'Z'),
        eventSource: 'states.amazonaws.com',
        eventName: 'StartExecution',
        awsRegion: config.region,
        sourceIPAddress: invokedBy ?? '3.248.0.10',
        userAgent: invokedBy ?? 'aws-sdk-js/3 ua/2.1 os/linux lang/js md/nodejs#22 api/sfn exec-env/AWS_Lambda_nodejs22.x',
        requestParameters: { stateMachineArn: started.stateMachineArn, input: 'HIDDEN_DUE_TO_SECURITY_REASONS' },
        responseElements: { executionArn: started.executionArn, startDate: eventTime.toUTCString() },
        requestID: randomUUID(),
        eventID: randomUUID(),
        readOnly: false,
        eventType: 'AwsApiCall',
        managementEvent: true,
        recipientAccountId: config.account,
        eventCategory: 'Management',
      };
      front.cloudTrail.push({
        eventId: document.eventID,
        eventName: 'StartExecution',
        eventSource: 'states.amazonaws.com',
        eventTime,
        username: session,
        document,
      });
      bus.put({
        version: '0',
        id: randomUUID(),
        'detail-type': 'AWS API Call via CloudTrail',
        source: 'aws.states',
        account: config.account,
        time: document.eventTime,
        region: config.region,
        resources: [],
        detail: document as unknown as Json,
      });
    };
    const bus: EventBus = new EventBus(stack.rules(), {
      stack,
      roles,
      iam,
      lambdas,
      retryDelayMs: 2000,
      maxRetries: 2,
      deliveryMs: latency.eventBridgeMs,
      startExecution: async (input, rule, role) => {
        // The state machine the rule's target names: the replacement's, or the restore's.
        const target = restore && rule.targets.some((t) => t.arn === restore.stateMachineArn) ? restore : sfn;
        const started = target.start(input);
        recordStart(started, role, `${randomBytes(16).toString('hex')}`, 'events.amazonaws.com');
        log(`${rule.logicalId}: ${role.name} started ${started.executionArn}`);
      },
    });
    // A function that starts an execution itself (the EC2 signal function): its role's session.
    front.onExecutionStarted = (started, call) => {
      recordStart(started, call.role, call.caller);
      log(`${call.caller}: ${call.role.name} started ${started.executionArn}`);
    };
    const failedId = cloud.idOf(options.failed);
    const trigger = options.trigger ?? 'alarm';
    log(`Lambda functions on ${lambdas.node}`);
    let t0: number;
    let approved: Promise<number | null> | undefined;
    if (trigger === 'quorum-lost') {
      if (!restore || !operator) throw new Error('quorum-lost: no restore state machine');
      // master-2 is powered off; master-1 runs but reaches nothing: one member of three answers.
      await failHost(sandbox.name, PARTITIONED, 'partition');
      log(`sandbox fail ${PARTITIONED} (partitioned): quorum lost`);
      t0 = Date.now();
      const quorumLost = quorumLostEvent(stack, new Date());
      front.alarmHistory.push(quorumLost.history);
      bus.put(quorumLost.event as Record<string, Json>);
      approved = approveWhenAsked({
        restore,
        execution: () => execution,
        endpoint: front.url,
        region: config.region,
        operator,
        published: () => front.published,
        log,
      });
    } else if (trigger === 'alarm') {
      const alarm = alarmStateChange(stack, failedId, new Date());
      front.alarmHistory.push(alarm.history);
      log(`${alarm.history.AlarmName}: OK -> ALARM`);
      t0 = Date.now();
      bus.put(alarm.event);
    } else {
      const state = options.state ?? 'stopped';
      if (state === 'terminated') cloud.terminated.add(failedId);
      log(`${failedId} (${options.failed}): EC2 Instance State-change Notification, ${state}`);
      t0 = Date.now();
      bus.put(instanceStateChange(config, failedId, state, new Date()));
    }
    await bus.idle();
    if (!execution) throw new Error(`no rule started an execution: ${JSON.stringify(bus.deliveries)}`);
    const started: Execution = execution;
    await started.done;
    const approval = approved ? await approved : undefined;
    if (approval !== undefined) log(`approval: ${approval === null ? 'never asked' : `etcd-replace approve exited ${approval}`}`);
    await bus.idle();
    const runSeconds = (Date.now() - t0) / 1000;

    // 4. What it left -------------------------------------------------------------------------------
    const runId = runIdFromExecutionName(started.name);
    const item = (await doc.send(new GetCommand({ TableName: tableName, Key: { pk: `run#${runId}`, sk: 'run' } }))).Item as Record<string, unknown> | undefined;
    const auditRecord = typeof item?.['record'] === 'string' ? (JSON.parse(item['record']) as Record<string, unknown>) : undefined;
    const lockItem = (await doc.send(new GetCommand({ TableName: tableName, Key: lockKey(config.clusterName) }))).Item as Record<string, unknown> | undefined;
    const listed = await s3Admin.send(new ListObjectsV2Command({ Bucket: bucketName }));
    const bucketObjects = (listed.Contents ?? []).map((o) => ({ key: o.Key ?? '', size: o.Size ?? 0 }));
    const roleLabel = (name: string) => roles.find((r) => r.name === name)?.logicalId.replace(/[0-9A-F]{8}$/, '') ?? name;
    return {
      config,
      stack,
      failed: options.failed,
      trigger,
      ...(trigger === 'ec2-state-change' ? { state: options.state ?? 'stopped' } : {}),
      latency,
      figures: awsFigures({ t0, execution: started, requests: front.requests, lambdas }),
      execution: started,
      runId,
      commands: cloud.invocations.slice(commandsFrom),
      ingressChanges: cloud.ingressChanges.slice(ingressFrom),
      lockItem,
      bucketObjects,
      lambdaNode: lambdas.node,
      lambdaRuntimes: lambdas.runtimes(),
      auditItem: item,
      auditRecord,
      notifications: front.published,
      deliveries: bus.deliveries,
      iam,
      front,
      cloud,
      lambdas,
      roleLabel,
      timings: { synthSeconds, runSeconds },
      ...(approval !== undefined ? { approval } : {}),
    };
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => log(`cleanup: ${String(error)}`));
  }
}
