// CDK app entry (cdk.json: `npx tsx lib/app.ts`). Synthesizes offline with no AWS credentials: the
// account and region fall back to placeholders, nothing is looked up, Lambdas bundle with a local
// esbuild. cdk-nag's AwsSolutions checks run on every synth; an unacknowledged finding fails it.

import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { configFromContext } from './config.ts';
import { ReplacementStack } from './replacement-stack.ts';

export function buildApp(app = new App()): { app: App; stack: ReplacementStack } {
  const config = configFromContext((key) => app.node.tryGetContext(key));
  const stack = new ReplacementStack(app, `EtcdReplace-${config.clusterName}`, {
    config,
    description: `Replaces a failed etcd member of the OpenShift 3.11 cluster ${config.clusterName} (etcd-replace)`,
    env: {
      account: process.env['CDK_DEPLOY_ACCOUNT'] ?? process.env['CDK_DEFAULT_ACCOUNT'] ?? '123456789012',
      region: process.env['CDK_DEPLOY_REGION'] ?? process.env['CDK_DEFAULT_REGION'] ?? 'us-east-1',
    },
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

const isEntry = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry) buildApp().app.synth();
