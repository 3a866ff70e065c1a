// The CLI against AWS: `run --target aws` starts an execution of the deployed state machine,
// `status` reads one back, `history --target aws` lists them. Each prints the run result document of
// the sandbox run (cli/runReport.ts) built from the execution history
// (functions/adapters/aws/executions.ts). Credentials come from the standard AWS SDK chain; the region
// is the one in the ARN, the only region the execution can be reached in.
//
// Exit codes: 0 succeeded (or started, without --wait), 1 failed, 2 bad input (nothing started),
// 3 refused (also: an execution of that name is still running), 4 still running (status).
//
// Output: with --json, stdout is exactly one JSON document; progress, including the per-step lines of
// `run --wait` (the sandbox run's ▶/✓/✗, cli/runReport.ts), goes to stderr.

import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { fileURLToPath } from 'node:url';
import { GetExecutionHistoryCommand, SFNClient, type HistoryEvent } from '@aws-sdk/client-sfn';
import { Ajv, type ErrorObject } from 'ajv';
import {
  defaultExecutionName,
  EXECUTION_NAME,
  isExecutionArn,
  isStateMachineArn,
  reasonOf,
  regionOfArn,
  StepFunctionsExecutions,
  type RunDocument,
} from '../functions/adapters/aws/executions.ts';
import { InvalidInputError, errorMessage } from '../functions/errors.ts';
import { integerOption, parse, printJson, progress, runCommand, UsageError } from './common.ts';
import { HELP, usageOf } from './help.ts';
import { printProgress } from './runReport.ts';
import { EXIT_FOR_OUTCOME, exitCodeOfRun, formatRunView } from '../functions/workflow/runView.ts';
import type { ProgressEvent } from '../functions/workflow/localRun.ts';


export const RUN_USAGE = `usage: ${HELP.run.usage[1]}`;
export const STATUS_USAGE = usageOf('status');
export const HISTORY_USAGE = 'usage: etcd-replace history --target aws --state-machine-arn ARN [--limit N] [--json]';

const SCHEMA_FILE = fileURLToPath(new URL('../schemas/replace-request.schema.json', import.meta.url));
const DEFAULT_POLL_MS = 5000;
const MAX_HISTORY_LIMIT = 1000;

/** What the commands run on; tests pass a mocked client, a fake clock and an instant sleep. */
export interface AwsCliDeps {
  client?: (region: string | undefined) => SFNClient;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  pollMs?: number;
  user?: () => string;
}

function clientFor(arn: string, deps: AwsCliDeps): SFNClient {
  const region = regionOfArn(arn);
  return deps.client ? deps.client(region) : new SFNClient(region ? { region } : {});
}

function executions(arn: string, deps: AwsCliDeps): StepFunctionsExecutions {
  return new StepFunctionsExecutions(clientFor(arn, deps));
}

type Failure = { error?: string | undefined; cause?: string | undefined };

/** The error and cause of a task or Lambda failure event, whichever kind it is. */
function failureOf(event: HistoryEvent): Failure | undefined {
  return (
    event.taskFailedEventDetails ??
    event.taskTimedOutEventDetails ??
    event.taskStartFailedEventDetails ??
    event.taskSubmitFailedEventDetails ??
    event.lambdaFunctionFailedEventDetails ??
    event.lambdaFunctionTimedOutEventDetails ??
    event.lambdaFunctionStartFailedEventDetails ??
    event.lambdaFunctionScheduleFailedEventDetails ??
    event.executionFailedEventDetails ??
    event.executionTimedOutEventDetails ??
    event.executionAbortedEventDetails
  );
}

const FAILURE_EVENTS = new Set([
  'TaskFailed',
  'TaskTimedOut',
  'TaskStartFailed',
  'TaskSubmitFailed',
  'LambdaFunctionFailed',
  'LambdaFunctionTimedOut',
  'LambdaFunctionStartFailed',
  'LambdaFunctionScheduleFailed',
]);
const EXECUTION_END_EVENTS = new Set(['ExecutionSucceeded', 'ExecutionFailed', 'ExecutionTimedOut', 'ExecutionAborted']);

/**
 * An execution's history, read again as it grows, as the sandbox run's progress events: a task
 * scheduled starts a step (▶, or ↻ for a retry, after the failure it retries), a task state exiting
 * ends it (✓ or ✗ with the error), and an execution that ends inside a task ends that step with the
 * execution's error. Each event is handled once, by its id.
 */
export class HistoryProgress {
  private seen = 0;
  private open: { name: string; enteredAt: number; attempts: number; succeeded: boolean; failure?: { text: string; at: number } } | undefined;

  constructor(private readonly emit: (event: ProgressEvent) => void) {}

  /** The id of the newest event handled so far (0 before any). */
  get lastEventId(): number {
    return this.seen;
  }

  /** Handles the events newer than the last one handled, in id order. */
  update(events: readonly HistoryEvent[]): void {
    const fresh = events.filter((e) => (e.id ?? 0) > this.seen).sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
    for (const event of fresh) {
      this.seen = event.id ?? this.seen;
      this.handle(event);
    }
  }

