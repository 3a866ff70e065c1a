// Step Functions for the synthesized state machine: StartExecution runs the template's definition
// (its substitutions resolved to the functions' ARNs) on aws-local-stepfunctions. Each Task is the
// optimized Lambda integration (`arn:aws:states:::lambda:invoke`): the state machine's role must be
// allowed lambda:InvokeFunction on the FunctionName (IAM-checked), the function from the template runs
// with the Payload, and the result is `{ExecutedVersion, Payload, StatusCode}`, or on a function error
// the error named by its errorType with the error document as the cause, as Step Functions reports a
// Lambda failure. Waits and retry intervals take the time the definition says.
//
// The execution's history is kept as GetExecutionHistory returns it (ExecutionStarted,
// TaskStateEntered, TaskScheduled, TaskStarted, TaskSucceeded|TaskFailed, TaskStateExited, Choice and
// Wait states, Succeed/Fail, ExecutionSucceeded|ExecutionFailed), and DescribeExecution answers from
// it. "Step Functions Execution Status Change" events go to the event bus at the start and the end.

import { randomUUID } from 'node:crypto';
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
    const definition = this.machine.definition as unknown as StateMachineDefinition & {
      States: Record<string, { Type: string; Resource?: string; TimeoutSeconds?: number }>;
    };
    const taskNames = Object.keys(definition.States).filter((n) => definition.States[n]!.Type === 'Task');
    // Lets the state machine's own events (StateEntered, …) reach the history before a task's events.
    const drain = () => new Promise<void>((resolve) => setImmediate(resolve));
    const taskResourceLocalHandlers = Object.fromEntries(
      taskNames.map((stateName) => [
        stateName,
        async (effectiveInput: unknown) => {
          await drain();
          const state = definition.States[stateName]!;
          if (state.Resource !== 'arn:aws:states:::lambda:invoke') throw new Error(`${stateName}: resource ${state.Resource ?? ''} is not modelled`);
          const { FunctionName, Payload } = effectiveInput as { FunctionName: string; Payload: unknown };
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
          let result;
          try {
            result = await this.lambdas.invoke(FunctionName, Payload);
          } catch (error) {
            throw fail('Lambda.ResourceNotFoundException', (error as Error).message);
          }
          if (result.functionError) throw fail(result.errorType ?? 'Error', result.payload);
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
    const machine = new StateMachine(JSON.parse(JSON.stringify(definition)) as StateMachineDefinition, {
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
