// What a role may do on the cluster's hosts: SSM Run Command (the steps and the probe), and launching
// and terminating a replacement host (the steps), each with the cdk-nag findings it leaves and why.

import { Aws, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { LAUNCHED_BY_TAG, LAUNCHED_BY_VALUE, RUN_TAG } from '../../functions/adapters/aws/launchTags.ts';
import type { DeploymentConfig } from '../config.ts';

/**
 * SSM Run Command, least privilege: only the AWS-RunShellScript document, only on instances that
 * carry the cluster tag (and, for the steps, the spare-pool tag: the replacement before it joins).
 */
export function grantRunCommand(role: iam.Role, config: DeploymentConfig, options: { includeSparePool: boolean }): void {
  const instances = `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:instance/*`;
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'RunShellScriptDocument',
      actions: ['ssm:SendCommand'],
      resources: [`arn:${Aws.PARTITION}:ssm:${Aws.REGION}::document/AWS-RunShellScript`],
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'RunCommandOnClusterHosts',
      actions: ['ssm:SendCommand'],
      resources: [instances],
      conditions: { StringEquals: { [`ssm:resourceTag/${config.clusterTagKey}`]: config.clusterName } },
    }),
  );
  // The ansible add method's installer host, named by its ARN in the configuration (ansible.installerInstanceId):
  // the scaleup playbook runs there, whatever its tags say.
  if (options.includeSparePool && config.ansible) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'RunCommandOnInstallerHost',
        actions: ['ssm:SendCommand'],
        resources: [`arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:instance/${config.ansible.installerInstanceId}`],
      }),
    );
  }
  if (options.includeSparePool) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'RunCommandOnSpareHosts',
        actions: ['ssm:SendCommand'],
        resources: [instances],
        conditions: { StringEquals: { [`ssm:resourceTag/${config.spareTagKey}`]: config.clusterName } },
      }),
    );
  }
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'FollowCommands',
      actions: ['ssm:GetCommandInvocation', 'ssm:ListCommandInvocations', 'ssm:CancelCommand', 'ssm:DescribeInstanceInformation'],
      resources: ['*'],
    }),
  );
}

/** cdk-nag findings of a role given grantRunCommand (and, for the steps, ec2:Describe*; for the probe, PutMetricData). */
export function acknowledgeRunCommand(role: iam.Role): void {
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]',
    reason:
      "ssm:SendCommand on instances is limited by the ssm:resourceTag condition to the cluster's (and the spare pool's) instances; their IDs change as members are replaced.",
  });
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'Only actions without resource-level permissions use "*": ssm:GetCommandInvocation/ListCommandInvocations/CancelCommand/DescribeInstanceInformation, ec2:Describe*, cloudwatch:PutMetricData (limited by the cloudwatch:namespace condition) and X-Ray trace upload.',
  });
}

const ec2Arn = (resource: string, account: string = Aws.ACCOUNT_ID) => `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${account}:${resource}`;

/**
 * What a run that launches its replacement host may do, and no more: RunInstances from the configured
 * launch template only, the instance and its volumes carrying the spare tag, the run tag and
 * `etcd-replace:launched-by` at creation (tags only as part of RunInstances); pass only the template's
 * instance role, only to EC2; terminate only an instance carrying `etcd-replace:launched-by` and the
 * spare tag. Without a launch template nothing is launched: only the termination is granted (harmless:
 * no instance carries those tags but one a run launched).
 */
export function grantLaunch(role: iam.Role, config: DeploymentConfig): void {
  const cluster = config.clusterName;
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'TerminateLaunchedHosts',
      actions: ['ec2:TerminateInstances'],
      resources: [ec2Arn('instance/*')],
      conditions: { StringEquals: { [`aws:ResourceTag/${LAUNCHED_BY_TAG}`]: LAUNCHED_BY_VALUE, [`aws:ResourceTag/${config.spareTagKey}`]: cluster } },
    }),
  );
  const template = config.replacementLaunchTemplate;
  if (!template) return;
  // With an ID, exactly that template; with a name (the ARN carries the ID), any template tagged for the cluster's spare pool.
  const templateArn = ec2Arn(`launch-template/${template.launchTemplateId ?? '*'}`);
  const fromTemplate = { ArnLike: { 'ec2:LaunchTemplate': templateArn } };
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'LaunchTaggedReplacement',
      actions: ['ec2:RunInstances'],
      resources: [ec2Arn('instance/*'), ec2Arn('volume/*')],
      conditions: {
        ...fromTemplate,
        StringEquals: { [`aws:RequestTag/${config.spareTagKey}`]: cluster, [`aws:RequestTag/${LAUNCHED_BY_TAG}`]: LAUNCHED_BY_VALUE },
        Null: { [`aws:RequestTag/${RUN_TAG}`]: 'false' },
      },
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'LaunchFromTemplate',
      actions: ['ec2:RunInstances'],
      resources: [
        ec2Arn('subnet/*'),
        ec2Arn('security-group/*'),
        ec2Arn('network-interface/*'),
        ec2Arn('key-pair/*'),
        ec2Arn('image/*', ''),
        ec2Arn('snapshot/*', ''),
        ...(template.launchTemplateId ? [templateArn] : []),
      ],
      conditions: fromTemplate,
    }),
  );
  if (!template.launchTemplateId) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'LaunchTemplateOfThePool',
        actions: ['ec2:RunInstances'],
        resources: [templateArn],
        conditions: { StringEquals: { [`aws:ResourceTag/${config.spareTagKey}`]: cluster } },
      }),
    );
  }
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'TagAtLaunchOnly',
      actions: ['ec2:CreateTags'],
      resources: [ec2Arn('instance/*'), ec2Arn('volume/*')],
      conditions: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
    }),
  );
  if (template.instanceRoleArn) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PassTemplateInstanceRole',
        actions: ['iam:PassRole'],
        resources: [template.instanceRoleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
      }),
    );
  }
}

/** cdk-nag findings of grantLaunch, each with its reason. */
export function acknowledgeLaunch(role: iam.Role, config: DeploymentConfig): void {
  const ec2 = (resource: string, account = '<AWS::AccountId>') => `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:${account}:${resource}]`;
  const template = config.replacementLaunchTemplate;
  if (!template) return;
  Validations.of(role).acknowledge({
    id: ec2('volume/*'),
    reason:
      "RunInstances creates the volumes of the launch template only with the run's request tags (aws:RequestTag conditions) and from the configured template (ec2:LaunchTemplate); CreateTags only as part of RunInstances (ec2:CreateAction).",
  });
  for (const resource of ['subnet/*', 'network-interface/*', 'key-pair/*']) {
    Validations.of(role).acknowledge({
      id: ec2(resource),
      reason:
        'RunInstances uses the network and key pair the launch template names, only when launching from the configured template (ec2:LaunchTemplate condition); they are not known at deploy time.',
    });
  }
  for (const resource of ['image/*', 'snapshot/*']) {
    Validations.of(role).acknowledge({
      id: ec2(resource, ''),
      reason:
        'RunInstances reads the AMI (and its snapshots) the launch template names, only when launching from the configured template (ec2:LaunchTemplate condition).',
    });
  }
  if (!template.launchTemplateId) {
    Validations.of(role).acknowledge({
      id: ec2('launch-template/*'),
      reason:
        "The launch template is configured by name, and its ARN carries its ID: RunInstances is allowed only from a template tagged with the cluster's spare-pool tag (aws:ResourceTag condition).",
    });
  }
}
