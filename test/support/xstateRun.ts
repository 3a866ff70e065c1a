// Runs the XState machine with step fakes and records the path it takes: every state it enters,
// including the transient Choice states (seen through the inspector's microsteps), and every
// step invocation (retries repeat the name). The step actors are the local run's (stepActors.ts),
// with an instant sleep between retries.

import { createActor, toPromise } from 'xstate';
import { replaceMemberMachine, type StepOutput } from '../../statemachine/machine.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { plainly, stepActors } from '../../statemachine/stepActors.ts';

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
  const actors = stepActors({
    run: (task, context) => {
      invocations.push(task.name);
      return (steps[task.name] ?? (async () => ({})))(context);
    },
    sleep: async () => {},
    around: plainly,
  });
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
