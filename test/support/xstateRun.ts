// Runs the XState machine with step fakes and records the path it takes: every state it enters,
// including the transient Choice states (seen through the inspector's microsteps), and every
// step invocation (retries repeat the name). The step actors are the local run's (stepActors.ts),
// with an instant sleep between retries.

import { createActor, toPromise } from 'xstate';
import { buildMachine, type StepOutput } from '../../statemachine/machine.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { REPLACE_WORKFLOW, type MachineContext, type WorkflowSpec } from '../../statemachine/spec.ts';
import { plainly, stepActors } from '../../statemachine/stepActors.ts';

export type StepFake<C = WorkflowContext> = (context: C) => Promise<StepOutput<C>>;

export interface XStateRun<C = WorkflowContext> {
  path: string[];
  invocations: string[];
  finalState: string;
  finalContext: C;
}

/** Runs a workflow's machine (the replacement unless another is given) with the fakes; the grace window takes no time. */
export async function runXState<C extends MachineContext = WorkflowContext>(
  steps: Record<string, StepFake<C>>,
  input: C,
  workflow: WorkflowSpec<string, C> = REPLACE_WORKFLOW as unknown as WorkflowSpec<string, C>,
): Promise<XStateRun<C>> {
  const invocations: string[] = [];
  const machine = buildMachine(workflow);
  const actors = stepActors<StepOutput<C>, string, C>({
    workflow,
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
  return { path, invocations, finalState, finalContext: output as C };
}
