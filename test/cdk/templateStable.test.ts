// The synthesized template stays what it was: every resource's logical ID, type, properties and
// metadata, and the outputs, against a committed copy (test/cdk/fixtures/). Moving code inside lib/
// must not move a resource: a changed logical ID replaces the bucket, table or key of a deployment.
//
// Two configurations: the example (`npm run synth`), and a variant that takes the other branches
// (a pinned alarm replacement, launch template by name, SSM output to the bucket, no e-mail, no tags, the restore's existing
// quarantine group without StopInstances or its alarm). The Lambdas are not
// bundled, and asset hashes (which follow the sources of the whole package) are normalized.
// After a change to the template that is meant: UPDATE_TEMPLATE_FIXTURES=1 npx vitest run test/cdk/templateStable.test.ts

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../../lib/app.ts';
import { PROJECT_ROOT } from '../../lib/replacement-stack.ts';

const EXAMPLE_CONFIG = join(PROJECT_ROOT, 'docs/etcd-replace.config.example.json');
const FIXTURES = join(PROJECT_ROOT, 'test/cdk/fixtures');
const cdkContext = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;
const example = JSON.parse(readFileSync(EXAMPLE_CONFIG, 'utf8')) as Record<string, unknown>;

type CfnTemplate = { Resources: Record<string, Record<string, unknown>>; Outputs?: Record<string, unknown>; [section: string]: unknown };

const tmpDirs: string[] = [];
afterAll(() => {
  for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
});

/** Asset hashes (64 hex digits, in S3 keys and asset metadata) follow file contents, not the construct: one placeholder. */
function normalize(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(/[0-9a-f]{64}/g, '<asset-hash>');
  if (Array.isArray(value)) return value.map(normalize);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v)]));
  return value;
}

function synthesize(configFile: string): CfnTemplate {
  const outdir = mkdtempSync(join(tmpdir(), 'etcd-replace-template-'));
  tmpDirs.push(outdir);
  const context = { ...cdkContext, etcdReplaceConfig: configFile, 'aws:cdk:bundling-stacks': [] };
  const { app, stack } = buildApp(new App({ context, outdir }));
  app.synth();
  return normalize(Template.fromStack(stack).toJSON()) as CfnTemplate;
}

function variantConfigFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'etcd-replace-template-config-'));
  tmpDirs.push(dir);
  const file = join(dir, 'variant.json');
  const { notificationEmail: _email, tags: _tags, $schema: _schema, ...rest } = example;
  const variant = {
    ...rest,
    clusterName: 'ocp311b',
    // A pinned alarm replacement: the alarm rule's input names it.
    alarmReplacement: 'etcd-spare-0.ocp311b.example.internal',
    ssmOutputToBucket: true,
    replacementLaunchTemplate: { launchTemplateName: 'ocp311b-etcd', version: '3', subnetId: 'subnet-0123456789abcdef0' },
    defaultAddMethod: 'ansible',
    ansible: { installerInstanceId: 'i-0a1b2c3d4e5f60799', openshiftAnsibleDir: '/opt/openshift-ansible' },
    // The restore's other branches: an existing quarantine group, no StopInstances, a waiver, no alarm.
    restore: { quarantineSecurityGroupId: 'sg-0fedcba9876543210', approvalWaivers: ['all-others-terminated'], quorumAlarm: false },
  };
  writeFileSync(file, JSON.stringify(variant, null, 2));
  return file;
}

const cases: Array<{ name: string; fixture: string; config: () => string }> = [
  { name: 'the example configuration', fixture: 'template.example.json', config: () => EXAMPLE_CONFIG },
  { name: 'the variant configuration', fixture: 'template.variant.json', config: variantConfigFile },
];

describe('Template: unchanged by moving code', () => {
  for (const { name, fixture, config } of cases) {
    describe(name, () => {
      const file = join(FIXTURES, fixture);
      let actual: CfnTemplate;
      let expected: CfnTemplate;

      it('synthesizes', () => {
        actual = synthesize(config());
        if (process.env['UPDATE_TEMPLATE_FIXTURES'] === '1') writeFileSync(file, `${JSON.stringify(actual, null, 2)}\n`);
        expected = JSON.parse(readFileSync(file, 'utf8')) as CfnTemplate;
        expect(Object.keys(actual.Resources).length).toBeGreaterThan(0);
      }, 120_000);

      it('has the same logical IDs', () => {
        expect(Object.keys(actual.Resources).sort()).toEqual(Object.keys(expected.Resources).sort());
        expect(Object.keys(actual.Outputs ?? {}).sort()).toEqual(Object.keys(expected.Outputs ?? {}).sort());
      });

      it('has every resource with the same type, properties, dependencies, policies and metadata', () => {
        for (const [id, resource] of Object.entries(expected.Resources)) {
          expect({ [id]: actual.Resources[id] }).toEqual({ [id]: resource });
        }
      });

      it('is the same template as a whole', () => {
        expect(actual).toEqual(expected);
      });
    });
  }
});
