// What another CDK app imports (package.json exports it as `etcd-replace/cdk`): the construct, the
// configuration's parser and its JSON Schema, and the stack around them. See docs/aws.md, "Use the
// construct in your own CDK app".

export { EtcdReplacement, operationalAlarmNames, CLUSTER_RESOURCE_TAG, METRIC_NAMESPACE, type EtcdReplacementProps } from './etcd-replacement.ts';
export { parseConfig, configFromContext, CONFIG_SCHEMA_FILE, type DeploymentConfig, type MemberConfig } from './config.ts';
export { ReplacementStack, type ReplacementStackProps } from './replacement-stack.ts';
