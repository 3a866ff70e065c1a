// The AWS cost of one successful run, from the compiled definition.
//
// State transitions are counted by EXECUTING the compiled ASL (compileAsl) locally with
// aws-local-stepfunctions and fake tasks that succeed along a chosen path: Step Functions bills one
// transition per state executed (Task, Choice, Wait, and the final Succeed), retries included. Lambda
// invocations are the task attempts of that execution. SSM commands are counted on real runs (the
// benchmark wraps the sandbox HostRunner: each runner.run is one SendCommand on AWS); Lambda
// duration is estimated from the measured step times.

import { compileAsl, type AslDefinition } from '../statemachine/asl.ts';
import type { WorkflowContext } from '../statemachine/context.ts';
import { taskSpec } from '../statemachine/spec.ts';
import type { StepOutput } from '../statemachine/machine.ts';

// Prices -----------------------------------------------------------------------------------------

export const PRICES = {
  source: 'published prices as of 2026-11 (us-east-1)',
  /** Step Functions Standard: $0.025 per 1,000 state transitions. */
  stepFunctionsPerTransition: 0.025 / 1000,
  /** Lambda: $0.20 per 1M requests. */
  lambdaPerRequest: 0.2 / 1_000_000,
  /** Lambda (x86): $0.0000166667 per GB-second. */
  lambdaPerGbSecond: 0.0000166667,
  /** The step functions' memory. */
  lambdaMemoryGb: 0.5,
  /** SSM Run Command with AWS-RunShellScript on EC2: no charge. */
  ssmPerCommand: 0,
  /** S3 Standard: $0.005 per 1,000 PUT/COPY/POST/LIST, $0.0004 per 1,000 GET/HEAD (DELETE free). */
  s3PerPut: 0.005 / 1000,
  s3PerGet: 0.0004 / 1000,
  /** DynamoDB on-demand: $0.625 per million write request units, $0.125 per million read request units. */
  dynamoPerWrite: 0.625 / 1_000_000,
  dynamoPerRead: 0.125 / 1_000_000,
} as const;

/** One line of the published price list, for the report. */
export const PRICE_LIST: ReadonlyArray<{ item: string; price: string }> = [
  { item: 'Step Functions Standard', price: '$0.025 per 1,000 state transitions' },
  { item: 'Lambda requests', price: '$0.20 per 1M requests' },
  { item: 'Lambda duration', price: '$0.0000166667 per GB-second (512 MB functions: $0.00000833335 per second)' },
  { item: 'SSM Run Command (AWS-RunShellScript on EC2)', price: 'no charge' },
  { item: 'S3 Standard requests', price: '$0.005 per 1,000 PUT, $0.0004 per 1,000 GET/HEAD, DELETE free' },
  { item: 'DynamoDB on-demand', price: '$0.625 per million writes, $0.125 per million reads' },
];

// Transitions by execution --------------------------------------------------------------------------

/** The guard fields the fakes set, and how many times a task fails (retryably) before it succeeds. */
export interface PathVariant {
  name: string;
  description: string;
  failedHostReachable: boolean;
  addedAsLearner: boolean;
  peerUrlsOnLocalhost: boolean;
  /** Task name → retryable failures before success (each is one more transition and invocation). */
  retries?: Record<string, number>;
}

export const VARIANTS: readonly PathVariant[] = [
  {
    name: 'learner, failed host unreachable',
    description: 'the measured path: the failed host is powered off (backup skipped), the new member joins as a learner and is promoted',
    failedHostReachable: false,
    addedAsLearner: true,
    peerUrlsOnLocalhost: false,
  },
  {
    name: 'learner, failed host reachable',
    description: 'etcd died but the host answers: StopFailedMember stops it and BackUpFailedMemberData runs',
    failedHostReachable: true,
    addedAsLearner: true,
    peerUrlsOnLocalhost: false,
  },
  {
    name: 'plain member add, failed host unreachable',
    description: '--learner never (or a member older than 3.4): no PromoteNewMember',
    failedHostReachable: false,
    addedAsLearner: false,
    peerUrlsOnLocalhost: false,
  },
];

export interface TransitionCount {
  variant: string;
  /** Every state executed, in order. */
  path: string[];
  /** Task attempts (Lambda invocations), retries included. */
  taskInvocations: number;
  /** Retries: task attempts beyond the first of each task state executed. */
  retries: number;
  /** Billed state transitions: states executed + retries. */
  transitions: number;
  finalState: string;
}

const BENCH_INPUT: WorkflowContext = {
  runId: 'r-cost-model',
  request: { cluster: 'ocp', failed: 'master-2', replacement: 'etcd-spare-0', startedBy: 'bench' },
  options: { graceSeconds: 0, learner: 'auto' },
};

/** A retryable error the task's own retry policy matches (its first rule's first error). */
function retryableErrorFor(task: string): Error {
  const name = taskSpec(task).retry[0]?.errors[0];
  if (!name) throw new Error(`${task} has no retry rule`);
  const error = new Error(`${task}: fake ${name} for the cost model`);
  error.name = name;
  return error;
}