  private handle(event: HistoryEvent): void {
    const at = event.timestamp?.getTime() ?? Date.now();
    const open = this.open;
    const type = event.type ?? '';
    if (type === 'TaskStateEntered') {
      this.open = { name: event.stateEnteredEventDetails?.name ?? 'unknown', enteredAt: at, attempts: 0, succeeded: false };
    } else if (type === 'WaitStateEntered') {
      this.emit({ type: 'state', state: event.stateEnteredEventDetails?.name ?? 'unknown' });
    } else if (!open) {
      return;
    } else if (type === 'TaskScheduled' || type === 'LambdaFunctionScheduled') {
      open.attempts += 1;
      if (open.failure) {
        const delaySeconds = Math.round((at - open.failure.at) / 100) / 10;
        this.emit({ type: 'step-retry', step: open.name, attempt: open.attempts, error: open.failure.text, delaySeconds });
        delete open.failure;
      }
      this.emit({ type: 'step-start', step: open.name, attempt: open.attempts });
    } else if (type === 'TaskSucceeded' || type === 'LambdaFunctionSucceeded') {
      open.succeeded = true;
      delete open.failure;
    } else if (FAILURE_EVENTS.has(type)) {
      const failure = failureOf(event);
      open.failure = { text: reasonOf(failure?.error, failure?.cause) ?? type, at };
    } else if (type === 'TaskStateExited' || EXECUTION_END_EVENTS.has(type)) {
      const failure = type === 'TaskStateExited' ? undefined : failureOf(event);
      const detail = open.failure?.text ?? (failure ? (reasonOf(failure.error, failure.cause) ?? '') : '');
      const status = open.succeeded ? 'succeeded' : 'failed';
      this.emit({ type: 'step-end', step: open.name, status, ms: at - open.enteredAt, detail: status === 'failed' ? detail || type : '', attempts: open.attempts });
      this.open = undefined;
    }
  }
}

/** The history events after `afterId`, oldest first: newest-first pages are read until they reach it. */
async function eventsAfter(client: SFNClient, executionArn: string, afterId: number): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const out = await client.send(new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 100, includeExecutionData: true, ...(nextToken ? { nextToken } : {}) }));
    const page = out.events ?? [];
    events.push(...page);
    if (page.some((e) => (e.id ?? 0) <= afterId)) break;
    nextToken = out.nextToken;
  } while (nextToken);
  return events.filter((e) => (e.id ?? 0) > afterId).sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
}

/** A human timeline of a run document, like the sandbox's, with the execution's ARN. */
export function formatRun(run: RunDocument): string {
  return formatRunView(run, `run ${run.runId} (execution ${run.executionName}), started by ${run.startedBy ?? 'unknown'} at ${run.startedAt}`, [`  ${run.executionArn}`]);
}

function schemaErrorText(error: ErrorObject): string {
  const where = error.instancePath === '' ? '(input)' : error.instancePath;
  const extra = error.keyword === 'additionalProperties' ? ` "${String((error.params as { additionalProperty?: unknown }).additionalProperty)}"` : '';
  return `${where} ${error.message ?? 'is invalid'}${extra}`;
}

/**
 * The execution input from FILE: a replace request (schemas/replace-request.schema.json). A missing
 * `startedBy` becomes `cli:<user>`; the result must pass the schema, else InvalidInputError (exit 2)
 * lists every violation and nothing is started.
 */
export async function readRequest(file: string, user: () => string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new InvalidInputError('--input', `cannot read ${file}: ${errorMessage(error)}`);
  }
  let request: unknown;
  try {
    request = JSON.parse(text);
  } catch (error) {
    throw new InvalidInputError('--input', `${file} is not JSON: ${errorMessage(error)}`);
  }
  if (typeof request === 'object' && request !== null && !Array.isArray(request) && !('startedBy' in request)) {
    request = { ...request, startedBy: `cli:${user()}` };
  }
  const schema = JSON.parse(await readFile(SCHEMA_FILE, 'utf8')) as object;
  const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);
  if (!validate(request)) {
    throw new InvalidInputError('--input', `${file} does not match schemas/replace-request.schema.json:\n  ${(validate.errors ?? []).map(schemaErrorText).join('\n  ')}`);
  }
  return request as Record<string, unknown>;
}

function printRun(run: RunDocument, json: boolean, toStderr = false): void {
  if (json) printJson(run);
  else if (toStderr) progress(formatRun(run));
  else process.stdout.write(`${formatRun(run)}\n`);
}

function stateMachineArnOption(value: string | undefined, usage: string): string {
  if (!value) throw new UsageError(`--state-machine-arn is required with --target aws (the stack's StateMachineArn output)\n${usage}`);
  if (!isStateMachineArn(value)) throw new UsageError(`--state-machine-arn: "${value}" is not a state machine ARN (arn:aws:states:REGION:ACCOUNT:stateMachine:NAME)`);
  return value;
}

