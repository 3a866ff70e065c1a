// The XState v5 machine: the one model of a workflow. Built from a workflow's spec (spec.ts: the
// replacement, REPLACE_WORKFLOW, unless told otherwise; restoreSpec.ts: the quorum restore); every
// actor, guard and delay is named in setup(). Step implementations are swapped in with machine.provide().

import { assign, fromPromise, setup, type AnyStateMachine } from 'xstate';
import type { WorkflowContext } from './context.ts';
import { errorMatches, toRecordedError } from './recordedError.ts';
import { REPLACE_WORKFLOW, type AnyStateSpec, type AnyWorkflowSpec, type CatchRule, type MachineContext, type WorkflowSpec } from './spec.ts';

/** What a step actor resolves with: the fields it adds to the context. */
export type StepOutput<C = WorkflowContext> = Partial<C>;

type StepActorLogic<C> = ReturnType<typeof fromPromise<StepOutput<C>, C>>;

function unprovided<C>(name: string): StepActorLogic<C> {
  return fromPromise<StepOutput<C>, C>(async () => {
    throw new Error(`step ${name} has no implementation; provide it with machine.provide()`);
  });
}

/** A context field as the guards and delays read it, whatever the workflow's context type. */
function field(context: MachineContext, name: string): unknown {
  return (context as unknown as Record<string, unknown>)[name];
}

function setupFor<C extends MachineContext>(workflow: WorkflowSpec<string, C>) {
  const actors = Object.fromEntries(workflow.tasks.map((t) => [t.name, unprovided<C>(t.name)])) as Record<string, StepActorLogic<C>>;
  const guards = {
    ...Object.fromEntries(workflow.guards.map((g) => [g.name, ({ context }: { context: C }) => field(context, g.field) === true])),
    /** The caught error is one of `errors` (ErrorEquals). */
    errorMatches: ({ event }: { event: { error?: unknown } }, params: { errors: string[] }) => errorMatches(toRecordedError(event.error).Error, params.errors),
    /** The run carries no error: it succeeded. */
    noError: ({ context }: { context: C }) => context.error === undefined,
    /** The recorded error is a refusal. */
    errorIn: ({ context }: { context: C }, params: { errors: string[] }) => context.error !== undefined && params.errors.includes(context.error.Error),
  };
  // One delay per Wait state: what is left until the time its field holds (nothing once it has passed),
  // the whole grace window while the field is absent.
  const delays = Object.fromEntries(
    workflow.states
      .filter((s) => s.kind === 'wait')
      .map((s) => [
        s.delay.name,
        ({ context }: { context: C }) => {
          const until = field(context, s.delay.untilField);
          return until === undefined ? context.options.graceSeconds * 1000 : Math.max(0, Date.parse(String(until)) - Date.now());
        },
      ]),
  );
  return setup({
    types: {
      context: {} as C,
      input: {} as C,
      output: {} as C,
      events: {} as { type: string; error?: unknown; output?: StepOutput<C> },
    },
    actors,
    guards,
    delays,
    actions: {
      mergeStepOutput: assign(({ context }, params: { output: StepOutput<C> }) => ({ ...context, ...params.output })),
      recordError: assign(({ context }, params: { error: unknown; field: 'error' | 'cleanupError' | 'none' }) =>
        params.field === 'none' ? context : { ...context, [params.field]: toRecordedError(params.error) },
      ),
    },
  });
}

function catchTransitions(rules: CatchRule[]) {
  return rules.map((rule) => ({
    guard: { type: 'errorMatches' as const, params: { errors: rule.errors } },
    target: rule.next,
    actions: {
      type: 'recordError' as const,
      params: ({ event }: { event: { error?: unknown } }) => ({ error: event.error, field: rule.resultField ?? 'error' }),
    },
  }));
}

/** What a task's step adds to the context: all its output, or only the answer of a task that waits for one. */
function outputOf(spec: AnyStateSpec, output: Record<string, unknown>): Record<string, unknown> {
  if (spec.kind !== 'task' || !spec.answer) return output;
  const field = spec.answer.resultField;
  return field in output ? { [field]: output[field] } : {};
}

function stateConfig(spec: AnyStateSpec): Record<string, unknown> {
  const meta = { spec };
  switch (spec.kind) {
    case 'task':
      return {
        meta,
        invoke: {
          id: spec.name,
          src: spec.name,
          input: ({ context }: { context: unknown }) => context,
          onDone: {
            target: spec.next,
            actions: {
              type: 'mergeStepOutput',
              params: ({ event }: { event: { output: Record<string, unknown> } }) => ({ output: outputOf(spec, event.output) }),
            },
          },
          onError: catchTransitions(spec.catch),
        },
      };
    case 'choice':
      return {
        meta,
        always: [...spec.when.map((w) => ({ guard: w.guard.name, target: w.next })), { target: spec.otherwise }],
      };
    case 'outcome':
      return {
        meta,
        always: [
          { guard: 'noError', target: spec.succeeded },
          { guard: { type: 'errorIn', params: { errors: spec.refusedErrors } }, target: spec.refused },
          { target: spec.failed },
        ],
      };
    case 'wait':
      return { meta, after: { [spec.delay.name]: spec.next } };
    case 'succeed':
    case 'fail':
      return { meta, type: 'final' };
  }
}

/**
 * The workflow's machine. `initial` other than its start state resumes a recorded run at the state it
 * stopped in: the same states, guards and policies, entered where the run record says the run was.
 */
export function buildMachine<N extends string, C extends MachineContext>(workflow: WorkflowSpec<N, C>, initial: string = workflow.start) {
  if (!workflow.states.some((s) => s.name === initial)) throw new Error(`no state named ${initial}`);
  return setupFor(workflow).createMachine({
    id: workflow.id,
    // The whole run's bound, for the compiler (asl.ts), when the workflow sets one.
    ...(workflow.timeoutSeconds === undefined ? {} : { meta: { timeoutSeconds: workflow.timeoutSeconds } }),
    initial,
    context: ({ input }) => input,
    output: ({ context }) => context,
    // The spec is typed data; XState's config types cannot follow it through the builder.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    states: Object.fromEntries(workflow.states.map((s) => [s.name, stateConfig(s as AnyStateSpec)])) as any,
  });
}

export const replaceMemberMachine = buildMachine(REPLACE_WORKFLOW);

/** The machine of a workflow given as its spec or as its machine already (what the compilers take). */
export function machineOf(workflow: AnyWorkflowSpec | AnyStateMachine): AnyStateMachine {
  // Whatever its context, the builder reads only the fields its spec names.
  return 'root' in workflow ? workflow : buildMachine(workflow as unknown as WorkflowSpec<string, MachineContext>);
}

/** The spec a state of the machine carries in its meta. */
export function specOf(machine: AnyStateMachine, stateName: string): AnyStateSpec {
  const node = machine.root.states[stateName];
  if (!node) throw new Error(`machine has no state ${stateName}`);
  return (node.meta as { spec: AnyStateSpec }).spec;
}
