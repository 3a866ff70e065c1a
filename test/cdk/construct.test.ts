// The construct on its own: put into a fresh App's stack of another name, as another CDK app would
// (through the package's `etcd-replace/cdk` export), and the configuration it is given: checked against
// lib/config.schema.json, unknown keys refused by name, and no cluster without a configuration.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildApp } from '../../lib/app.ts';
import { configFromContext, parseConfig } from '../../lib/config.ts';
import { PROJECT_ROOT } from '../../lib/etcd-replacement.ts';
import * as published from '../../lib/index.ts';

const EXAMPLE_CONFIG = join(PROJECT_ROOT, 'docs/etcd-replace.config.example.json');
const example = JSON.parse(readFileSync(EXAMPLE_CONFIG, 'utf8')) as Record<string, unknown>;

describe('Construct: EtcdReplacement', () => {
  let outdir: string;
  let template: Template;
  let app: App;
  let host: Stack;

  beforeAll(() => {
    outdir = mkdtempSync(join(tmpdir(), 'etcd-replace-construct-'));
    // Without bundling the functions and without CloudFormation's template validation, whose findings
    // never fail a synthesis: test/cdk/stack.test.ts loads the bundles and reads that validation's report.
    app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
    host = new Stack(app, 'PlatformStack', { env: { account: '111122223333', region: 'eu-central-1' } });
    const config = published.parseConfig({ ...example, clusterName: 'prod-a', tags: { team: 'platform' } });
    const replacement = new published.EtcdReplacement(host, 'EtcdReplacement', { config });
    expect(replacement.stateMachine).toBeDefined();
    app.synth();
    template = Template.fromStack(host);
  }, 180_000);

  afterAll(() => {
    rmSync(outdir, { recursive: true, force: true });
  });

  it('is exported as etcd-replace/cdk, the package.json export of lib/index.ts', () => {
    const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { exports: Record<string, string> };
    expect(pkg.exports['./cdk']).toBe('./lib/index.ts');
    expect(Object.keys(published)).toEqual(expect.arrayContaining(['EtcdReplacement', 'parseConfig', 'ReplacementStack', 'CONFIG_SCHEMA_FILE']));
  });

  it("synthesizes the whole replacement into another app's stack, named after its cluster", () => {
    // The replacement's, and the restore's beside it.
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 2);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineName: 'etcd-replace-prod-a' });
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineName: 'etcd-restore-prod-a' });
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'etcd-replace-prod-a' });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'etcd-replace-prod-a-run-refused' });
    template.hasResourceProperties('AWS::DynamoDB::Table', { TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true } });
    // The host stack's outputs are its own business: the construct adds none.
    expect(Object.keys(template.toJSON()['Outputs'] ?? {})).toEqual([]);
  });

  it('tags its resources with the cluster and the configured tags', () => {
    const functions = Object.values(template.findResources('AWS::Lambda::Function'));
    // The step function of each workflow, the audit recorder, the outcome notifier, the signal function, the probe.
    expect(functions.length).toBeGreaterThanOrEqual(6);
    for (const fn of functions) {
      expect((fn as { Properties: { Tags: unknown[] } }).Properties.Tags).toEqual(
        expect.arrayContaining([
          { Key: 'etcd-replace:cluster', Value: 'prod-a' },
          { Key: 'team', Value: 'platform' },
        ]),
      );
    }
  });

  it('passes cdk-nag AwsSolutions in the host app too', () => {
    const report = new AwsSolutionsChecks().validateScope(host);
    expect(report.violations.map((v) => v.ruleName)).toEqual([]);
  });
});

describe('Function: parseConfig (JSON Schema)', () => {
  it('refuses an unknown key, naming it and the key it was probably meant to be', () => {
    expect(() => parseConfig({ ...example, alarmMinute: 3 })).toThrow(/invalid alarmMinute: unknown key "alarmMinute" \(did you mean "alarmMinutes"\?\)/);
    expect(() => parseConfig({ ...example, members: [{ ...(example['members'] as object[])[0], instanceID: 'i-0a1b2c3d4e5f60710' }] })).toThrow(
      /members\[0\]\.instanceID: unknown key "instanceID" in members\[0\]/,
    );
  });

  it('refuses values of the wrong type or out of range, naming the field', () => {
    expect(() => parseConfig({ ...example, alarmMinutes: '3' })).toThrow(/invalid alarmMinutes: must be integer/);
    expect(() => parseConfig({ ...example, runRetentionDays: 30 })).toThrow(/invalid runRetentionDays: must be >= 91/);
    expect(() => parseConfig({ ...example, tags: { 'aws:owner': 'x' } })).toThrow(/tags/);
    expect(() => parseConfig({ ...example, account: '12345' })).toThrow(/invalid account/);
  });

  it('accepts the example, keeps its account, region and tags, and keeps records 400 days by default', () => {
    const config = parseConfig(example);
    expect(config).toMatchObject({
      clusterName: 'ocp311',
      account: '123456789012',
      region: 'eu-west-1',
      tags: { owner: 'platform-team' },
      runRetentionDays: 400,
    });
    const { runRetentionDays: _dropped, ...rest } = example;
    expect(parseConfig(rest).runRetentionDays).toBe(400);
  });

  it('has no default cluster: without a configuration the app refuses to synthesize', () => {
    expect(() => configFromContext(() => undefined)).toThrow(/no configuration: name the cluster's file with -c etcdReplaceConfig=FILE/);
    expect(() => buildApp(new App({ context: JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')).context as Record<string, unknown> }))).toThrow(
      /no configuration/,
    );
    expect(() => configFromContext((key) => (key === 'etcdReplaceConfig' ? join(PROJECT_ROOT, 'no-such-config.json') : undefined))).toThrow(/cannot read/);
  });

  it('binds the stack to the configured account and region', () => {
    const { stack } = buildApp(new App({ context: { etcdReplaceConfig: EXAMPLE_CONFIG, 'aws:cdk:bundling-stacks': [] } }));
    expect(stack.account).toBe('123456789012');
    expect(stack.region).toBe('eu-west-1');
    expect(stack.stackName).toBe('EtcdReplace-ocp311');
  });
});
