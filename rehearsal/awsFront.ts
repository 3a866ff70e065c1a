// The AWS endpoint the deployed functions' SDK clients talk to (AWS_ENDPOINT_URL), listening on the
// sandbox bridge's gateway so that the hosts reach it too, with the presigned S3 URLs the functions
// hand them. Every request is a real SDK request over HTTP: its SigV4 credential names the function
// (each has its own credentials, lambdaService.ts), so each call is checked against that function's
// role from the template (iam.ts) before it is served, and answered with AccessDenied when IAM would
// deny it.
//
// - DynamoDB: forwarded to dynalite, which holds the table made from the template's definition.
// - S3: forwarded to s3rver, which holds the bucket. The bucket's properties from the template that
//   s3rver does not model are applied here: default encryption (SSE-KMS with the stack's key: the
//   encryption headers on every object it answers for), and the versioned bucket's version listing
//   (s3rver keeps one version of an object, listed as S3 lists an object stored while versioning was
//   off, VersionId "null"; deleting that version deletes the object).
// - SSM, EC2: the sandbox hosts (hosts.ts). Step Functions: the execution (stepFunctions.ts).
//   CloudWatch (alarm history, metrics), SNS (Publish), CloudTrail (LookupEvents): small stores here.

import { randomUUID } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { ApiError, type IpRule, type SandboxCloud } from './hosts.ts';
import type { IamCheck } from './iam.ts';
import type { LambdaService } from './lambdaService.ts';
import { TaskTokenError, type Execution, type StepFunctionsService } from './stepFunctions.ts';
import { delay, type LatencyModel } from './latency.ts';
import type { PolicyDocument, Role } from './template.ts';

export interface Published {
  topicArn: string;
  subject: string;
  message: string;
  attributes: Record<string, string>;
  caller: string;
}

export interface CloudTrailRecord {
  eventId: string;
  eventName: string;
  eventSource: string;
  eventTime: Date;
  username: string;
  document: Record<string, unknown>;
}

export interface AlarmHistoryItem {
  AlarmName: string;
  AlarmType: string;
  Timestamp: Date;
  HistoryItemType: string;
  HistorySummary: string;
  HistoryData: string;
}

export interface FrontOptions {
  /** What each API call's round trip adds (latency.ts `apiMs`). */
  latency?: LatencyModel;
  host: string;
  account: string;
  region: string;
  lambdas: LambdaService;
  roles: Role[];
  iam: IamCheck;
  cloud: SandboxCloud;
  dynamo: { port: number; tableName: string; tableArn: string; partitionKey: string; indexPartitionKeys: Record<string, string> };
  s3: { port: number; bucket: string; bucketArn: string; keyArn: string; bucketPolicy?: PolicyDocument | undefined; admin: S3Client };
  sns: { topicArn: string; keyArn?: string | undefined; topicPolicy?: PolicyDocument | undefined };
  /** The stack key's key policy: KMS authorizes a call only where the key policy allows (or delegates to IAM). */
  keyPolicy?: PolicyDocument | undefined;
  /**
   * People calling with their own credentials (the operator who runs `etcd-replace approve`), each checked
   * against the policies of its role (the restore's approver policy: SynthesizedStack.managedPolicyRole).
   */
  people?: Array<{ accessKeyId: string; name: string; role: Role }>;
}

export interface Call {
  caller: string;
  role: Role;
}

interface Target {
  action: string;
  resource: string;
  context?: Record<string, string | string[]>;
  resourcePolicy?: PolicyDocument | undefined;
  via?: 'sdk' | 'presigned-url' | 'implied';
}

const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const el = (name: string, content: string | number | boolean | undefined) =>
  content === undefined ? '' : `<${name}>${typeof content === 'string' ? content : String(content)}</${name}>`;
const text = (name: string, value: string | undefined) => (value === undefined ? '' : el(name, xmlEscape(value)));
const items = (name: string, list: string[]) => `<${name}>${list.map((i) => `<item>${i}</item>`).join('')}</${name}>`;

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** `a.1.b=x&a.2.b=y` → a list of the members' maps. */
function queryList(form: URLSearchParams, prefix: string): Array<Map<string, string>> {
  const out = new Map<number, Map<string, string>>();
  for (const [key, value] of form) {
    if (!key.startsWith(`${prefix}.`)) continue;
    const rest = key.slice(prefix.length + 1);
    const dot = rest.indexOf('.');
    const index = Number(dot < 0 ? rest : rest.slice(0, dot));
    if (!out.has(index)) out.set(index, new Map());
    out.get(index)!.set(dot < 0 ? '' : rest.slice(dot + 1), value);
  }
  return [...out.entries()].sort((a, b) => a[0] - b[0]).map(([, m]) => m);
}

function subList(member: Map<string, string>, prefix: string): Array<Map<string, string>> {
  const form = new URLSearchParams();
  for (const [k, v] of member) if (k.startsWith(`${prefix}.`)) form.append(k, v);
  return queryList(form, prefix);
}

const seconds = (ms: number) => ms / 1000;

/** A resource's tags as the condition keys IAM evaluates (aws:ResourceTag/…, ec2:ResourceTag/…). */
const resourceTags = (tags: Record<string, string>): Record<string, string> =>
  Object.fromEntries(
    Object.entries(tags).flatMap(([k, v]) => [
      [`aws:ResourceTag/${k}`, v],
      [`ec2:ResourceTag/${k}`, v],
    ]),
  );