/** Fake steps that succeed along the variant's path (after its retries). */
export function fakeSteps(variant: PathVariant): Record<string, (context: WorkflowContext) => Promise<StepOutput>> {
  const failuresLeft = new Map(Object.entries(variant.retries ?? {}));
  const step =
    (name: string, output: StepOutput = {}) =>
    async (): Promise<StepOutput> => {
      const left = failuresLeft.get(name) ?? 0;
      if (left > 0) {
        failuresLeft.set(name, left - 1);
        throw retryableErrorFor(name);
      }
      return output;
    };
  const outputs: Record<string, StepOutput> = {
    CheckClusterHealth: { peerUrlsOnLocalhost: variant.peerUrlsOnLocalhost },
    StopFailedMember: { failedHostReachable: variant.failedHostReachable },
    AddMember: { addedAsLearner: variant.addedAsLearner, memberAdded: true, newMemberId: '8e9e05c52164694d' },
  };
  const names = new Set([...Object.keys(outputs), ...Object.keys(variant.retries ?? {})]);
  return Object.fromEntries([...names].map((n) => [n, step(n, outputs[n])]));
}

/** Executes the compiled definition along the variant's path and counts what Step Functions bills. */
export async function countTransitions(variant: PathVariant, asl: AslDefinition = compileAsl()): Promise<TransitionCount> {
  const { runAslLocally, taskFnFromSteps } = await import('./aslLocalRun.ts');
  const run = await runAslLocally(asl, BENCH_INPUT, taskFnFromSteps(fakeSteps(variant)));
  if (run.status !== 'SUCCEEDED') throw new Error(`the ${variant.name} path did not succeed: ended on ${run.finalState} (${run.executionError?.Error ?? ''})`);
  const tasksExecuted = run.path.filter((s) => asl.States[s]?.Type === 'Task').length;
  const retries = run.invocations.length - tasksExecuted;
  return {
    variant: variant.name,
    path: run.path,
    taskInvocations: run.invocations.length,
    retries,
    transitions: run.path.length + retries,
    finalState: run.finalState,
  };
}

// Price per run -----------------------------------------------------------------------------------

export interface UsageEstimate {
  transitions: number;
  lambdaInvocations: number;
  /** Sum of the task attempts' durations (the Lambda waits for its SSM commands). */
  lambdaSeconds: number;
  /** Lambda INIT time billed per invocation (each task state has its own function: mostly cold). */
  lambdaInitSecondsPerInvocation: number;
  ssmCommands: number;
  s3: { put: number; get: number; head: number };
  dynamo: { writes: number; reads: number };
}

export interface CostLine {
  item: string;
  quantity: string;
  unitPrice: string;
  usd: number;
}

export interface RunCost {
  source: string;
  lines: CostLine[];
  totalUsd: number;
  /** Runs per US dollar, for scale. */
  runsPerDollar: number;
}

export function priceRun(u: UsageEstimate): RunCost {
  const gbSeconds = (u.lambdaSeconds + u.lambdaInitSecondsPerInvocation * u.lambdaInvocations) * PRICES.lambdaMemoryGb;
  const lines: CostLine[] = [
    {
      item: 'Step Functions state transitions',
      quantity: String(u.transitions),
      unitPrice: '$0.025 / 1,000',
      usd: u.transitions * PRICES.stepFunctionsPerTransition,
    },
    { item: 'Lambda requests', quantity: String(u.lambdaInvocations), unitPrice: '$0.20 / 1M', usd: u.lambdaInvocations * PRICES.lambdaPerRequest },
    {
      item: 'Lambda duration (512 MB)',
      quantity: `${gbSeconds.toFixed(2)} GB-s (${u.lambdaSeconds.toFixed(1)} s of steps + ${u.lambdaInitSecondsPerInvocation} s INIT × ${u.lambdaInvocations})`,
      unitPrice: '$0.0000166667 / GB-s',
      usd: gbSeconds * PRICES.lambdaPerGbSecond,
    },
    { item: 'SSM Run Command (AWS-RunShellScript)', quantity: String(u.ssmCommands), unitPrice: 'no charge', usd: u.ssmCommands * PRICES.ssmPerCommand },
    {
      item: 'S3 requests',
      quantity: `${u.s3.put} PUT, ${u.s3.get + u.s3.head} GET/HEAD`,
      unitPrice: '$0.005 / 1,000 PUT; $0.0004 / 1,000 GET',
      usd: u.s3.put * PRICES.s3PerPut + (u.s3.get + u.s3.head) * PRICES.s3PerGet,
    },
    {
      item: 'DynamoDB (lock)',
      quantity: `${u.dynamo.writes} writes, ${u.dynamo.reads} reads`,
      unitPrice: '$0.625 / 1M writes; $0.125 / 1M reads',
      usd: u.dynamo.writes * PRICES.dynamoPerWrite + u.dynamo.reads * PRICES.dynamoPerRead,
    },
  ];
  const totalUsd = lines.reduce((n, l) => n + l.usd, 0);
  return { source: PRICES.source, lines, totalUsd, runsPerDollar: totalUsd > 0 ? Math.floor(1 / totalUsd) : Number.POSITIVE_INFINITY };
}
