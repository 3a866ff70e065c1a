// CDK app entry (cdk.json: `npx tsx lib/app.ts`). There is no default cluster: the configuration is a
// file named with `-c etcdReplaceConfig=FILE` (`npm run synth` names the example). Synthesizes offline
// with no AWS credentials: the account and region come from the configuration, else the deploying
// CLI's, else placeholders; nothing is looked up, Lambdas bundle with a local esbuild. cdk-nag's
// AwsSolutions checks run on every synth; an unacknowledged finding fails it.

import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { configFromContext } from './config.ts';
import { ReplacementStack } from './replacement-stack.ts';

export function buildApp(app = new App()): { app: App; stack: ReplacementStack } {
  const config = configFromContext((key) => app.node.tryGetContext(key));
  const stack = new ReplacementStack(app, `EtcdReplace-${config.clusterName}`, {
    config,
    description: `Replaces a failed etcd member of the OpenShift 3.11 cluster ${config.clusterName} (etcd-replace)`,
    // A configuration that names its account binds the stack to it: a deploy with credentials of any
    // other account fails before changing anything (the example names the documentation account).
    env: {
      account: config.account ?? process.env['CDK_DEPLOY_ACCOUNT'] ?? process.env['CDK_DEFAULT_ACCOUNT'] ?? '123456789012',
      region: config.region ?? process.env['CDK_DEPLOY_REGION'] ?? process.env['CDK_DEFAULT_REGION'] ?? 'us-east-1',
    },
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

const isEntry = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry) buildApp().app.synth();
