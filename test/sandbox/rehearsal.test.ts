// A rehearsal of the deployed system (npm run rehearse:aws, rehearsal/): the stack synthesized by
// `cdk synth`, its state machine definition run on aws-local-stepfunctions, its bundled Lambda code
// with each function's template environment, in processes of the Node.js binary named by
// ETCD_REPLACE_LAMBDA_NODE (default: this one), real SDK requests to DynamoDB (dynalite), S3 (s3rver,
// whose presigned URLs the hosts fetch with curl), SSM and EC2 on the sandbox hosts, Step Functions,
// CloudWatch, SNS and CloudTrail; every API call checked against the caller's IAM policy from the
// template. Then the cluster's independent facts, the audit record in the table, the notification
// text, the lock, the security groups, the bucket and what the SSM commands carried.
//
// One sandbox and one synthesized stack for two failures, one after the other, as one deployment
// meets them: master-2 (the leader) powers off and its member alarm starts its replacement by the
// configured spare etcd-spare-0, through the template's EventBridge rule; then master-1's instance is
// terminated, and EC2's state-change event starts the signal function, which starts the replacement by
// the pool's spare: etcd-spare-1 (etcd-spare-0 is a member now, enrolled by the first run, and master-2's
// instance is neither member nor spare). `terminated` is final evidence: that run skips the grace
// window's wait, the alarm's keeps it. Both report their figures (rehearsal/figures.ts) under a light
// latency model (SSM 0.1 s per command: the checks need the figures, not AWS's full latency).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failHost, sandboxDown } from '../../sandbox/index.ts';
import type { SandboxCloud } from '../../rehearsal/hosts.ts';
import { lambdaNode } from '../../rehearsal/lambdaService.ts';
import { AWS_LATENCY, type LatencyModel } from '../../rehearsal/latency.ts';
import { rehearse, rehearsalCloud, synthesizeApp, type SynthesizedApp } from '../../rehearsal/rehearse.ts';
import {
  FAILED,
  REPLACEMENT,
  asReplaced,
  nodeVersionOf,
  rehearsalSandbox,
  rehearsalSandboxName,
  report,
  verdict,
  type Replaced,
  type SandboxRun,
} from '../../rehearsal/run.ts';
import { checkRehearsal, leaderThenBefore } from '../rehearsal/checks.ts';
import { recordBefore, type Before } from '../support/verifyReplaced.ts';

const SECOND: Replaced = { failed: 'master-1', replacement: 'etcd-spare-1' };
const LIGHT: LatencyModel = { ...AWS_LATENCY, ssmMs: 100 };

let run: SandboxRun<Before> | undefined;
let app: SynthesizedApp | undefined;
let cloud: SandboxCloud | undefined;
/** The replacements done so far on the sandbox. */
const done: Replaced[] = [];
const setup: string[] = [];

beforeAll(async () => {
  const t0 = Date.now();
  const log = (line: string) => setup.push(`${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s  ${line}`);
  // The stack is synthesized for the sandbox's hosts while master-2 is made the leader and powered off.
  run = await rehearsalSandbox(
    log,
    rehearsalSandboxName(),
    2,
    async (up) => {
      app = await synthesizeApp(up, REPLACEMENT, 5, log);
    },
    leaderThenBefore,
  );
  cloud = await rehearsalCloud(app!, run.sandbox);
  console.log(setup.join('\n'));
}, 600_000);

afterAll(async () => {
  await app?.close();
  if (run) await sandboxDown(run.name);
}, 120_000);

describe('Rehearsal: the synthesized stack replaces failed members of one sandbox, one after the other', () => {
  it("runs the template's state machine and bundled functions from an alarm (master-2, the leader, powered off), with every API call allowed by IAM", async () => {
    const lines: string[] = [];
    const r = await rehearse({
      sandbox: run!.sandbox,
      failed: FAILED,
      app: app!,
      cloud: cloud!,
      trigger: 'alarm',
      latency: LIGHT,
      log: (line) => lines.push(line),
    });
    console.log([...lines, report(r)].join('\n'));
    expect(r.execution.status).toBe('SUCCEEDED');
    expect(r.iam.calls.length).toBeGreaterThan(50);
    expect(r.iam.denied()).toEqual([]);
    // The functions ran on the Node.js binary asked for (ETCD_REPLACE_LAMBDA_NODE, else this process's).
    expect(r.lambdaNode).toBe(process.env['ETCD_REPLACE_LAMBDA_NODE'] || process.execPath);
    expect(new Set([...r.lambdaRuntimes.values()].map((x) => x.version))).toEqual(new Set([nodeVersionOf(lambdaNode())]));
    expect(await verdict(r, run!.sandbox, REPLACEMENT)).toEqual([]);
    await checkRehearsal(r, run!.sandbox, run!.before, REPLACEMENT);
    done.push({ failed: FAILED, replacement: REPLACEMENT });
  }, 900_000);

  it("then starts from EC2's state-change event of another member's instance (master-1, terminated: no grace window's wait), through the signal function and its own role, with the pool's spare", async () => {
    // This run meets the cluster the first one left: it needs that one to have succeeded.
    expect(done).toEqual([{ failed: FAILED, replacement: REPLACEMENT }]);
    const before = await recordBefore(asReplaced(run!.sandbox, done));
    await failHost(run!.name, SECOND.failed, 'kill');
    const lines: string[] = [];
    const r = await rehearse({
      sandbox: run!.sandbox,
      failed: SECOND.failed,
      app: app!,
      cloud: cloud!,
      trigger: 'ec2-state-change',
      state: 'terminated',
      latency: LIGHT,
      log: (line) => lines.push(line),
    });
    console.log(
      [
        ...lines,
        ...report(r)
          .split('\n')
          .filter((l) => !l.startsWith('{'))
          .slice(0, 60),
      ].join('\n'),
    );
    expect(r.execution.status).toBe('SUCCEEDED');
    expect(r.iam.denied()).toEqual([]);
    // The signal function called StartExecution itself, allowed by its role's policy.
    expect(r.iam.calls.filter((c) => c.action === 'states:StartExecution' && c.verdict === 'Allowed' && !c.caller.startsWith('events:'))).toHaveLength(1);
    expect(await verdict(r, run!.sandbox, SECOND.replacement, done)).toEqual([]);
    await checkRehearsal(r, run!.sandbox, before, SECOND.replacement, done);
    done.push(SECOND);
  }, 900_000);
});
