// Runs the XState machine with step fakes and records the path it takes: every state it enters,
// including the transient Choice states (seen through the inspector's microsteps), and every
// step invocation (retries repeat the name). Retries follow the spec's rules through withRetry
// with an instant sleep, as the sandbox run does with a real one.

import { createActor, fromPromise, toPromise } from 'xstate';
import { replaceMemberMachine, specOf, type StepOutput } from '../../statemachine/machine.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { withRetry } from '../../statemachine/retry.ts';

export type StepFake = (context: WorkflowContext) => Promise<StepOutput>;

export interface XStateRun {
  path: string[];
  invocations: string[];
  finalState: string;
  finalContext: WorkflowContext;
}

export async function runXState(steps: Record<string, StepFake>, input: WorkflowContext): Promise<XStateRun> {
  const invocations: string[] = [];
  const machine = replaceMemberMachine;
  const actors = Object.fromEntries(
    Object.keys(machine.root.states)
      .filter((name) => specOf(machine, name).kind === 'task')
      .map((name) => {
        const spec = specOf(machine, name);
        const rules = spec.kind === 'task' ? spec.retry : [];
        const step = steps[name] ?? (async () => ({}));
        return [
          name,
          fromPromise<StepOutput, WorkflowContext>(({ input: context }) =>
            withRetry(
              rules,
              async () => {
                invocations.push(name);
                return step(context);
              },
              { sleep: async () => {} },
            ),
          ),
        ];
      }),
  );
  const provided = machine.provide({ actors, delays: { graceWindow: 0 } });

  const path: string[] = [];
  const record = (value: unknown) => {
    const name = String(value);
    if (path.at(-1) !== name) path.push(name);
  };
  const actor = createActor(provided, {
    input,
    inspect: (event) => {
      if (event.type === '@xstate.microstep' && event.actorRef.sessionId === event.rootId) {
        record((event.snapshot as { value?: unknown }).value);
      }
    },
  });
  actor.subscribe({ next: (snapshot) => record(snapshot.value), error: () => {} });
  actor.start();
  const output = await toPromise(actor);
  const finalState = String(actor.getSnapshot().value);
  return { path, invocations, finalState, finalContext: output as WorkflowContext };
}