export class AwsFront {
  readonly options: FrontOptions;
  sfn?: StepFunctionsService;
  /** The stack's other state machines (the restore's): StartExecution by ARN, executions and task tokens of any. */
  readonly otherStateMachines: StepFunctionsService[] = [];
  /** Told of every execution a function started (StartExecution through this endpoint), with its caller. */
  onExecutionStarted?: (execution: Execution, call: Call) => void;
  readonly published: Published[] = [];
  readonly metricData: Array<{ namespace: string; data: unknown[]; caller: string }> = [];
  readonly alarmHistory: AlarmHistoryItem[] = [];
  /** Metric alarms put at run time (the EC2 signal function's status-check alarms), by name. */
  readonly metricAlarms = new Map<string, Record<string, unknown>>();
  readonly cloudTrail: CloudTrailRecord[] = [];
  /** Every request, in order: the caller, the operation and its HTTP status. */
  readonly requests: Array<{ caller: string; service: string; operation: string; status: number; at: number }> = [];
  #server: Server | null = null;

  constructor(options: FrontOptions) {
    this.options = options;
  }

  get url(): string {
    const address = this.#server?.address() as AddressInfo | null;
    if (!address) throw new Error('the AWS endpoint is not started');
    return `http://${this.options.host}:${address.port}`;
  }

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`rehearsal endpoint error: ${String((error as Error)?.stack ?? error)}`);
        } else res.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.#server!.once('error', reject);
      this.#server!.listen(0, this.options.host, resolve);
    });
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #caller(req: IncomingMessage, url: URL): (Call & { service: string; presigned: boolean }) | undefined {
    const auth = req.headers.authorization ?? '';
    let credential = /Credential=([^,\s]+)/.exec(auth)?.[1];
    const presigned = !credential && url.searchParams.has('X-Amz-Credential');
    if (presigned) credential = url.searchParams.get('X-Amz-Credential') ?? undefined;
    const [accessKeyId, , , service] = (credential ?? '').split('/');
    const person = this.options.people?.find((p) => p.accessKeyId === accessKeyId);
    if (person && service) return { caller: person.name, role: person.role, service, presigned };
    const fn = accessKeyId ? this.options.lambdas.byAccessKey(accessKeyId) : undefined;
    if (!fn || !service) return undefined;
    const role = this.options.roles.find((r) => r.logicalId === fn.roleLogicalId);
    if (!role) throw new Error(`${fn.name}: no role ${fn.roleLogicalId}`);
    return { caller: fn.name, role, service, presigned };
  }

  /** Checks every target; the first one IAM does not allow is the answer's AccessDenied. */
  async #authorize(call: Call, targets: Target[]): Promise<Target | undefined> {
    let denied: Target | undefined;
    for (const t of targets) {
      const resourcePolicy = t.resourcePolicy ?? (t.action.startsWith('kms:') ? this.options.keyPolicy : undefined);
      const checked = await this.options.iam.check({
        caller: call.caller,
        role: call.role,
        action: t.action,
        resource: t.resource,
        context: t.context ?? {},
        resourcePolicy,
        via: t.via ?? 'sdk',
      });
      if (checked.verdict !== 'Allowed') denied ??= t;
    }
    return denied;
  }

  #deniedMessage(call: Call, t: Target): string {
    return `User: arn:aws:sts::${this.options.account}:assumed-role/${call.role.name}/${call.caller} is not authorized to perform: ${t.action} on resource: ${t.resource} because no identity-based policy allows the ${t.action} action`;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://endpoint');
    const call = this.#caller(req, url);
    const body = await readBody(req);
    if (!call) {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ __type: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' }));
      return;
    }
    const record = (operation: string) => (status: number) =>
      this.requests.push({ caller: call.caller, service: call.service, operation, status, at: Date.now() });
    // The call's round trip on AWS (latency.ts); SSM's own time is the hosts' (hosts.ts).
    await delay(this.options.latency?.apiMs ?? 0);
    switch (call.service) {
      case 's3':
        return this.#s3(req, res, url, body, call, record);
      case 'dynamodb':
        return this.#dynamo(req, res, body, call, record);
      case 'ec2':
      case 'sns':
        return this.#query(res, call, new URLSearchParams(body.toString('utf8')), record);
      default:
        return this.#json(req, res, call, body, record);
    }
  }

  // JSON protocols: SSM, Step Functions, CloudWatch, CloudTrail --------------------------------

  async #json(
    req: IncomingMessage,
    res: ServerResponse,
    call: Call & { service: string },
    raw: Buffer,
    record: (op: string) => (status: number) => void,
  ): Promise<void> {
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.slice(target.lastIndexOf('.') + 1);
    const done = record(operation);
    const contentType = String(req.headers['content-type'] ?? 'application/x-amz-json-1.1');
    const body = (req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
    const input = (body ? JSON.parse(body) : {}) as Record<string, unknown>;
    const send = (status: number, document: unknown, headers: Record<string, string> = {}) => {
      done(status);
      res.writeHead(status, { 'content-type': contentType, 'x-amzn-requestid': randomUUID(), ...headers });
      res.end(JSON.stringify(document));
    };
    const error = (code: string, message: string, status = 400) =>
      send(
        status,
        { __type: code, message, Message: message },
        { 'x-amzn-errortype': code, ...(call.service === 'monitoring' ? { 'x-amzn-query-error': `${code};Sender` } : {}) },
      );
    try {
      const handled = await this.#jsonOperation(call.service, operation, input, call);
      if (!handled) return error('UnknownOperationException', `${call.service} ${operation} is not modelled by the rehearsal`);
      const denied = await this.#authorize(call, handled.targets);
      if (denied) return error('AccessDeniedException', this.#deniedMessage(call, denied));
      send(200, await handled.answer());
    } catch (e) {
      if (e instanceof ApiError) return error(e.code, e.message, e.status);
      throw e;
    }
  }

  async #jsonOperation(
    service: string,
    operation: string,
    input: Record<string, unknown>,
    call: Call,
  ): Promise<{ targets: Target[]; answer: () => Promise<unknown> | unknown } | undefined> {
    const { account, region, cloud } = this.options;
    const str = (v: unknown) => (typeof v === 'string' ? v : '');
    if (service === 'ssm') {
      switch (operation) {
        case 'SendCommand': {
          const ids = (input['InstanceIds'] as string[] | undefined) ?? [];
          const document = str(input['DocumentName']);
          const targets: Target[] = [{ action: 'ssm:SendCommand', resource: `arn:aws:ssm:${region}::document/${document}` }];
          for (const id of ids) {
            const instance = cloud.byId(id);
            const tags = instance?.tags ?? {};
            targets.push({
              action: 'ssm:SendCommand',
              resource: `arn:aws:ec2:${region}:${account}:instance/${id}`,
              context: Object.fromEntries(Object.entries(tags).map(([k, v]) => [`ssm:resourceTag/${k}`, v])),
            });
          }
          return {
            targets,
            answer: async () => {
              if (document !== 'AWS-RunShellScript') throw new ApiError('InvalidDocument', `Document ${document} does not exist in your account`);
              if (ids.length !== 1) throw new ApiError('InvalidInstanceId', 'the rehearsal runs a command on one instance at a time');
              const parameters = (input['Parameters'] ?? {}) as Record<string, string[]>;
              const commands = parameters['commands'] ?? [];
              if (commands.length === 0) throw new ApiError('InvalidParameters', 'commands is required');
              const invocation = await cloud.sendCommand({
                instanceId: ids[0]!,
                commands,
                executionTimeout: Number(parameters['executionTimeout']?.[0] ?? 3600),
                comment: str(input['Comment']),
                request: JSON.stringify(input),
              });
              return {
                Command: {
                  CommandId: invocation.commandId,
                  DocumentName: document,
                  Comment: invocation.comment,
                  InstanceIds: ids,
                  Parameters: parameters,
                  RequestedDateTime: seconds(invocation.requestedAt.getTime()),
                  Status: 'Pending',
                  StatusDetails: 'Pending',
                  TargetCount: 1,
                  CompletedCount: 0,
                  ErrorCount: 0,
                  DeliveryTimedOutCount: 0,
                },
              };
            },
          };
        }
        case 'GetCommandInvocation':
          return {
            targets: [{ action: 'ssm:GetCommandInvocation', resource: '*' }],
            answer: () => {
              const invocation = cloud.invocation(str(input['CommandId']), str(input['InstanceId']));
              const base = {
                CommandId: invocation.commandId,
                InstanceId: invocation.instanceId,
                Comment: invocation.comment,
                DocumentName: 'AWS-RunShellScript',
                PluginName: 'aws:runShellScript',
              };
              if (!invocation.answer)
                return { ...base, Status: 'InProgress', StatusDetails: 'InProgress', ResponseCode: -1, StandardOutputContent: '', StandardErrorContent: '' };
              return {
                ...base,
                ...invocation.answer,
                ExecutionStartDateTime: invocation.requestedAt.toISOString(),
                ExecutionEndDateTime: new Date().toISOString(),
              };
            },
          };
        case 'DescribeInstanceInformation': {
          const filters = [
            ...((input['Filters'] as Array<{ Key: string; Values: string[] }>) ?? []),
            ...((input['InstanceInformationFilterList'] as Array<{ key: string; valueSet: string[] }>) ?? []).map((f) => ({ Key: f.key, Values: f.valueSet })),
          ];
          const ids = filters.find((f) => f.Key === 'InstanceIds')?.Values;
          return {
            targets: [{ action: 'ssm:DescribeInstanceInformation', resource: '*' }],
            answer: async () => ({ InstanceInformationList: await cloud.instanceInformation(ids) }),
          };
        }
        case 'CancelCommand':
          return { targets: [{ action: 'ssm:CancelCommand', resource: '*' }], answer: () => ({}) };
        default:
          return undefined;
      }
    }
    if (service === 'states') {
      if (!this.sfn) throw new Error('Step Functions is not started');
      const machines = [this.sfn, ...this.otherStateMachines];
      const executionArn = str(input['executionArn']);
      const stateMachineArn = str(input['stateMachineArn']);
      // The state machine an ARN names (an execution's ARN names its state machine's name).
      const sfn =
        machines.find((m) => m.stateMachineArn === stateMachineArn) ??
        machines.find((m) => executionArn.startsWith(`${m.stateMachineArn.replace(':stateMachine:', ':execution:')}:`)) ??
        this.sfn;
      const execution = () => {
        const found = sfn.describe(executionArn);
        if (!found) throw new ApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
        return found;
      };
      // A task token names its task, not its state machine: IAM allows SendTask* on `*` only.
      const answerTask = (act: (m: StepFunctionsService, token: string) => void) => () => {
        const token = str(input['taskToken']);
        const owner = machines.find((m) => m.waiting().some((w) => w.token === token)) ?? machines.find((m) => m.knowsToken(token));
        try {
          act(owner ?? this.sfn!, token);
        } catch (e) {
          if (e instanceof TaskTokenError) throw new ApiError(e.code, e.message);
          throw e;
        }
        return {};
      };
      switch (operation) {
        case 'SendTaskSuccess':
          return {
            targets: [{ action: 'states:SendTaskSuccess', resource: '*' }],
            answer: answerTask((m, token) => m.sendTaskSuccess(token, str(input['output']))),
          };
        case 'SendTaskFailure':
          return {
            targets: [{ action: 'states:SendTaskFailure', resource: '*' }],
            answer: answerTask((m, token) => m.sendTaskFailure(token, str(input['error']), str(input['cause']))),
          };
        case 'SendTaskHeartbeat':
          return { targets: [{ action: 'states:SendTaskHeartbeat', resource: '*' }], answer: answerTask((m, token) => m.sendTaskHeartbeat(token)) };
        case 'ListTagsForResource': {
          const arn = str(input['resourceArn']);
          return {
            targets: [{ action: 'states:ListTagsForResource', resource: arn }],
            answer: () => {
              const found = machines.find((m) => m.stateMachineArn === arn);
              if (!found) throw new ApiError('ResourceNotFound', `Resource not found: '${arn}'`);
              return { tags: Object.entries(found.tags).map(([key, value]) => ({ key, value })) };
            },
          };
        }
        case 'StartExecution': {
          return {
            targets: [{ action: 'states:StartExecution', resource: stateMachineArn }],
            answer: () => {
              if (stateMachineArn !== sfn.stateMachineArn) throw new ApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${stateMachineArn}'`);
              let started: Execution;
              try {
                started = sfn.start(str(input['input']) || '{}', str(input['name']) || undefined);
              } catch (e) {
                if ((e as Error).name === 'ExecutionAlreadyExists') throw new ApiError('ExecutionAlreadyExists', (e as Error).message);
                throw e;
              }
              this.onExecutionStarted?.(started, call);
              return { executionArn: started.executionArn, startDate: seconds(started.startDate) };
            },
          };
        }
        case 'DescribeExecution':
          return {
            targets: [{ action: 'states:DescribeExecution', resource: executionArn }],
            answer: () => {
              const e = execution();
              return {
                executionArn: e.executionArn,
                stateMachineArn: e.stateMachineArn,
                name: e.name,
                status: e.status,
                startDate: seconds(e.startDate),
                ...(e.stopDate ? { stopDate: seconds(e.stopDate) } : {}),
                input: e.input,
                inputDetails: { included: true },
                ...(e.output !== undefined ? { output: e.output, outputDetails: { included: true } } : {}),
                ...(e.error !== undefined ? { error: e.error, cause: e.cause } : {}),
                redriveCount: 0,
                redriveStatus: e.status === 'RUNNING' || e.status === 'SUCCEEDED' ? 'NOT_REDRIVABLE' : 'REDRIVABLE',
              };
            },
          };
        case 'GetExecutionHistory':
          return {
            targets: [{ action: 'states:GetExecutionHistory', resource: executionArn }],
            answer: () => {
              const events = [...execution().history];
              if (input['reverseOrder'] === true) events.reverse();
              const start = Number(input['nextToken'] ?? 0);
              const size = Math.min(Number(input['maxResults'] ?? 100) || 100, 1000);
              const page = events.slice(start, start + size).map((e) => ({ ...e, timestamp: seconds(e.timestamp) }));
              return { events: page, ...(start + size < events.length ? { nextToken: String(start + size) } : {}) };
            },
          };
        default:
          return undefined;
      }
    }
    if (service === 'monitoring') {
      switch (operation) {
        case 'DescribeAlarmHistory': {
          const name = str(input['AlarmName']);
          return {
            targets: [{ action: 'cloudwatch:DescribeAlarmHistory', resource: `arn:aws:cloudwatch:${region}:${account}:alarm:${name}` }],
            answer: () => {
              const from = typeof input['StartDate'] === 'number' ? input['StartDate'] * 1000 : 0;
              const to = typeof input['EndDate'] === 'number' ? input['EndDate'] * 1000 : Number.MAX_SAFE_INTEGER;
              const list = this.alarmHistory
                .filter(
                  (i) =>
                    i.AlarmName === name &&
                    (!input['HistoryItemType'] || i.HistoryItemType === input['HistoryItemType']) &&
                    i.Timestamp.getTime() >= from &&
                    i.Timestamp.getTime() <= to,
                )
                .sort((a, b) => (input['ScanBy'] === 'TimestampAscending' ? 1 : -1) * (a.Timestamp.getTime() - b.Timestamp.getTime()));
              return { AlarmHistoryItems: list.map((i) => ({ ...i, Timestamp: seconds(i.Timestamp.getTime()) })) };
            },
          };
        }
        case 'DescribeAlarms': {
          const prefix = str(input['AlarmNamePrefix'] ?? '');
          return {
            targets: [{ action: 'cloudwatch:DescribeAlarms', resource: `arn:aws:cloudwatch:${region}:${account}:alarm:*` }],
            answer: () => ({ MetricAlarms: [...this.metricAlarms.values()].filter((a) => String(a['AlarmName']).startsWith(prefix)), CompositeAlarms: [] }),
          };
        }
        case 'PutMetricAlarm': {
          const name = str(input['AlarmName']);
          const actions = ['AlarmActions', 'OKActions', 'InsufficientDataActions'].flatMap((k) => (Array.isArray(input[k]) ? (input[k] as string[]) : []));
          return {
            targets: [
              {
                action: 'cloudwatch:PutMetricAlarm',
                resource: `arn:aws:cloudwatch:${region}:${account}:alarm:${name}`,
                context: actions.length > 0 ? { 'cloudwatch:AlarmActions': actions } : {},
              },
            ],
            answer: () => {
              this.metricAlarms.set(name, { ...input, AlarmArn: `arn:aws:cloudwatch:${region}:${account}:alarm:${name}`, StateValue: 'INSUFFICIENT_DATA' });
              return {};
            },
          };
        }
        case 'DeleteAlarms': {
          const names = Array.isArray(input['AlarmNames']) ? (input['AlarmNames'] as string[]) : [];
          return {
            targets: names.map((name) => ({ action: 'cloudwatch:DeleteAlarms', resource: `arn:aws:cloudwatch:${region}:${account}:alarm:${name}` })),
            answer: () => {
              for (const name of names) this.metricAlarms.delete(name);
              return {};
            },
          };
        }
        case 'PutMetricData':
          return {
            targets: [{ action: 'cloudwatch:PutMetricData', resource: '*', context: { 'cloudwatch:namespace': str(input['Namespace']) } }],
            answer: () => {
              this.metricData.push({ namespace: str(input['Namespace']), data: (input['MetricData'] as unknown[]) ?? [], caller: call.caller });
              return {};
            },
          };
        default:
          return undefined;
      }
    }
    if (service === 'cloudtrail' && operation === 'LookupEvents') {
      return {
        targets: [{ action: 'cloudtrail:LookupEvents', resource: '*' }],
        answer: () => {
          const attributes = (input['LookupAttributes'] as Array<{ AttributeKey: string; AttributeValue: string }>) ?? [];
          const from = typeof input['StartTime'] === 'number' ? input['StartTime'] * 1000 : 0;
          const to = typeof input['EndTime'] === 'number' ? input['EndTime'] * 1000 : Number.MAX_SAFE_INTEGER;
          const events = this.cloudTrail
            .filter((e) => e.eventTime.getTime() >= from && e.eventTime.getTime() <= to)
            .filter((e) =>
              attributes.every((a) =>
                a.AttributeKey === 'EventName'
                  ? e.eventName === a.AttributeValue
                  : a.AttributeKey === 'EventSource'
                    ? e.eventSource === a.AttributeValue
                    : true,
              ),
            )
            .map((e) => ({
              EventId: e.eventId,
              EventName: e.eventName,
              ReadOnly: 'false',
              EventTime: seconds(e.eventTime.getTime()),
              EventSource: e.eventSource,
              Username: e.username,
              Resources: [],
              CloudTrailEvent: JSON.stringify(e.document),
            }));
          return { Events: events };
        },
      };
    }
    return undefined;
  }

  // Query protocols: EC2, SNS ------------------------------------------------------------------

  async #query(res: ServerResponse, call: Call & { service: string }, form: URLSearchParams, record: (op: string) => (status: number) => void): Promise<void> {
    const action = form.get('Action') ?? '';
    const done = record(action);
    const requestId = randomUUID();
    const isEc2 = call.service === 'ec2';
    const send = (status: number, xml: string) => {
      done(status);
      res.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8', 'x-amzn-requestid': requestId });
      res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${xml}`);
    };
    const error = (code: string, message: string, status = 400) =>
      send(
        status,
        isEc2
          ? `<Response><Errors><Error>${text('Code', code)}${text('Message', message)}</Error></Errors>${text('RequestID', requestId)}</Response>`
          : `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>${text('Code', code)}${text('Message', message)}</Error>${text('RequestId', requestId)}</ErrorResponse>`,
      );
    try {
      const handled = isEc2 ? this.#ec2(action, form) : this.#sns(action, form, call);
      if (!handled) return error(isEc2 ? 'InvalidAction' : 'InvalidAction', `${call.service} ${action} is not modelled by the rehearsal`);
      const denied = await this.#authorize(call, handled.targets);
      if (denied)
        return error(
          isEc2 ? 'UnauthorizedOperation' : 'AuthorizationError',
          isEc2
            ? `You are not authorized to perform this operation. User: arn:aws:sts::${this.options.account}:assumed-role/${call.role.name}/${call.caller} is not authorized to perform: ${denied.action} on resource: ${denied.resource}`
            : this.#deniedMessage(call, denied),
          403,
        );
      const result = await handled.answer();
      const ns = isEc2 ? 'http://ec2.amazonaws.com/doc/2016-11-15/' : 'http://sns.amazonaws.com/doc/2010-03-31/';
      send(
        200,
        isEc2
          ? `<${action}Response xmlns="${ns}">${text('requestId', requestId)}${result}</${action}Response>`
          : `<${action}Response xmlns="${ns}"><${action}Result>${result}</${action}Result><ResponseMetadata>${text('RequestId', requestId)}</ResponseMetadata></${action}Response>`,
      );
    } catch (e) {
      if (e instanceof ApiError) return error(e.code, e.message, e.status);
      throw e;
    }
  }

  #ec2(action: string, form: URLSearchParams): { targets: Target[]; answer: () => Promise<string> | string } | undefined {
    const { account, region, cloud } = this.options;
    const tagSet = (tags: Record<string, string>) =>
      items(
        'tagSet',
        Object.entries(tags).map(([k, v]) => text('key', k) + text('value', v)),
      );
    const rulesOf = (groupId: string): IpRule[] =>
      queryList(form, 'IpPermissions')
        .flatMap((p) => {
          const pairs = [...subList(p, 'Groups'), ...subList(p, 'UserIdGroupPairs')];
          if (subList(p, 'IpRanges').length > 0 || subList(p, 'Ipv6Ranges').length > 0 || pairs.length === 0)
            throw new ApiError('InvalidParameterValue', 'the rehearsal models source-group rules only');
          return pairs.map((g) => ({
            protocol: p.get('IpProtocol') ?? 'tcp',
            fromPort: Number(p.get('FromPort')),
            toPort: Number(p.get('ToPort')),
            sourceGroup: g.get('GroupId') ?? '',
            ...(g.get('Description') ? { description: g.get('Description')! } : {}),
          }));
        })
        .map((r) => {
          if (!r.sourceGroup) throw new ApiError('MissingParameter', `a rule for ${groupId} names no source group`);
          return r;
        });
    switch (action) {
      case 'DescribeInstances':
        return {
          targets: [{ action: 'ec2:DescribeInstances', resource: '*' }],
          answer: async () => {
            const ids = queryList(form, 'InstanceId').map((m) => m.get('') ?? '');
            const filters = queryList(form, 'Filter').map((f) => ({ name: f.get('Name') ?? '', values: subList(f, 'Value').map((v) => v.get('') ?? '') }));
            const found = await cloud.describeInstances(ids, filters);
            const instances = found.map((i) =>
              [
                text('instanceId', i.id),
                text('imageId', 'ami-0rehearsal0000000'),
                `<instanceState>${el('code', i.state.code)}${text('name', i.state.name)}</instanceState>`,
                text('privateDnsName', `ip-${i.host.ip.replace(/\./g, '-')}.${region}.compute.internal`),
                text('instanceType', 'm5.xlarge'),
                text('launchTime', i.launchTime.toISOString()),
                text('privateIpAddress', i.host.ip),
                items(
                  'groupSet',
                  i.groups.map((g) => text('groupId', g) + text('groupName', g)),
                ),
                tagSet(i.tags),
                items('networkInterfaceSet', [
                  text('networkInterfaceId', `eni-${i.id.slice(2)}`) +
                    `<attachment>${el('deviceIndex', 0)}${text('status', 'attached')}</attachment>` +
                    text('privateIpAddress', i.host.ip) +
                    items(
                      'groupSet',
                      i.groups.map((g) => text('groupId', g) + text('groupName', g)),
                    ),
                ]),
              ].join(''),
            );
            return items(
              'reservationSet',
              instances.map((inst, n) => text('reservationId', `r-${String(n).padStart(17, '0')}`) + text('ownerId', account) + items('instancesSet', [inst])),
            );
          },
        };
      case 'CreateTags': {
        const ids = queryList(form, 'ResourceId').map((m) => m.get('') ?? '');
        const tags = queryList(form, 'Tag').map((t) => [t.get('Key') ?? '', t.get('Value') ?? ''] as const);
        return {
          targets: ids.map((id) => {
            const resourceTags = cloud.byId(id)?.tags ?? {};
            const context = Object.fromEntries(
              Object.entries(resourceTags).flatMap(([k, v]) => [
                [`aws:ResourceTag/${k}`, v],
                [`ec2:ResourceTag/${k}`, v],
              ]),
            );
            const requested = Object.fromEntries(tags.map(([k, v]) => [`aws:RequestTag/${k}`, v]));
            return {
              action: 'ec2:CreateTags',
              resource: `arn:aws:ec2:${region}:${account}:instance/${id}`,
              context: { ...context, ...requested, 'aws:TagKeys': tags.map(([k]) => k) },
            };
          }),
          answer: () => {
            for (const id of ids) {
              const instance = cloud.byId(id);
              if (!instance) throw new ApiError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
              for (const [k, v] of tags) instance.tags[k] = v;
            }
            return el('return', true);
          },
        };
      }
      case 'DescribeSecurityGroups':
        return {
          targets: [{ action: 'ec2:DescribeSecurityGroups', resource: '*' }],
          answer: () => {
            const ids = queryList(form, 'GroupId').map((m) => m.get('') ?? '');
            return items(
              'securityGroupInfo',
              cloud.describeSecurityGroups(ids).map(
                (g) =>
                  text('ownerId', account) +
                  text('groupId', g.groupId) +
                  text('groupName', g.groupId) +
                  text('groupDescription', g.tags['Name'] ?? '') +
                  items(
                    'ipPermissions',
                    g.rules.map(
                      (r) =>
                        text('ipProtocol', r.protocol) +
                        el('fromPort', r.fromPort) +
                        el('toPort', r.toPort) +
                        items('groups', [text('userId', account) + text('groupId', r.sourceGroup) + text('description', r.description)]) +
                        '<ipRanges/><ipv6Ranges/><prefixListIds/>',
                    ),
                  ) +
                  // A group the stack made with no outbound rule: the one rule that matches nothing (CDK's).
                  (g.noEgress
                    ? items('ipPermissionsEgress', [
                        text('ipProtocol', 'icmp') +
                          el('fromPort', 252) +
                          el('toPort', 86) +
                          '<groups/>' +
                          items('ipRanges', [text('cidrIp', '255.255.255.255/32') + text('description', 'Disallow all traffic')]),
                      ])
                    : '') +
                  tagSet(g.tags),
              ),
            );
          },
        };
      // The restore's network fence (functions/adapters/aws/ec2Fence.ts) and `fenceUnreachable: stop-instance`.
      case 'DescribeNetworkInterfaces':
        return {
          targets: [{ action: 'ec2:DescribeNetworkInterfaces', resource: '*' }],
          answer: () => {
            const ids = queryList(form, 'NetworkInterfaceId').map((m) => m.get('') ?? '');
            return items(
              'networkInterfaceSet',
              ids.map((eni) => {
                const instance = cloud.byInterface(eni);
                return (
                  text('networkInterfaceId', eni) +
                  text('status', 'in-use') +
                  text('privateIpAddress', instance.host.ip) +
                  `<attachment>${text('instanceId', instance.id)}${el('deviceIndex', 0)}${text('status', 'attached')}</attachment>` +
                  items(
                    'groupSet',
                    instance.groups.map((g) => text('groupId', g) + text('groupName', g)),
                  )
                );
              }),
            );
          },
        };
      case 'ModifyNetworkInterfaceAttribute': {
        const eni = form.get('NetworkInterfaceId') ?? '';
        const groups = queryList(form, 'SecurityGroupId').map((m) => m.get('') ?? '');
        const instance = cloud.byInterface(eni);
        return {
          // EC2 authorizes the interface, each group it is given, and the instance it is attached to.
          targets: [
            { action: 'ec2:ModifyNetworkInterfaceAttribute', resource: `arn:aws:ec2:${region}:${account}:network-interface/${eni}` },
            ...groups.map((g) => ({
              action: 'ec2:ModifyNetworkInterfaceAttribute',
              resource: `arn:aws:ec2:${region}:${account}:security-group/${g}`,
              context: resourceTags(cloud.groups.get(g)?.tags ?? {}),
            })),
            {
              action: 'ec2:ModifyNetworkInterfaceAttribute',
              resource: `arn:aws:ec2:${region}:${account}:instance/${instance.id}`,
              context: resourceTags(instance.tags),
            },
          ],
          answer: async () => {
            await cloud.setInterfaceGroups(eni, groups);
            return el('return', true);
          },
        };
      }
      case 'StopInstances': {
        const ids = queryList(form, 'InstanceId').map((m) => m.get('') ?? '');
        return {
          targets: ids.map((id) => ({
            action: 'ec2:StopInstances',
            resource: `arn:aws:ec2:${region}:${account}:instance/${id}`,
            context: resourceTags(cloud.byId(id)?.tags ?? {}),
          })),
          answer: async () => {
            const out = [];
            for (const id of ids) {
              const { previous } = await cloud.stopInstance(id);
              const current = previous.name === 'running' ? { code: 64, name: 'stopping' } : previous;
              out.push(
                text('instanceId', id) +
                  `<currentState>${el('code', current.code)}${text('name', current.name)}</currentState>` +
                  `<previousState>${el('code', previous.code)}${text('name', previous.name)}</previousState>`,
              );
            }
            return items('instancesSet', out);
          },
        };
      }
      case 'AuthorizeSecurityGroupIngress':
      case 'RevokeSecurityGroupIngress': {
        const groupId = form.get('GroupId') ?? '';
        const tags = cloud.groups.get(groupId)?.tags ?? {};
        const context = Object.fromEntries(
          Object.entries(tags).flatMap(([k, v]) => [
            [`aws:ResourceTag/${k}`, v],
            [`ec2:ResourceTag/${k}`, v],
          ]),
        );
        return {
          targets: [{ action: `ec2:${action}`, resource: `arn:aws:ec2:${region}:${account}:security-group/${groupId}`, context }],
          answer: async () => {
            const rules = rulesOf(groupId);
            if (action === 'AuthorizeSecurityGroupIngress') await cloud.authorize(groupId, rules);
            else await cloud.revoke(groupId, rules);
            return el('return', true);
          },
        };
      }
      default:
        return undefined;
    }
  }

  #sns(action: string, form: URLSearchParams, call: Call): { targets: Target[]; answer: () => string } | undefined {
    if (action !== 'Publish') return undefined;
    const { sns } = this.options;
    const topicArn = form.get('TopicArn') ?? '';
    const targets: Target[] = [{ action: 'sns:Publish', resource: topicArn, resourcePolicy: topicArn === sns.topicArn ? sns.topicPolicy : undefined }];
    // Publishing to a topic encrypted with a customer managed key needs the key, by the publisher's permissions.
    if (topicArn === sns.topicArn && sns.keyArn) {
      targets.push({ action: 'kms:GenerateDataKey', resource: sns.keyArn, via: 'implied' }, { action: 'kms:Decrypt', resource: sns.keyArn, via: 'implied' });
    }
    return {
      targets,
      answer: () => {
        if (topicArn !== sns.topicArn) throw new ApiError('NotFound', 'Topic does not exist', 404);
        const subject = form.get('Subject') ?? '';
        if (subject.length > 100 || /[^\x20-\x7e]/.test(subject)) throw new ApiError('InvalidParameter', 'Invalid parameter: Subject');
        const attributes = Object.fromEntries(queryList(form, 'MessageAttributes.entry').map((e) => [e.get('Name') ?? '', e.get('Value.StringValue') ?? '']));
        this.published.push({ topicArn, subject, message: form.get('Message') ?? '', attributes, caller: call.caller });
        return text('MessageId', randomUUID());
      },
    };
  }

  // DynamoDB: dynalite -------------------------------------------------------------------------

  async #dynamo(req: IncomingMessage, res: ServerResponse, body: Buffer, call: Call, record: (op: string) => (status: number) => void): Promise<void> {
    const { dynamo } = this.options;
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.slice(target.lastIndexOf('.') + 1);
    const done = record(operation);
    const input = JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>;
    const tableArn =
      input['TableName'] === dynamo.tableName
        ? dynamo.tableArn
        : `arn:aws:dynamodb:${this.options.region}:${this.options.account}:table/${String(input['TableName'])}`;
    const index = typeof input['IndexName'] === 'string' ? input['IndexName'] : undefined;
    const resource = index ? `${tableArn}/index/${index}` : tableArn;
    const leading = this.#leadingKeys(input, index);
    const denied = await this.#authorize(call, [
      { action: `dynamodb:${operation}`, resource, ...(leading.length ? { context: { 'dynamodb:LeadingKeys': leading } } : {}) },
    ]);
    if (denied) {
      done(400);
      res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': randomUUID() });
      res.end(JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#AccessDeniedException', message: this.#deniedMessage(call, denied) }));
      return;
    }
    await this.#forward(req, res, body, dynamo.port, req.url ?? '/', done);
  }

  /** The partition key values a request touches (what dynamodb:LeadingKeys holds). */
  #leadingKeys(input: Record<string, unknown>, index: string | undefined): string[] {
    const { dynamo } = this.options;
    const pk = index ? dynamo.indexPartitionKeys[index] : dynamo.partitionKey;
    if (!pk) return [];
    const value = (v: unknown) => (v && typeof v === 'object' ? String((v as Record<string, unknown>)['S'] ?? (v as Record<string, unknown>)['N'] ?? '') : '');
    const key = (input['Key'] ?? input['Item']) as Record<string, unknown> | undefined;
    if (key && pk in key) return [value(key[pk])];
    const expression = input['KeyConditionExpression'];
    if (typeof expression === 'string') {
      const names = (input['ExpressionAttributeNames'] ?? {}) as Record<string, string>;
      const values = (input['ExpressionAttributeValues'] ?? {}) as Record<string, unknown>;
      for (const part of expression.split(/\s+AND\s+/i)) {
        const m = /^\(?\s*([#\w]+)\s*=\s*(:\w+)\s*\)?$/.exec(part.trim());
        if (m && (names[m[1]!] ?? m[1]) === pk) return [value(values[m[2]!])];
      }
    }
    return [];
  }

  #forward(
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer,
    port: number,
    path: string,
    done: (status: number) => void,
    extraHeaders: (status: number) => Record<string, string> = () => ({}),
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const headers = { ...req.headers, host: `127.0.0.1:${port}`, 'content-length': String(body.length) };
      delete headers['transfer-encoding'];
      delete headers['expect'];
      const out = httpRequest({ host: '127.0.0.1', port, method: req.method, path, headers }, (answer) => {
        const status = answer.statusCode ?? 500;
        done(status);
        res.writeHead(status, { ...answer.headers, ...extraHeaders(status) });
        answer.pipe(res);
        answer.on('end', resolve);
        answer.on('error', reject);
      });
      out.on('error', reject);
      out.end(body);
    });
  }

  // S3: s3rver ---------------------------------------------------------------------------------

  async #s3(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    body: Buffer,
    call: Call & { presigned: boolean },
    record: (op: string) => (status: number) => void,
  ): Promise<void> {
    const { s3 } = this.options;
    const [, bucket = '', ...keyParts] = url.pathname.split('/');
    const key = decodeURIComponent(keyParts.join('/'));
    const q = url.searchParams;
    const objectArn = `arn:aws:s3:::${bucket}/${key}`;
    const bucketArn = `arn:aws:s3:::${bucket}`;
    const via = call.presigned ? ('presigned-url' as const) : ('sdk' as const);
    let operation: string;
    const targets: Target[] = [];
    const policy = bucket === s3.bucket ? s3.bucketPolicy : undefined;
    if (key && req.method === 'PUT' && !q.has('uploadId') && !q.has('partNumber') && !q.has('tagging') && !q.has('acl')) {
      operation = 'PutObject';
      targets.push(
        { action: 's3:PutObject', resource: objectArn, resourcePolicy: policy, via },
        { action: 'kms:GenerateDataKey', resource: s3.keyArn, via: 'implied' },
      );
    } else if (key && (req.method === 'GET' || req.method === 'HEAD') && ![...q.keys()].some((k) => !/^(x-amz-|x-id$|response-)/i.test(k))) {
      operation = req.method === 'GET' ? 'GetObject' : 'HeadObject';
      targets.push({ action: 's3:GetObject', resource: objectArn, resourcePolicy: policy, via });
      if (req.method === 'GET') targets.push({ action: 'kms:Decrypt', resource: s3.keyArn, via: 'implied' });
    } else if (key && req.method === 'DELETE' && !q.has('uploadId')) {
      operation = q.has('versionId') ? 'DeleteObjectVersion' : 'DeleteObject';
      targets.push({ action: `s3:${operation}`, resource: objectArn, resourcePolicy: policy, via });
    } else if (!key && req.method === 'GET' && q.has('versions')) {
      operation = 'ListObjectVersions';
      targets.push({
        action: 's3:ListBucketVersions',
        resource: bucketArn,
        context: q.has('prefix') ? { 's3:prefix': q.get('prefix')! } : {},
        resourcePolicy: policy,
        via,
      });
    } else if (!key && req.method === 'GET') {
      operation = 'ListObjects';
      targets.push({
        action: 's3:ListBucket',
        resource: bucketArn,
        context: q.has('prefix') ? { 's3:prefix': q.get('prefix')! } : {},
        resourcePolicy: policy,
        via,
      });
    } else {
      operation = `${req.method ?? '?'} ${url.pathname}?${[...q.keys()].join('&')}`;
    }
    const done = record(operation);
    const xmlError = (status: number, code: string, message: string) => {
      done(status);
      res.writeHead(status, { 'content-type': 'application/xml', 'x-amz-request-id': randomUUID() });
      res.end(
        req.method === 'HEAD'
          ? undefined
          : `<?xml version="1.0" encoding="UTF-8"?>\n<Error>${text('Code', code)}${text('Message', message)}${text('RequestId', randomUUID())}</Error>`,
      );
    };
    if (targets.length === 0) return xmlError(501, 'NotImplemented', `${operation} is not modelled by the rehearsal`);
    if (await this.#authorize(call, targets)) return xmlError(403, 'AccessDenied', 'Access Denied');
    if (bucket !== s3.bucket) return xmlError(404, 'NoSuchBucket', 'The specified bucket does not exist');

    if (operation === 'ListObjectVersions') {
      const prefix = q.get('prefix') ?? '';
      const listed = await s3.admin.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
      const versions = (listed.Contents ?? []).map(
        (o) =>
          `<Version>${text('Key', o.Key)}${text('VersionId', 'null')}${el('IsLatest', true)}${text('LastModified', o.LastModified?.toISOString())}${text('ETag', o.ETag)}${el('Size', o.Size ?? 0)}${text('StorageClass', 'STANDARD')}</Version>`,
      );
      done(200);
      res.writeHead(200, { 'content-type': 'application/xml', 'x-amz-request-id': randomUUID() });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?>\n<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${text('Name', bucket)}${text('Prefix', prefix)}<KeyMarker/><VersionIdMarker/>${el('MaxKeys', 1000)}${el('IsTruncated', false)}${versions.join('')}</ListVersionsResult>`,
      );
      return;
    }
    let path = `${url.pathname}${url.search}`;
    if (operation === 'DeleteObjectVersion') {
      if (q.get('versionId') !== 'null') return xmlError(404, 'NoSuchVersion', 'The specified version does not exist.');
      const rest = new URLSearchParams(q);
      rest.delete('versionId');
      path = `${url.pathname}${rest.size ? `?${rest}` : ''}`;
    }
    // The bucket's default encryption: S3 encrypts every object with the stack's key and says so.
    const encryption = (status: number): Record<string, string> =>
      status < 300 && ['PutObject', 'GetObject', 'HeadObject'].includes(operation)
        ? {
            'x-amz-server-side-encryption': 'aws:kms',
            'x-amz-server-side-encryption-aws-kms-key-id': s3.keyArn,
            'x-amz-server-side-encryption-bucket-key-enabled': 'true',
          }
        : {};
    await this.#forward(req, res, body, s3.port, path, done, encryption);
  }
}
