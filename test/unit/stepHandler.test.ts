import { describe, expect, it } from 'vitest';
import { aroundStep, createStepHandler } from '../../functions/handlers/step.ts';
import type { StepDeps } from '../../functions/workflow/stepDeps.ts';
import { taskSpec } from '../../statemachine/spec.ts';
import { contextFromEvent, runIdFromExecutionName, stepOutputOf } from '../../functions/handlers/event.ts';
import { RefusedError, ScriptFailedError } from '../../functions/errors.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';

const context: WorkflowContext = {
  runId: 'run-handler-1',
  request: { cluster: 'ocp', failed: 'master-2.example.internal', replacement: 'etcd-spare-0', startedBy: 'console' },
  options: { graceSeconds: 10, learner: 'auto' },
};

function setup(steps: Record<string, (ctx: WorkflowContext, deps: { id: number }) => Promise<unknown>>) {
  const lines: string[] = [];
  let built = 0;
  let clock = 1000;
  const handler = createStepHandler({
    steps,
    deps: () => ({ id: ++built }),
    log: (line) => lines.push(line),
    now: () => (clock += 25),
  });
  return { handler, lines, built: () => built };
}

describe('Function: createStepHandler', () => {
  it('returns the whole context with the step output merged in', async () => {
    const { handler } = setup({ StopFailedMember: async () => ({ failedHostReachable: true }) });
    const next = await handler({ step: 'StopFailedMember', context, executionName: 'run-handler-1' });
    expect(next).toEqual({ ...context, failedHostReachable: true });
  });

  it('takes the output of a StepResult ({output, detail})', async () => {
    const { handler } = setup({ AddMember: async () => ({ output: { memberAdded: true, newMemberId: 'abc' }, detail: 'added' }) });
    expect(await handler({ step: 'AddMember', context })).toEqual({ ...context, memberAdded: true, newMemberId: 'abc' });
  });

  it('turns a bare request into a context named after the execution on the first step', async () => {
    let seen: WorkflowContext | undefined;
    const { handler } = setup({
      ValidateInput: async (ctx) => {
        seen = ctx;
        return {};
      },
    });
    const request = { cluster: 'ocp', failed: 'master-2', replacement: 'etcd-spare-0', startedBy: 'console', options: { graceSeconds: 30 } };
    const next = await handler({ step: 'ValidateInput', context: request, executionName: 'Replace-Master2_2024' });
    expect(seen).toEqual({ runId: 'replace-master2-2024', request, options: { graceSeconds: 30, learner: 'auto' } });
    expect(next.runId).toBe('replace-master2-2024');
  });

  it('rethrows a named error unchanged, so Step Functions matches its class name', async () => {
    const thrown = new ScriptFailedError('etcd-spare-0', 'StartNewMember', 1, 'etcd did not start');
    const { handler, lines } = setup({
      StartNewMember: async () => {
        throw thrown;
      },
    });
    const error = await handler({ step: 'StartNewMember', context }).catch((e: unknown) => e);
    expect(error).toBe(thrown);
    expect((error as Error).name).toBe('ScriptFailedError');
    expect(JSON.parse(lines[0] ?? '{}')).toEqual({
      step: 'StartNewMember',
      runId: 'run-handler-1',
      durationMs: 25,
      outcome: 'failed',
      error: 'ScriptFailedError',
    });
  });

  it('keeps the subclass name of a refusal', async () => {
    const { handler } = setup({
      CheckClusterHealth: async () => {
        throw new RefusedError('no quorum after removal');
      },
    });
    await expect(handler({ step: 'CheckClusterHealth', context })).rejects.toMatchObject({ name: 'RefusedError' });
  });

  it("holds each step to its own state's TimeoutSeconds: the one function runs every step, so a step past its time is cancelled and ends States.Timeout", async () => {
    let seen: AbortSignal | undefined;
    const spec = (step: string) => ({ ...taskSpec('StopFailedMember'), name: step, timeoutSeconds: 1, holdsLock: false });
    const lock = { heldElsewhere: async () => null } as unknown as StepDeps['lock'];
    const handler = createStepHandler<StepDeps>({
      steps: {
        StopFailedMember: async (_context, deps) => {
          seen = deps.signal;
          // Runs until its signal aborts, then fails with the signal's reason, as a host command does when the step's time is up.
          await new Promise((_, reject) => deps.signal?.addEventListener('abort', () => reject(deps.signal?.reason as Error), { once: true }));
          return { detail: 'finished' };
        },
      },
      deps: () => ({ lock, waits: { lockTtlSeconds: 60 }, log: () => undefined }) as unknown as StepDeps,
      around: aroundStep(spec),
      log: () => undefined,
    });
    const started = Date.now();
    const error = await handler({ step: 'StopFailedMember', context, executionName: 'run-handler-1' }).catch((e: unknown) => e);
    expect((error as Error).name).toBe('States.Timeout');
    expect((error as Error).message).toBe('StopFailedMember did not finish within 1s');
    expect(seen?.aborted).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('refuses an unknown step and inherited property names', async () => {
    const { handler } = setup({});
    await expect(handler({ step: 'NoSuchStep', context })).rejects.toMatchObject({ name: 'InvalidInputError' });
    await expect(handler({ step: 'constructor', context })).rejects.toMatchObject({ name: 'InvalidInputError' });
  });

  it('logs only the step, the run id, the duration and the outcome: never the context', async () => {
    const { handler, lines } = setup({ RemoveFailedMember: async () => ({ remaining: ['secret-looking-note'] }) });
    await handler({ step: 'RemoveFailedMember', context });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '{}')).toEqual({ step: 'RemoveFailedMember', runId: 'run-handler-1', durationMs: 25, outcome: 'succeeded' });
    expect(lines.join('\n')).not.toMatch(/master-2|etcd-spare|secret-looking/);
  });

  it('builds the ports once per container and again after a failed build', async () => {
    let attempts = 0;
    const handler = createStepHandler({
      steps: { ReleaseLock: async (_ctx: WorkflowContext, deps: { n: number }) => ({ remaining: [String(deps.n)] }) },
      deps: async () => {
        attempts += 1;
        if (attempts === 1) throw new Error('no credentials yet');
        return { n: attempts };
      },
      log: () => {},
    });
    await expect(handler({ step: 'ReleaseLock', context })).rejects.toThrow('no credentials yet');
    expect((await handler({ step: 'ReleaseLock', context })).remaining).toEqual(['2']);
    expect((await handler({ step: 'ReleaseLock', context })).remaining).toEqual(['2']);
    expect(attempts).toBe(2);
  });
});

