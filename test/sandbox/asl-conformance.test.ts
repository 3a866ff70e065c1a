// Conformance on real etcd: the compiled Step Functions definition, executed locally with every Task
// bound to the real step code over the sandbox's ports, takes the same path as the XState run of the
// model, for success with a retry, refusal and compensation.
//
// Two sandboxes. a (3 members, 3 spares, 1 node): both engines refuse while it is healthy; XState
// replaces master-2 with etcd-spare-0, then ASL master-1 with etcd-spare-1 (the same path: each failed
// host powered off, peer URLs on IPs, the plain add or a learner alike for both); then XState's run
// for etcd-spare-0 (powered off) meets a new member that never starts. b (3 members, 1 spare): ASL's
// run meets it for master-2. After a compensation the cluster has an even count, which no run may end
// with, and only a run record (which these harnesses do not write) would let a second run finish the
// job: each compensation needs a cluster of its own.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failHost, loadSandbox, sandboxDown, sandboxUp } from '../../sandbox/index.ts';
import { waitForLeader } from '../support/clusterFacts.ts';
import { ETCD_HEALTH_INTERVAL_MS } from '../../functions/adapters/etcdctl.ts';
import { sandboxDeps, type SandboxDeps } from '../../sandbox/adapters/deps.ts';
import { EtcdUnavailableError, NewMemberFailedError } from '../../functions/errors.ts';
import { STEPS } from '../../functions/steps/index.ts';
import { compileAsl } from '../../statemachine/asl.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import type { StepOutput } from '../../statemachine/machine.ts';
import { runAslLocally } from '../support/aslLocalRun.ts';
import { runXState } from '../support/xstateRun.ts';

const created: string[] = [];
const opened: SandboxDeps[] = [];
afterAll(async () => {
  for (const deps of opened) await deps.close();
  for (const name of created) await sandboxDown(name);
});

type Bound = (context: WorkflowContext) => Promise<StepOutput>;
type Fault = (name: string, real: Bound) => Bound;

/** The real steps over the sandbox's ports, with an optional fault wrapped around some of them. */
async function boundSteps(sandbox: string, fault: Fault = (_, real) => real): Promise<Record<string, Bound>> {
  const deps = await sandboxDeps(sandbox, { waits: { memberStartSeconds: 60 } });
  opened.push(deps);
  return Object.fromEntries(Object.entries(STEPS).map(([name, step]) => [name, fault(name, async (context) => (await step(context, deps)).output)]));
}

function input(sandbox: string, runId: string, failed = 'master-2', replacement = 'etcd-spare-0'): WorkflowContext {
  return {
    runId,
    request: { cluster: sandbox, failed, replacement, startedBy: 'test:conformance' },
    options: { graceSeconds: 0, learner: 'auto' },
  };
}

async function runAsl(steps: Record<string, Bound>, context: WorkflowContext) {
  return runAslLocally(compileAsl(), context, async (name, ctx) => ({ ...ctx, ...(await steps[name]!(ctx)) }));
}

async function cluster(spares: number, nodes: number): Promise<string> {
  const name = `t-conf-${randomBytes(3).toString('hex')}`;
  created.push(name);
  await sandboxUp({ name, members: 3, spares, nodes, dataMb: 2 });
  return name;
}

/** Powers `failed` off and waits until the cluster has settled on the `live` members. */
async function fail(name: string, failed: string, live: string[]): Promise<void> {
  await failHost(name, failed, 'kill');
  await settle(name, live);
}

/**
 * Both engines start on a settled cluster, so the only retries are the injected ones (the test
 * harnesses retry at once): the survivors agree on a leader, then etcd's HealthInterval passes, before
 * which `member add` meets "unhealthy cluster".
 */
async function settle(name: string, live: string[]): Promise<void> {
  await waitForLeader(await loadSandbox(name), live);
  await new Promise((resolve) => setTimeout(resolve, ETCD_HEALTH_INTERVAL_MS));
}

