// The CLI against AWS: `run --target aws` starts an execution of the deployed state machine,
// `status` reads one back, `history --target aws` lists them. Each prints the run result document of
// the sandbox run (cli/runReport.ts) built from the execution history
// (functions/adapters/aws/executions.ts). Credentials come from the standard AWS SDK chain; the region
// is the one in the ARN, the only region the execution can be reached in.
//
// Exit codes: 0 succeeded (or started, without --wait), 1 failed, 2 bad input (nothing started),
// 3 refused (also: an execution of that name is still running), 4 still running (status).

import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { fileURLToPath } from 'node:url';
import { SFNClient } from '@aws-sdk/client-sfn';
import { Ajv, type ErrorObject } from 'ajv';
import {
  defaultExecutionName,
  EXECUTION_NAME,
  isExecutionArn,
  isStateMachineArn,
  regionOfArn,
  StepFunctionsExecutions,
  type RunDocument,
} from '../functions/adapters/aws/executions.ts';
import { InvalidInputError, errorMessage } from '../functions/errors.ts';
import { EXIT_USAGE, integerOption, parse, printJson, progress, runCommand, UsageError } from './common.ts';
import { EXIT_FOR_OUTCOME } from './runReport.ts';

/** `status` of an execution that has not ended yet. */
export const EXIT_RUNNING = 4;

export const RUN_USAGE = 'usage: etcd-replace run --target aws --state-machine-arn ARN --input FILE [--name EXECUTION_NAME] [--wait] [--json]';
export const STATUS_USAGE = 'usage: etcd-replace status EXECUTION_ARN [--json]';
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

function executions(arn: string, deps: AwsCliDeps): StepFunctionsExecutions {
  const region = regionOfArn(arn);
  const client = deps.client ? deps.client(region) : new SFNClient(region ? { region } : {});
  return new StepFunctionsExecutions(client);
}

/** Exit code of a run document, as for the sandbox run: 0 succeeded, 1 failed, 2 invalid input, 3 refused, 4 running. */
export function exitCodeForRun(run: Pick<RunDocument, 'outcome' | 'reason'>): number {
  if (run.outcome === 'running') return EXIT_RUNNING;
  if (run.outcome === 'failed' && run.reason?.startsWith('InvalidInputError')) return EXIT_USAGE;
  return EXIT_FOR_OUTCOME[run.outcome];
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** A human timeline of a run document, like the sandbox's. */
export function formatRun(run: RunDocument): string {
  const lines = [`run ${run.runId} (execution ${run.executionName}), started by ${run.startedBy ?? 'unknown'} at ${run.startedAt}`];
  for (const s of run.steps) {
    const took = s.endedAt === null ? 'running' : s.status === 'skipped' && s.attempts === 0 ? '' : seconds(Date.parse(s.endedAt) - Date.parse(s.startedAt));
    lines.push(`  ${s.name.padEnd(24)} ${s.status.padEnd(9)} ${took.padStart(7)}${s.attempts > 1 ? `  (${s.attempts} attempts)` : ''}`.trimEnd());
  }
  const total = run.endedAt ? seconds(Date.parse(run.endedAt) - Date.parse(run.startedAt)) : 'still running';
  lines.push(`  outcome: ${run.outcome}${run.reason ? ` — ${run.reason}` : ''} (${total})`);
  for (const r of run.remaining ?? []) lines.push(`  remaining: ${r}`);
  lines.push(`  ${run.executionArn}`);
  return lines.join('\n');
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

    const sfn = executions(stateMachineArn, deps);
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
      return running ? EXIT_FOR_OUTCOME.refused : exitCodeForRun(run);
    }
    if (!values.wait) {
      printJson({ executionArn: result.executionArn, startDate: result.startDate });
      progress(`started ${name}; follow it with: etcd-replace status ${result.executionArn}`);
      return 0;
    }
    progress(`started ${name}; waiting for it to end`);
    const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    let status = 'RUNNING';
    let last = status;
    while (status === 'RUNNING') {
      await sleep(deps.pollMs ?? DEFAULT_POLL_MS);
      status = await sfn.status(result.executionArn);
      if (status !== last) progress(`execution ${name}: ${status}`);
      last = status;
    }
    const run = await sfn.describeRun(result.executionArn);
    printRun(run, values.json, true);
    return exitCodeForRun(run);
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
    return exitCodeForRun(run);
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