describe('Function: contextFromEvent', () => {
  it('passes a context through unchanged', () => {
    expect(contextFromEvent({ step: 'AddMember', context, executionName: 'other-name' })).toBe(context);
  });

  it('keeps a malformed request for ValidateInput to refuse', () => {
    const built = contextFromEvent({ step: 'ValidateInput', context: 'not an object', executionName: 'abcdef' });
    expect(built).toEqual({ runId: 'abcdef', request: {}, options: { graceSeconds: 10, learner: 'auto' } });
  });
});

describe('Function: runIdFromExecutionName', () => {
  it('makes a valid run id from any execution name', () => {
    expect(runIdFromExecutionName('3f2a9c1e-7a0b-4c5d-9e8f-0123456789ab')).toBe('3f2a9c1e-7a0b-4c5d-9e8f-0123456789ab');
    expect(runIdFromExecutionName('_x')).toBe('run-x0');
    for (const name of ['A', 'Replace_Master-2', '-leading', 'x'.repeat(80)]) expect(runIdFromExecutionName(name)).toMatch(/^[a-z0-9][a-z0-9-]{5,79}$/);
  });
});

describe('Function: stepOutputOf', () => {
  it('reads both step result shapes', () => {
    expect(stepOutputOf({ output: { memberAdded: true }, detail: 'x' })).toEqual({ memberAdded: true });
    expect(stepOutputOf({ memberAdded: true })).toEqual({ memberAdded: true });
    expect(stepOutputOf(undefined)).toEqual({});
  });
});
