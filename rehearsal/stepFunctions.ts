// Step Functions for the synthesized state machine: StartExecution runs the template's definition
// (its substitutions resolved to the functions' ARNs) on aws-local-stepfunctions. Each Task is the
// optimized Lambda integration (`arn:aws:states:::lambda:invoke`): the state machine's role must be
// allowed lambda:InvokeFunction on the FunctionName (IAM-checked), the function from the template runs
// with the Payload, and the result is `{ExecutedVersion, Payload, StatusCode}`, or on a function error
// the error named by its errorType with the error document as the cause, as Step Functions reports a
// Lambda failure. Waits and retry intervals take the time the definition says.
//
// A task that waits for a task token (`arn:aws:states:::lambda:invoke.waitForTaskToken`, the restore's
// AwaitApproval), which aws-local-stepfunctions does not run, is run the way Step Functions runs it:
// each attempt gets a new opaque token in its Payload (`taskToken`), the function runs with it, and the
// task then waits, its Lambda's result recorded as TaskSubmitted, until sendTaskSuccess (its output is the
// task's result, put at the state's ResultPath), sendTaskFailure (the error and cause given), or the
// heartbeat (HeartbeatSeconds[Path], reset by sendTaskHeartbeat) or TimeoutSeconds passes
// (States.HeartbeatTimeout, States.Timeout: TaskTimedOut). A token whose task has ended is answered with
// TaskTimedOut, an unknown one with InvalidToken, as the API does.
//
// The execution's history is kept as GetExecutionHistory returns it (ExecutionStarted,
// TaskStateEntered, TaskScheduled, TaskStarted, TaskSucceeded|TaskFailed, TaskStateExited, Choice and
// Wait states, Succeed/Fail, ExecutionSucceeded|ExecutionFailed), and DescribeExecution answers from
// it. "Step Functions Execution Status Change" events go to the event bus at the start and the end.

import { randomBytes, randomUUID } from 'node:crypto';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
// aws-local-stepfunctions 3 needs Promise.withResolvers (Node 22+): the project's runner installs it on Node 20.
import '../bench/aslLocalRun.ts';
import type { IamCheck } from './iam.ts';
import type { LambdaService } from './lambdaService.ts';
import type { Role } from './template.ts';

export interface HistoryEvent {
  id: number;
  previousEventId: number;
  timestamp: number;
  type: string;
  [details: string]: unknown;
}

export interface Execution {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  startDate: number;
  stopDate?: number;
  input: string;
  output?: string;
  error?: string;
  cause?: string;
  history: HistoryEvent[];
  done: Promise<void>;
}

export const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';
export const LAMBDA_INVOKE_WAIT_FOR_TOKEN = 'arn:aws:states:::lambda:invoke.waitForTaskToken';

