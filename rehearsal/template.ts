// The synthesized stack as a deploy would leave it: cdk.out's template with every CloudFormation
// intrinsic the stack uses (Ref, Fn::GetAtt, Fn::Join, Fn::Sub) resolved to physical names and ARNs in
// one account and region, the way CloudFormation names what the template leaves unnamed
// (`<stack>-<logicalId>-<suffix>`). From it: each Lambda function (its asset directory from the
// assets manifest, handler, environment, role, timeout), each role's policies, the state machine's
// definition with its substitutions, the EventBridge rules, the table, the bucket, the key and the topic.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export interface Resource {
  Type: string;
  Properties?: Record<string, Json>;
}

export interface LambdaFunction {
  logicalId: string;
  name: string;
  arn: string;
  /** The asset directory: what Lambda unpacks into /var/task. */
  assetDir: string;
  /** `index.handler` → index.js, export handler. */
  handler: string;
  environment: Record<string, string>;
  roleLogicalId: string;
  timeoutSeconds: number;
  memorySize: number;
}

export interface Role {
  logicalId: string;
  name: string;
  arn: string;
  /** Inline and attached policies, resolved. */
  policies: Array<{ name: string; document: PolicyDocument }>;
}

export interface PolicyDocument {
  Version?: string;
  Statement: Array<Record<string, Json>>;
}

export interface Rule {
  logicalId: string;
  name: string;
  arn: string;
  eventPattern: Record<string, Json>;
  targets: Array<{
    arn: string;
    roleArn?: string;
    input?: string;
    inputPath?: string;
    inputTransformer?: { InputPathsMap?: Record<string, string>; InputTemplate: string };
    maximumRetryAttempts: number;
  }>;
}

const suffix = (logicalId: string) => createHash('sha256').update(logicalId).digest('hex').slice(0, 12).toUpperCase();

export class SynthesizedStack {
  readonly template: { Resources: Record<string, Resource> };
  readonly resources: Record<string, Resource>;
  readonly stackName: string;
  readonly account: string;
  readonly region: string;
  readonly partition = 'aws';
  readonly #assets: Record<string, string>;

  constructor(
    readonly outdir: string,
    stackName: string,
    env: { account: string; region: string },
  ) {
    this.stackName = stackName;
    this.account = env.account;
    this.region = env.region;
    this.template = JSON.parse(readFileSync(join(outdir, `${stackName}.template.json`), 'utf8')) as { Resources: Record<string, Resource> };
    this.resources = this.template.Resources;
    // The assets manifest maps each zip's object key (the Code's S3Key) to its directory in cdk.out.
    const manifest = JSON.parse(readFileSync(join(outdir, `${stackName}.assets.json`), 'utf8')) as {
      files: Record<string, { source: { path: string; packaging?: string }; destinations: Record<string, { objectKey: string }> }>;
    };
    this.#assets = {};
    for (const file of Object.values(manifest.files)) {
      for (const destination of Object.values(file.destinations)) this.#assets[destination.objectKey] = join(outdir, file.source.path);
    }
  }

  ofType(type: string): Array<[string, Resource]> {
    return Object.entries(this.resources).filter(([, r]) => r.Type === type);
  }

