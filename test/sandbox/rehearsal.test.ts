// A rehearsal of the deployed system (npm run rehearse:aws, test/rehearsal/): the stack synthesized by
// `cdk synth`, its state machine definition run on aws-local-stepfunctions, its bundled Lambda code
// with each function's template environment, real SDK requests to DynamoDB (dynalite), S3 (s3rver,
// whose presigned URLs the hosts fetch with curl), SSM and EC2 on the sandbox hosts, Step Functions,
// CloudWatch, SNS and CloudTrail; started by the member alarm's state change through the template's
// EventBridge rule, or by EC2's state-change event through the signal function; every API call
// checked against the caller's IAM policy from the template. Then the cluster's independent facts,
// the audit record in the table and the notification text.

import { describe, expect, it } from 'vitest';
import { rehearsalSandboxName, rehearseOnSandbox } from '../rehearsal/run.ts';

describe('Rehearsal: the synthesized stack replaces a powered-off master-2 on the sandbox', () => {
  it('runs the template\'s state machine and bundled functions from an alarm, with every API call allowed by IAM', async () => {
    const lines: string[] = [];
    const { rehearsal } = await rehearseOnSandbox((line) => lines.push(line));
    console.log(lines.join('\n'));
    expect(rehearsal.execution.status).toBe('SUCCEEDED');
    expect(rehearsal.iam.calls.length).toBeGreaterThan(50);
    expect(rehearsal.iam.denied()).toEqual([]);
  }, 900_000);

  it('starts from EC2\'s state-change event of the failed member\'s instance, through the signal function and its own role', async () => {
    const lines: string[] = [];
    const { rehearsal } = await rehearseOnSandbox((line) => lines.push(line), rehearsalSandboxName(), 'ec2-state-change');
    console.log(lines.filter((l) => !l.startsWith('{')).slice(0, 60).join('\n'));
    expect(rehearsal.execution.status).toBe('SUCCEEDED');
    expect(rehearsal.iam.denied()).toEqual([]);
    // The signal function called StartExecution itself, allowed by its role's policy.
    expect(rehearsal.iam.calls.filter((c) => c.action === 'states:StartExecution' && c.verdict === 'Allowed' && !c.caller.startsWith('events:'))).toHaveLength(1);
  }, 900_000);
});