/** An error the Step Functions API answers with (its code is the error's name). */
export class TaskTokenError extends Error {
  constructor(
    readonly code: 'InvalidToken' | 'TaskTimedOut' | 'InvalidOutput',
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

interface PendingTask {
  executionArn: string;
  stateName: string;
  ended: boolean;
  succeed: (output: unknown) => void;
  fail: (error: string, cause: string) => void;
  heartbeat: () => void;
  /** The task ended otherwise (its function failed): no answer is taken any more, its timers stop. */
  cancel: () => void;
}

type TaskState = {
  Type: string;
  Resource?: string;
  TimeoutSeconds?: number;
  HeartbeatSeconds?: number;
  HeartbeatSecondsPath?: string;
  Parameters?: { FunctionName?: string; Payload?: Record<string, unknown> };
};

/** `$.a.b` of a value: the reference paths the compiled definitions use (no filters, no wildcards). */
function atPath(value: unknown, path: string): unknown {
  if (!/^\$(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(path)) throw new Error(`reference path ${path} is not modelled`);
  return path
    .split('.')
    .slice(1)
    .reduce<unknown>((v, key) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined), value);
}

/**
 * What aws-local-stepfunctions runs: each task-token state as a plain invoke without `$$.Task.Token` and
 * without the heartbeat (this service mints the token and keeps the time), its ResultPath kept. The
 * runner's own limit on the task (60 s when none is given) is set a second past the state's, which this
 * service enforces first, with the history events Step Functions writes.
 */
export function localDefinition(definition: { States: Record<string, TaskState> }): { States: Record<string, TaskState> } {
  const copy = structuredClone(definition);
  for (const state of Object.values(copy.States)) {
    if (state.Type !== 'Task' || state.Resource !== LAMBDA_INVOKE_WAIT_FOR_TOKEN) continue;
    state.Resource = LAMBDA_INVOKE;
    delete state.HeartbeatSecondsPath;
    delete state.HeartbeatSeconds;
    state.TimeoutSeconds = (state.TimeoutSeconds ?? 99_999_999) + 1;
    if (state.Parameters?.Payload) delete state.Parameters.Payload['taskToken.$'];
  }
  return copy;
}

const STATE_KINDS: Record<string, string> = {
  Task: 'Task',
  Choice: 'Choice',
  Wait: 'Wait',
  Pass: 'Pass',
  Succeed: 'Succeed',
  Fail: 'Fail',
  Parallel: 'Parallel',
  Map: 'Map',
};

export class StepFunctionsService {
  readonly executions = new Map<string, Execution>();
  /** Every task token handed out, by token: the tasks waiting for an answer, and those that ended. */
  readonly #tokens = new Map<string, PendingTask>();
  /** The state machine's tags, as ListTagsForResource answers (the run table's: `approve` finds the table by it). */
  tags: Record<string, string> = {};

  constructor(
    private readonly machine: { arn: string; name: string; roleArn: string; definition: Record<string, unknown> },
    private readonly machineRole: Role,
    private readonly lambdas: LambdaService,
    private readonly iam: IamCheck,
    private readonly region: string,
    private readonly onStatusChange: (execution: Execution) => void,
  ) {}

  get stateMachineArn(): string {
    return this.machine.arn;
  }

  describe(executionArn: string): Execution | undefined {
    return this.executions.get(executionArn);
  }

  /** The tasks that wait for an answer now: their execution, state and token (what a test or the report reads). */
  waiting(): Array<{ executionArn: string; stateName: string; token: string }> {
    return [...this.#tokens.entries()].filter(([, t]) => !t.ended).map(([token, t]) => ({ executionArn: t.executionArn, stateName: t.stateName, token }));
  }

  /** Whether this state machine handed the token out (its task may have ended). */
  knowsToken(token: string): boolean {
    return this.#tokens.has(token);
  }

  #pending(token: string): PendingTask {
    const task = this.#tokens.get(token);
    if (!task) throw new TaskTokenError('InvalidToken', 'Invalid Token');
    if (task.ended) throw new TaskTokenError('TaskTimedOut', 'Task Timed Out');
    return task;
  }

  /** SendTaskSuccess: `output` (JSON text) becomes the task's result. */
  sendTaskSuccess(token: string, output: string): void {
    const task = this.#pending(token);
    let parsed: unknown;
    try {
      parsed = JSON.parse(output);
    } catch {
      throw new TaskTokenError('InvalidOutput', 'Invalid Output');
    }
    task.succeed(parsed);
  }

  /** SendTaskFailure: the task fails with `error` (Catch and Retry match it) and `cause`. */
  sendTaskFailure(token: string, error = '', cause = ''): void {
    this.#pending(token).fail(error, cause);
  }

  /** SendTaskHeartbeat: the heartbeat's time starts again. */
  sendTaskHeartbeat(token: string): void {
    this.#pending(token).heartbeat();
  }

  /**
   * After the function of a task-token state returned: wait for the answer, or the heartbeat or the
   * state's timeout, whichever comes first.
   */
  #waitForAnswer(
    token: string,
    execution: Execution,
    stateName: string,
    state: TaskState,
    stateInput: unknown,
    push: (type: string, details?: Record<string, unknown>) => void,
  ): { registered: PendingTask; answer: Promise<unknown> } {
    const heartbeatSeconds = state.HeartbeatSeconds ?? (state.HeartbeatSecondsPath ? Number(atPath(stateInput, state.HeartbeatSecondsPath)) : undefined);
    if (heartbeatSeconds !== undefined && !(Number.isInteger(heartbeatSeconds) && heartbeatSeconds > 0)) {
      throw Object.assign(new Error(`${stateName}: the heartbeat ${String(heartbeatSeconds)} is not a positive integer`), { name: 'States.Runtime' });
    }
    let heartbeatTimer: NodeJS.Timeout | undefined;
    let timeoutTimer: NodeJS.Timeout | undefined;
    let settle!: { resolve: (v: unknown) => void; reject: (e: Error) => void };
    const answer = new Promise<unknown>((resolve, reject) => {
      settle = { resolve, reject };
    });
    // Awaited once the function has returned; an answer that comes while it runs must not go unhandled.
    answer.catch(() => {});
    const end = () => {
      registered.ended = true;
      clearTimeout(heartbeatTimer);
      clearTimeout(timeoutTimer);
    };
    const timedOut = (error: string, cause: string) => {
      if (registered.ended) return;
      end();
      push('TaskTimedOut', { taskTimedOutEventDetails: { resourceType: 'lambda', resource: 'invoke.waitForTaskToken', error, cause } });
      settle.reject(Object.assign(new Error(cause), { name: error }));
    };
    const armHeartbeat = () => {
      if (heartbeatSeconds === undefined) return;
      clearTimeout(heartbeatTimer);
      heartbeatTimer = setTimeout(() => timedOut('States.HeartbeatTimeout', `no heartbeat or answer within ${heartbeatSeconds} s`), heartbeatSeconds * 1000);
    };
    const registered: PendingTask = {
      executionArn: execution.executionArn,
      stateName,
      ended: false,
      succeed: (output) => {
        end();
        push('TaskSucceeded', {
          taskSucceededEventDetails: {
            resourceType: 'lambda',
            resource: 'invoke.waitForTaskToken',
            output: JSON.stringify(output),
            outputDetails: { truncated: false },
          },
        });
        settle.resolve(output);
      },
      fail: (error, cause) => {
        end();
        push('TaskFailed', { taskFailedEventDetails: { resourceType: 'lambda', resource: 'invoke.waitForTaskToken', error, cause } });
        settle.reject(Object.assign(new Error(cause), { name: error }));
      },
      heartbeat: armHeartbeat,
      cancel: () => end(),
    };
    this.#tokens.set(token, registered);
    armHeartbeat();
    if (state.TimeoutSeconds !== undefined) {
      timeoutTimer = setTimeout(() => timedOut('States.Timeout', `no answer within ${state.TimeoutSeconds} s`), state.TimeoutSeconds * 1000);
    }
    return { registered, answer };
  }

  start(input: string, name: string = randomUUID()): Execution {
    const executionArn = `${this.machine.arn.replace(':stateMachine:', ':execution:')}:${name}`;
    if (this.executions.has(executionArn)) throw Object.assign(new Error(`Execution Already Exists: '${executionArn}'`), { name: 'ExecutionAlreadyExists' });
    const startDate = Date.now();
    const execution: Execution = {
      executionArn,
      stateMachineArn: this.machine.arn,
      name,
      status: 'RUNNING',
      startDate,
      input,
      history: [],
      done: Promise.resolve(),
    };
    const push = (type: string, details: Record<string, unknown> = {}) => {
      const id = execution.history.length + 1;
      execution.history.push({ id, previousEventId: id - 1, timestamp: Date.now(), type, ...details });
    };
    push('ExecutionStarted', { executionStartedEventDetails: { input, inputDetails: { truncated: false }, roleArn: this.machine.roleArn } });
    this.executions.set(executionArn, execution);
    this.onStatusChange(execution);
    execution.done = this.#run(execution, push);
    return execution;
  }

  async #run(execution: Execution, push: (type: string, details?: Record<string, unknown>) => void): Promise<void> {
    const definition = this.machine.definition as unknown as StateMachineDefinition & { States: Record<string, TaskState> };
    const taskNames = Object.keys(definition.States).filter((n) => definition.States[n]!.Type === 'Task');
    // Lets the state machine's own events (StateEntered, …) reach the history before a task's events.
    const drain = () => new Promise<void>((resolve) => setImmediate(resolve));
    const taskResourceLocalHandlers = Object.fromEntries(
      taskNames.map((stateName) => [
        stateName,
        async (effectiveInput: unknown) => {
          await drain();
          const state = definition.States[stateName]!;
          const waitsForToken = state.Resource === LAMBDA_INVOKE_WAIT_FOR_TOKEN;
          if (state.Resource !== LAMBDA_INVOKE && !waitsForToken) throw new Error(`${stateName}: resource ${state.Resource ?? ''} is not modelled`);
          const { FunctionName } = effectiveInput as { FunctionName: string; Payload: unknown };
          let { Payload } = effectiveInput as { FunctionName: string; Payload: unknown };
          // A new token for each attempt, where the definition puts `$$.Task.Token` (the task's Payload).
          const token = waitsForToken ? randomBytes(96).toString('base64url') : undefined;
          if (token !== undefined && state.Parameters?.Payload?.['taskToken.$'] === '$$.Task.Token') Payload = { ...(Payload as object), taskToken: token };
          push('TaskScheduled', {
            taskScheduledEventDetails: {
              resourceType: 'lambda',
              resource: 'invoke',
              region: this.region,
              parameters: JSON.stringify(effectiveInput),
              ...(state.TimeoutSeconds ? { timeoutInSeconds: state.TimeoutSeconds } : {}),
            },
          });
          const fail = (error: string, cause: string) => {
            push('TaskFailed', { taskFailedEventDetails: { resourceType: 'lambda', resource: 'invoke', error, cause } });
            return Object.assign(new Error(cause), { name: error });
          };
          const call = await this.iam.check({
            caller: this.machine.name,
            role: this.machineRole,
            action: 'lambda:InvokeFunction',
            resource: FunctionName,
            via: 'service',
          });
          if (call.verdict !== 'Allowed') {
            throw fail(
              'Lambda.AWSLambdaException',
              `User: ${this.machineRole.arn} is not authorized to perform: lambda:InvokeFunction on resource: ${FunctionName} (Service: Lambda, Status Code: 403, Error Code: AccessDeniedException)`,
            );
          }
          push('TaskStarted', { taskStartedEventDetails: { resourceType: 'lambda', resource: 'invoke' } });
          // The wait starts before the function runs: an answer may come while it still runs.
          const wait =
            token === undefined ? undefined : this.#waitForAnswer(token, execution, stateName, state, (Payload as { context?: unknown }).context, push);
          let result;
          try {
            result = await this.lambdas.invoke(FunctionName, Payload);
          } catch (error) {
            wait?.registered.cancel();
            throw fail('Lambda.ResourceNotFoundException', (error as Error).message);
          }
          if (result.functionError) {
            wait?.registered.cancel();
            throw fail(result.errorType ?? 'Error', result.payload);
          }
          if (wait) {
            push('TaskSubmitted', {
              taskSubmittedEventDetails: {
                resourceType: 'lambda',
                resource: 'invoke.waitForTaskToken',
                output: result.payload,
                outputDetails: { truncated: false },
              },
            });
            return await wait.answer;
          }
          const output = {
            ExecutedVersion: '$LATEST',
            Payload: JSON.parse(result.payload) as unknown,
            SdkHttpMetadata: { httpStatusCode: 200 },
            SdkResponseMetadata: { requestId: randomUUID() },
            StatusCode: 200,
          };
          push('TaskSucceeded', {
            taskSucceededEventDetails: { resourceType: 'lambda', resource: 'invoke', output: JSON.stringify(output), outputDetails: { truncated: false } },
          });
          return output;
        },
      ]),
    );
    const machine = new StateMachine(localDefinition(definition) as unknown as StateMachineDefinition, {
      validationOptions: { checkArn: true, checkPaths: true },
    });
    const run = machine.run(
      JSON.parse(execution.input) as never,
      {
        overrides: { taskResourceLocalHandlers },
        context: {
          Execution: {
            Id: execution.executionArn,
            Name: execution.name,
            RoleArn: this.machine.roleArn,
            StartTime: new Date(execution.startDate).toISOString(),
          },
        },
      } as never,
    );
    const collect = (async () => {
      for await (const event of run.eventLogs as AsyncIterable<{ type: string; state?: { name: string; type: string; input: unknown; output?: unknown } }>) {
        const kind = event.state ? (STATE_KINDS[event.state.type] ?? event.state.type) : '';
        if (event.type === 'StateEntered' && event.state) {
          push(`${kind}StateEntered`, {
            stateEnteredEventDetails: { name: event.state.name, input: JSON.stringify(event.state.input), inputDetails: { truncated: false } },
          });
        } else if (event.type === 'StateExited' && event.state) {
          push(`${kind}StateExited`, {
            stateExitedEventDetails: { name: event.state.name, output: JSON.stringify(event.state.output), outputDetails: { truncated: false } },
          });
        }
      }
    })();
    try {
      const output = await run.result;
      await collect;
      execution.status = 'SUCCEEDED';
      execution.output = JSON.stringify(output);
      push('ExecutionSucceeded', { executionSucceededEventDetails: { output: execution.output, outputDetails: { truncated: false } } });
    } catch (error) {
      await collect;
      const cause = (error as { cause?: unknown }).cause;
      const e = cause instanceof Error ? cause : (error as Error);
      execution.status = 'FAILED';
      execution.error = e.name;
      execution.cause = e.message;
      push('ExecutionFailed', { executionFailedEventDetails: { error: execution.error, cause: execution.cause } });
    }
    execution.stopDate = Date.now();
    this.onStatusChange(execution);
  }
}