  #props(logicalId: string): Record<string, Json> {
    const resource = this.resources[logicalId];
    if (!resource) throw new Error(`the template has no resource ${logicalId}`);
    return resource.Properties ?? {};
  }

  /** The physical name CloudFormation gives a resource: its name property, else `<stack>-<logicalId>-<suffix>`. */
  physicalName(logicalId: string): string {
    const resource = this.resources[logicalId];
    if (!resource) throw new Error(`the template has no resource ${logicalId}`);
    const p = resource.Properties ?? {};
    const given = {
      'AWS::StepFunctions::StateMachine': 'StateMachineName',
      'AWS::CloudWatch::Alarm': 'AlarmName',
      'AWS::Logs::LogGroup': 'LogGroupName',
      'AWS::Lambda::Function': 'FunctionName',
      'AWS::IAM::Role': 'RoleName',
      'AWS::DynamoDB::Table': 'TableName',
      'AWS::S3::Bucket': 'BucketName',
      'AWS::Events::Rule': 'Name',
      'AWS::SNS::Topic': 'TopicName',
      'AWS::CloudWatch::Dashboard': 'DashboardName',
    }[resource.Type];
    if (given && p[given] !== undefined) return this.resolve(p[given]) as string;
    const name = `${this.stackName}-${logicalId.slice(0, 40)}-${suffix(logicalId)}`;
    return resource.Type === 'AWS::S3::Bucket' ? name.toLowerCase().slice(0, 63) : name.slice(0, 64);
  }

  #arn(service: string, resource: string, region = this.region, account = this.account): string {
    return `arn:${this.partition}:${service}:${region}:${account}:${resource}`;
  }

  /** What `Ref` returns for a resource. */
  ref(logicalId: string): string {
    const resource = this.resources[logicalId];
    if (!resource) {
      const pseudo: Record<string, string> = {
        'AWS::Partition': this.partition,
        'AWS::Region': this.region,
        'AWS::AccountId': this.account,
        'AWS::StackName': this.stackName,
        'AWS::URLSuffix': 'amazonaws.com',
      };
      if (pseudo[logicalId] !== undefined) return pseudo[logicalId];
      throw new Error(`Ref to unknown ${logicalId}`);
    }
    switch (resource.Type) {
      case 'AWS::StepFunctions::StateMachine':
        return this.#arn('states', `stateMachine:${this.physicalName(logicalId)}`);
      case 'AWS::SNS::Topic':
        return this.#arn('sns', this.physicalName(logicalId));
      case 'AWS::KMS::Key':
        return `${suffix(logicalId).toLowerCase().slice(0, 8)}-0000-4000-8000-${createHash('sha256').update(logicalId).digest('hex').slice(0, 12)}`;
      default:
        return this.physicalName(logicalId);
    }
  }

  /** What `Fn::GetAtt` returns. */
  getAtt(logicalId: string, attribute: string): string {
    const resource = this.resources[logicalId];
    if (!resource) throw new Error(`GetAtt of unknown ${logicalId}`);
    const name = this.physicalName(logicalId);
    const key = `${resource.Type}.${attribute}`;
    switch (key) {
      case 'AWS::Lambda::Function.Arn':
        return this.#arn('lambda', `function:${name}`);
      case 'AWS::IAM::Role.Arn':
        return `arn:${this.partition}:iam::${this.account}:role/${name}`;
      case 'AWS::DynamoDB::Table.Arn':
        return this.#arn('dynamodb', `table/${name}`);
      case 'AWS::S3::Bucket.Arn':
        return `arn:${this.partition}:s3:::${name}`;
      case 'AWS::KMS::Key.Arn':
        return this.#arn('kms', `key/${this.ref(logicalId)}`);
      case 'AWS::Logs::LogGroup.Arn':
        return this.#arn('logs', `log-group:${name}:*`);
      case 'AWS::Events::Rule.Arn':
        return this.#arn('events', `rule/${name}`);
      case 'AWS::CloudWatch::Alarm.Arn':
        return this.#arn('cloudwatch', `alarm:${name}`);
      case 'AWS::SNS::Topic.TopicName':
        return name;
      case 'AWS::SNS::Topic.TopicArn':
      case 'AWS::StepFunctions::StateMachine.Arn':
        return this.ref(logicalId);
      case 'AWS::StepFunctions::StateMachine.Name':
        return name;
      case 'AWS::EC2::SecurityGroup.GroupId':
        return `sg-${createHash('sha256').update(logicalId).digest('hex').slice(0, 17)}`;
      default:
        throw new Error(`Fn::GetAtt ${logicalId}.${attribute} (${resource.Type}) is not modelled`);
    }
  }

  /** Resolves the intrinsics of a template value. */
  resolve(value: Json): Json {
    if (Array.isArray(value)) return value.map((v) => this.resolve(v));
    if (value === null || typeof value !== 'object') return value;
    const keys = Object.keys(value);
    if (keys.length === 1) {
      const [fn] = keys as [string];
      const arg = value[fn] as Json;
      switch (fn) {
        case 'Ref':
          return this.ref(arg as string);
        case 'Fn::GetAtt': {
          const [id, attribute] = (Array.isArray(arg) ? arg : String(arg).split('.')) as [string, string];
          return this.getAtt(id, attribute);
        }
        case 'Fn::Join': {
          const [separator, parts] = arg as [string, Json[]];
          return (this.resolve(parts) as Json[]).map(String).join(separator);
        }
        case 'Fn::Sub': {
          const [text, vars] = (Array.isArray(arg) ? arg : [arg, {}]) as [string, Record<string, Json>];
          return text.replace(/\$\{([^}]+)\}/g, (_m, name: string) => {
            if (vars[name] !== undefined) return String(this.resolve(vars[name]));
            const [id, attribute] = name.split('.') as [string, string | undefined];
            return attribute ? this.getAtt(id, attribute) : this.ref(id);
          });
        }
        default:
          if (fn.startsWith('Fn::')) throw new Error(`${fn} is not modelled`);
      }
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.resolve(v)]));
  }

  functions(): LambdaFunction[] {
    return this.ofType('AWS::Lambda::Function').map(([logicalId]) => {
      const p = this.resolve(this.#props(logicalId)) as Record<string, Json> & {
        Code: { S3Key: string };
        Role: string;
        Handler: string;
        Environment?: { Variables: Record<string, string> };
        Timeout?: number;
        MemorySize?: number;
      };
      const assetDir = this.#assets[p.Code.S3Key];
      if (!assetDir) throw new Error(`${logicalId}: no asset for ${p.Code.S3Key} in the assets manifest`);
      const roleLogicalId = this.#logicalIdOfArn(p.Role, 'AWS::IAM::Role');
      return {
        logicalId,
        name: this.physicalName(logicalId),
        arn: this.getAtt(logicalId, 'Arn'),
        assetDir,
        handler: p.Handler,
        environment: p.Environment?.Variables ?? {},
        roleLogicalId,
        timeoutSeconds: p.Timeout ?? 3,
        memorySize: p.MemorySize ?? 128,
      };
    });
  }

  #logicalIdOfArn(arn: string, type: string): string {
    const found = this.ofType(type).find(([id]) => this.getAtt(id, 'Arn') === arn);
    if (!found) throw new Error(`no ${type} has the ARN ${arn}`);
    return found[0];
  }

  roles(): Role[] {
    const policies = this.ofType('AWS::IAM::Policy').map(
      ([, r]) => this.resolve(r.Properties ?? {}) as unknown as { PolicyName: string; PolicyDocument: PolicyDocument; Roles?: string[] },
    );
    return this.ofType('AWS::IAM::Role').map(([logicalId, r]) => {
      const name = this.physicalName(logicalId);
      const inline = ((this.resolve(r.Properties?.['Policies'] ?? []) as unknown as Array<{ PolicyName: string; PolicyDocument: PolicyDocument }>) ?? []).map(
        (p) => ({ name: p.PolicyName, document: p.PolicyDocument }),
      );
      const attached = policies.filter((p) => (p.Roles ?? []).includes(name)).map((p) => ({ name: p.PolicyName, document: p.PolicyDocument }));
      const managed = (this.resolve(r.Properties?.['ManagedPolicyArns'] ?? []) as string[]) ?? [];
      if (managed.length > 0) throw new Error(`${logicalId}: managed policies ${managed.join(', ')} are not modelled`);
      return { logicalId, name, arn: this.getAtt(logicalId, 'Arn'), policies: [...inline, ...attached] };
    });
  }

  /**
   * A managed policy the stack creates for people (the restore's approver policy), as the role of a
   * principal it is attached to: what the rehearsal checks that principal's calls against.
   */
  managedPolicyRole(logicalIdPrefix: string, principal: string): Role {
    const [entry, ...more] = this.ofType('AWS::IAM::ManagedPolicy').filter(([id]) => id.startsWith(logicalIdPrefix));
    if (!entry || more.length) throw new Error(`expected one managed policy ${logicalIdPrefix}`);
    const [logicalId, r] = entry;
    const document = this.resolve(r.Properties?.['PolicyDocument'] ?? {}) as unknown as PolicyDocument;
    return { logicalId, name: principal, arn: `arn:${this.partition}:iam::${this.account}:role/${principal}`, policies: [{ name: logicalId, document }] };
  }

  /** The resource policy a resource type's policy resource attaches (bucket policy, topic policy, key policy). */
  resourcePolicy(type: 'AWS::S3::BucketPolicy' | 'AWS::SNS::TopicPolicy', target: string): PolicyDocument | undefined {
    for (const [, r] of this.ofType(type)) {
      const p = this.resolve(r.Properties ?? {}) as unknown as { Bucket?: string; Topics?: string[]; PolicyDocument: PolicyDocument };
      if (p.Bucket === target || p.Topics?.includes(target)) return p.PolicyDocument;
    }
    return undefined;
  }

  /** A state machine by its logical ID's prefix: the replacement's (`StateMachine`), or the restore's (`RestoreStateMachine`). */
  stateMachine(logicalIdPrefix = 'StateMachine'): { logicalId: string; arn: string; name: string; roleArn: string; definition: Record<string, Json> } {
    const [entry, ...more] = this.ofType('AWS::StepFunctions::StateMachine').filter(([id]) => id.startsWith(logicalIdPrefix));
    if (!entry || more.length) throw new Error(`expected one state machine ${logicalIdPrefix}`);
    const [logicalId] = entry;
    const p = this.resolve(this.#props(logicalId)) as { DefinitionString: string; DefinitionSubstitutions?: Record<string, string>; RoleArn: string };
    // Step Functions substitutes ${key} in the definition with the resolved DefinitionSubstitutions.
    const text = p.DefinitionString.replace(/\$\{([A-Za-z0-9_]+)\}/g, (m, key: string) => p.DefinitionSubstitutions?.[key] ?? m);
    return {
      logicalId,
      arn: this.ref(logicalId),
      name: this.physicalName(logicalId),
      roleArn: p.RoleArn,
      definition: JSON.parse(text) as Record<string, Json>,
    };
  }

  rules(): Rule[] {
    return this.ofType('AWS::Events::Rule')
      .filter(([, r]) => r.Properties?.['EventPattern'] !== undefined && r.Properties?.['State'] !== 'DISABLED')
      .map(([logicalId]) => {
        const p = this.resolve(this.#props(logicalId)) as {
          EventPattern: Record<string, Json>;
          Targets?: Array<{
            Arn: string;
            RoleArn?: string;
            Input?: string;
            InputPath?: string;
            InputTransformer?: { InputPathsMap?: Record<string, string>; InputTemplate: string };
            RetryPolicy?: { MaximumRetryAttempts?: number };
          }>;
        };
        return {
          logicalId,
          name: this.physicalName(logicalId),
          arn: this.getAtt(logicalId, 'Arn'),
          eventPattern: p.EventPattern,
          targets: (p.Targets ?? []).map((t) => ({
            arn: t.Arn,
            ...(t.RoleArn ? { roleArn: t.RoleArn } : {}),
            ...(t.Input !== undefined ? { input: t.Input } : {}),
            ...(t.InputPath !== undefined ? { inputPath: t.InputPath } : {}),
            ...(t.InputTransformer ? { inputTransformer: t.InputTransformer } : {}),
            maximumRetryAttempts: t.RetryPolicy?.MaximumRetryAttempts ?? 185,
          })),
        };
      });
  }

  /** Lambda resource policies: which principal may invoke which function, from which source. */
  lambdaPermissions(): Array<{ functionArn: string; principal: string; action: string; sourceArn?: string }> {
    return this.ofType('AWS::Lambda::Permission').map(([id]) => {
      const p = this.resolve(this.#props(id)) as { FunctionName: string; Principal: string; Action: string; SourceArn?: string };
      return { functionArn: p.FunctionName, principal: p.Principal, action: p.Action, ...(p.SourceArn ? { sourceArn: p.SourceArn } : {}) };
    });
  }

  only(type: string): { logicalId: string; properties: Record<string, Json> } {
    const found = this.ofType(type);
    if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
    const [logicalId] = found[0]!;
    return { logicalId, properties: this.resolve(this.#props(logicalId)) as Record<string, Json> };
  }

  /** The bucket the step functions' BUCKET names (the artifact bucket), with its properties. */
  bucket(name: string): { logicalId: string; arn: string; properties: Record<string, Json> } {
    const found = this.ofType('AWS::S3::Bucket').find(([id]) => this.ref(id) === name);
    if (!found) throw new Error(`no bucket ${name}`);
    return { logicalId: found[0], arn: this.getAtt(found[0], 'Arn'), properties: this.resolve(this.#props(found[0])) as Record<string, Json> };
  }

  alarms(): Array<{ logicalId: string; arn: string; properties: Record<string, Json> }> {
    return this.ofType('AWS::CloudWatch::Alarm').map(([id]) => ({
      logicalId: id,
      arn: this.getAtt(id, 'Arn'),
      properties: this.resolve(this.#props(id)) as Record<string, Json>,
    }));
  }
}