/** The invoked steps with consecutive repeats of one step folded into one. */
const foldRepeats = (names: string[]) => names.filter((name, i) => name !== names[i - 1]);

/** The first call of `step` throws a retryable error before touching anything; later calls are real. */
function transientOnce(step: string): Fault {
  let thrown = false;
  return (name, real) => async (context) => {
    if (name === step && !thrown) {
      thrown = true;
      throw new EtcdUnavailableError('injected: leader changed');
    }
    return real(context);
  };
}

let a: string;
let b: string;
beforeAll(async () => {
  [a, b] = await Promise.all([cluster(3, 1), cluster(1, 0)]);
});

/** The new member's etcd never starts on its host: the member added for it is removed again. */
const noStart: Fault = (step, real) =>
  step === 'StartNewMember'
    ? async () => {
        throw new NewMemberFailedError('injected: etcd exits at once on the new host');
      }
    : real;

describe('Conformance: compiled ASL and XState on the sandbox with the real steps', () => {
  it('take the same path to Refused for a healthy member', async () => {
    // Nothing has failed: both engines refuse to remove master-2.
    const steps = await boundSteps(a);
    const refusedX = await runXState(steps, input(a, 'r-conf-xstate-refuse'));
    const refusedA = await runAsl(steps, input(a, 'r-conf-asl-refuse'));
    expect(refusedX.finalState).toBe('Refused');
    expect(refusedA.finalState).toBe('Refused');
    expect(refusedA.path).toEqual(refusedX.path);
    expect(refusedX.finalContext.error?.Error).toBe('RefusedError');
  });

  it('take the same path to Succeeded, retrying the same step', async () => {
    await fail(a, 'master-2', ['master-0', 'master-1']);
    const xstate = await runXState(await boundSteps(a, transientOnce('RemoveFailedMember')), input(a, 'r-conf-xstate-ok', 'master-2', 'etcd-spare-0'));
    expect(xstate.finalState).toBe('Succeeded');
    await fail(a, 'master-1', ['master-0', 'etcd-spare-0']);
    const asl = await runAsl(await boundSteps(a, transientOnce('RemoveFailedMember')), input(a, 'r-conf-asl-ok', 'master-1', 'etcd-spare-1'));

    expect(xstate.finalState).toBe('Succeeded');
    expect(asl.finalState).toBe('Succeeded');
    expect(asl.path).toEqual(xstate.path);
    // The same steps in the same order, and the injected failure retried the same way by both engines.
    // A real cluster may also make a step retry on its own in one run and not the other (a member's
    // health read a moment after a failure); such a retry is the same step invoked again at once, so the
    // two are compared with repeats of a step folded into one.
    expect(foldRepeats(asl.invocations)).toEqual(foldRepeats(xstate.invocations));
    expect(xstate.invocations.filter((n) => n === 'RemoveFailedMember')).toHaveLength(2);
    expect(asl.invocations.filter((n) => n === 'RemoveFailedMember')).toHaveLength(2);
    expect(asl.finalContext.newMemberId).toMatch(/^[0-9a-f]{16}$/);
  });

  it('take the same path to Failed through compensation', async () => {
    await Promise.all([fail(a, 'etcd-spare-0', ['master-0', 'etcd-spare-1']), fail(b, 'master-2', ['master-0', 'master-1'])]);
    const failingX = await runXState(await boundSteps(a, noStart), input(a, 'r-conf-xstate-comp', 'etcd-spare-0', 'etcd-spare-2'));
    const failingA = await runAsl(await boundSteps(b, noStart), input(b, 'r-conf-asl-comp', 'master-2', 'etcd-spare-0'));
    for (const run of [failingX, failingA]) {
      expect(run.finalState).toBe('Failed');
      expect(run.path).toContain('CompensateNewMember');
      expect(run.finalContext.error?.Error).toBe('NewMemberFailedError');
    }
    expect(failingA.path).toEqual(failingX.path);
  });
});
