// The XState v5 machine: the one model of the workflow. Built from spec.ts; every actor, guard and
// delay is named in setup(). Step implementations are swapped in with machine.provide().

import { assign, fromPromise, setup, type AnyStateMachine } from 'xstate';
import type { WorkflowContext } from './context.ts';
import { errorMatches, toRecordedError } from './recordedError.ts';
import { GUARDS, START_STATE, STATES, TASKS, type CatchRule, type StateSpec } from './spec.ts';

/** What a step actor resolves with: the fields it adds to the context. */
export type StepOutput = Partial<WorkflowContext>;

export type StepActorLogic = ReturnType<typeof fromPromise<StepOutput, WorkflowContext>>;

function unprovided(name: string): StepActorLogic {
  return fromPromise<StepOutput, WorkflowContext>(async () => {
    throw new Error(`step ${name} has no implementation; provide it with machine.provide()`);
  });
}

const actors = Object.fromEntries(TASKS.map((t) => [t.name, unprovided(t.name)])) as Record<string, StepActorLogic>;

const guards = {
  ...Object.fromEntries(GUARDS.map((g) => [g.name, ({ context }: { context: WorkflowContext }) => context[g.field] === true])),
  /** The caught error is one of `errors` (ErrorEquals). */
  errorMatches: ({ event }: { event: { error?: unknown } }, params: { errors: string[] }) => errorMatches(toRecordedError(event.error).Error, params.errors),
  /** The run carries no error: it succeeded. */
  noError: ({ context }: { context: WorkflowContext }) => context.error === undefined,
  /** The recorded error is a refusal. */
  errorIn: ({ context }: { context: WorkflowContext }, params: { errors: string[] }) =>
    context.error !== undefined && params.errors.includes(context.error.Error),
};

const delays = {
  /** What is left of the grace window after the first observation (nothing once it has passed). */
  graceWindow: ({ context }: { context: WorkflowContext }) =>
    context.confirmFailureAfter === undefined ? context.options.graceSeconds * 1000 : Math.max(0, Date.parse(context.confirmFailureAfter) - Date.now()),
};

const base = setup({
  types: {
    context: {} as WorkflowContext,
    input: {} as WorkflowContext,
    output: {} as WorkflowContext,
    events: {} as { type: string; error?: unknown; output?: StepOutput },
  },
  actors,
  guards,
  delays,
  actions: {
    mergeStepOutput: assign(({ context }, params: { output: StepOutput }) => ({ ...context, ...params.output })),
    recordError: assign(({ context }, params: { error: unknown; field: 'error' | 'cleanupError' | 'none' }) =>
      params.field === 'none' ? context : { ...context, [params.field]: toRecordedError(params.error) },
    ),
  },
});

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

function stateConfig(spec: StateSpec): Record<string, unknown> {
  const meta = { spec };
  switch (spec.kind) {
    case 'task':
      return {
        meta,
        invoke: {
          id: spec.name,
          src: spec.name,
          input: ({ context }: { context: WorkflowContext }) => context,
          onDone: {
            target: spec.next,
            actions: { type: 'mergeStepOutput', params: ({ event }: { event: { output: StepOutput } }) => ({ output: event.output }) },
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
 * The machine. `initial` other than the start state resumes a recorded run at the state it stopped in:
 * the same states, guards and policies, entered where the run record says the run was.
 */
export function buildMachine(initial: string = START_STATE) {
  if (!STATES.some((s) => s.name === initial)) throw new Error(`no state named ${initial}`);
  return base.createMachine({
    id: 'ReplaceFailedEtcdMember',
    initial,
    context: ({ input }) => input,
    output: ({ context }) => context,
    // The spec is typed data; XState's config types cannot follow it through the builder.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    states: Object.fromEntries(STATES.map((s) => [s.name, stateConfig(s)])) as any,
  });
}

export const replaceMemberMachine = buildMachine();

/** The spec a state of the machine carries in its meta. */
export function specOf(machine: AnyStateMachine, stateName: string): StateSpec {
  const node = machine.root.states[stateName];
  if (!node) throw new Error(`machine has no state ${stateName}`);
  return (node.meta as { spec: StateSpec }).spec;
}