/** `etcd-replace run --target aws …` */
export function awsRunCommand(argv: string[], deps: AwsCliDeps = {}): Promise<number> {
  return runCommand(async () => {
    const { values } = parse(
      argv,
      {
        target: { type: 'string' },
        'state-machine-arn': { type: 'string' },
        input: { type: 'string' },
        name: { type: 'string' },
        wait: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
      },
      RUN_USAGE,
    );
    if (values.target !== 'aws') throw new UsageError(RUN_USAGE);
    const stateMachineArn = stateMachineArnOption(values['state-machine-arn'], RUN_USAGE);
    if (!values.input) throw new UsageError(`--input FILE is required (a replace request; see schemas/examples/)\n${RUN_USAGE}`);
    if (values.name !== undefined && !EXECUTION_NAME.test(values.name)) throw new UsageError(`--name must be 1 to 80 of A-Z a-z 0-9 - _, got "${values.name}"`);
    const request = await readRequest(values.input, deps.user ?? (() => userInfo().username));
    const now = deps.now ?? (() => new Date());
    const name = values.name ?? defaultExecutionName({ cluster: String(request['cluster']), failed: String(request['failed']) }, now());

    const client = clientFor(stateMachineArn, deps);
    const sfn = new StepFunctionsExecutions(client);
    const result = await sfn.start(stateMachineArn, name, request);
    if (!result.started) {
      const run = result.existing;
      const running = run.outcome === 'running';
      progress(
        running
          ? `an execution named ${name} is already running (started ${run.startedAt} by ${run.startedBy ?? 'unknown'}): nothing started`
          : `an execution named ${name} already ran (started ${run.startedAt}, ${run.outcome}): nothing started; to start another run give it a new --name`,
      );
      printRun(run, values.json);
      return running ? EXIT_FOR_OUTCOME.refused : exitCodeOfRun(run);
    }
    if (!values.wait) {
      if (values.json) {
        printJson({ executionArn: result.executionArn, startDate: result.startDate });
        progress(`started ${name}; follow it with: etcd-replace status ${result.executionArn}`);
      } else {
        process.stdout.write(`started execution ${name} at ${result.startDate}\n  ${result.executionArn}\nfollow it with: etcd-replace status ${result.executionArn}\n`);
      }
      return 0;
    }
    progress(`started ${name}; waiting for it to end`);
    const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    const steps = new HistoryProgress(printProgress);
    let historyUnreadable = false;
    let status = 'RUNNING';
    let last = status;
    while (status === 'RUNNING') {
      await sleep(deps.pollMs ?? DEFAULT_POLL_MS);
      status = await sfn.status(result.executionArn);
      // The step lines are progress only: a history that cannot be read now leaves them out, not the wait.
      try {
        steps.update(await eventsAfter(client, result.executionArn, steps.lastEventId));
      } catch (error) {
        if (!historyUnreadable) progress(`(step progress unavailable: ${errorMessage(error)})`);
        historyUnreadable = true;
      }
      if (status !== last) progress(`execution ${name}: ${status}`);
      last = status;
    }
    const run = await sfn.describeRun(result.executionArn);
    printRun(run, values.json, true);
    return exitCodeOfRun(run);
  });
}

/** `etcd-replace status EXECUTION_ARN` */
export function statusCommand(argv: string[], deps: AwsCliDeps = {}): Promise<number> {
  return runCommand(async () => {
    const { values, positionals } = parse(argv, { json: { type: 'boolean', default: false } }, STATUS_USAGE, true);
    if (positionals.length !== 1) throw new UsageError(STATUS_USAGE);
    const executionArn = positionals[0]!;
    if (!isExecutionArn(executionArn)) throw new UsageError(`"${executionArn}" is not an execution ARN (arn:aws:states:REGION:ACCOUNT:execution:STATE_MACHINE:NAME)\n${STATUS_USAGE}`);
    const run = await executions(executionArn, deps).describeRun(executionArn);
    printRun(run, values.json);
    return exitCodeOfRun(run);
  });
}

/** `etcd-replace history --target aws …` */
export function awsHistoryCommand(argv: string[], deps: AwsCliDeps = {}): Promise<number> {
  return runCommand(async () => {
    const { values } = parse(
      argv,
      { target: { type: 'string' }, 'state-machine-arn': { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean', default: false } },
      HISTORY_USAGE,
    );
    if (values.target !== 'aws') throw new UsageError(HISTORY_USAGE);
    const stateMachineArn = stateMachineArnOption(values['state-machine-arn'], HISTORY_USAGE);
    const limit = integerOption('limit', values.limit, 20);
    if (limit < 1 || limit > MAX_HISTORY_LIMIT) throw new UsageError(`--limit must be from 1 to ${MAX_HISTORY_LIMIT}`);
    const runs = await executions(stateMachineArn, deps).listRuns(stateMachineArn, limit);
    if (values.json) printJson(runs);
    else if (runs.length === 0) process.stdout.write('no executions\n');
    else process.stdout.write(`${runs.map(formatRun).join('\n\n')}\n`);
    return 0;
  });
}
