// The step Lambda: one function runs every task state of its workflow (the event names the step). It
// runs the step code of functions/steps/ over the AWS adapters and returns the whole new context, which
// the state machine takes as the state's output (`OutputPath: $.Payload`). Each step is held to its own
// state's TimeoutSeconds (functions/workflow/stepDeadline.ts): the function's timeout is the longest
// step's, and a step the state machine gave up on must not run on beside its next try.
//
// Errors are rethrown unchanged: Lambda reports `errorType` = the error's `name` (the class name, see
// functions/errors.ts), which is what the state machine's Retry and Catch match on.
//
// Around each invocation (functions/handlers/observability.ts):
// - every log line is JSON with `runId`, `executionArn`, `step` and `cluster`, the step's own progress
//   lines included; the summary line names the outcome, the duration and the error's class, never the
//   context (no secrets are in it by design, but it still names hosts and keys that do not belong in logs);
// - metrics StepDuration (ms) and, on failure, StepErrors, dimensions ClusterName and Step;
// - an X-Ray subsegment annotated with the run, around the step's traced SDK calls;
// - the step's one-line detail (what it changed or found, or the error) is kept beside the run's audit
//   record (auditStore.ts); failing to keep it never fails the step.
// The steps read the earlier runs on their cluster from the audit records (StepDeps.pastRuns), as the
// sandbox reads its run records.
// A run's next step may land in another container, and a container runs other runs' steps in between:
// what a host runner holds is no run's state. The one-time keys hosts made ahead for later commands'
// secrets ride in the context instead (functions/hosts/keysAhead.ts), handed to the runner before each
// step (replacing whatever it held) and written back after it: public material only.

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import { errorMessage, errorName, InvalidInputError } from '../errors.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import type { RunRecord } from '../ports.ts';
import { STEPS } from '../steps/index.ts';
import { RESTORE_STEPS } from '../steps/restoreSteps.ts';
import { RESTORE_WORKFLOW } from '../../statemachine/restoreSpec.ts';
import type { TaskSpec } from '../../statemachine/spec.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import { taskSpec } from '../../statemachine/spec.ts';
import { withLockHeld } from '../workflow/lockRenewal.ts';
import { withStepDeadline } from '../workflow/stepDeadline.ts';
import { awsDeps, createAwsClients } from '../adapters/aws/deps.ts';
import { oneLine, type StepDetail } from '../adapters/aws/auditRecord.ts';
import { AuditStore } from '../adapters/aws/auditStore.ts';
import * as validate from '../validate.ts';
import { contextFromEvent, deploymentOptions, stepOutputOf, type StepEvent } from './event.ts';
import { withKeysAhead, withKeysLeft } from '../hosts/keysAhead.ts';
import { createLogger, createMetrics, createTracer, executionArnOf, inSubsegment, METRICS, setLogKeys, traced } from './observability.ts';

export type StepImplementation<D> = (context: WorkflowContext, deps: D) => Promise<unknown>;

export interface StepHandlerOptions<D> {
  steps: Readonly<Record<string, StepImplementation<D>>>;
  /** Builds the ports once per Lambda container, on first use. */
  deps: () => D | Promise<D>;
  /** One JSON summary line per invocation instead of the Powertools logger (tests). */
  log?: (line: string) => void;
  logger?: Logger;
  metrics?: Metrics;
  tracer?: Tracer;
  /** Keeps what the step reported beside the run's audit record. */
  recordStep?: (runId: string, detail: StepDetail & { executionArn?: string | undefined }) => Promise<void>;
  /** Earlier runs on the context's cluster, newest first (the audit records): StepDeps.pastRuns. */
  pastRuns?: (context: WorkflowContext) => Promise<RunRecord[]>;
  /** CLUSTER_NAME and STATE_MACHINE_ARN (the execution ARN is derived from it and the execution's name). */
  env?: Record<string, string | undefined>;
  now?: () => number;
  /** Runs around each step: the cluster lock proven held and renewed for the tasks that hold it (lockRenewal.ts). */
  around?: (step: string, context: WorkflowContext, deps: D, run: (deps: D) => Promise<unknown>) => Promise<unknown>;
}

export type StepHandler = (event: StepEvent) => Promise<WorkflowContext>;

/** The newest audit records a step reads for earlier runs on its cluster. */
const PAST_RUNS_READ = 50;

interface Summary {
  step: string;
  runId: string;
  durationMs: number;
  outcome: 'succeeded' | 'skipped' | 'failed';
  error?: string;
}

function resultDetail(result: unknown): { detail: string; skipped: boolean } {
  if (typeof result !== 'object' || result === null) return { detail: '', skipped: false };
  const { detail, skipped } = result as { detail?: unknown; skipped?: unknown };
  return { detail: typeof detail === 'string' ? detail : '', skipped: skipped === true };
}

export function createStepHandler<D>(options: StepHandlerOptions<D>): StepHandler {
  const env = options.env ?? process.env;
  const now = options.now ?? Date.now;
  const logger = options.log ? options.logger : (options.logger ?? createLogger(env));
  const metrics = options.log ? options.metrics : (options.metrics ?? createMetrics(env));
  const tracer = options.tracer;
  let deps: Promise<D> | undefined;
  const getDeps = (): Promise<D> => {
    if (!deps) {
      deps = Promise.resolve().then(options.deps);
      // A failed build is not cached: the next invocation (a Retry) builds again.
      deps.catch(() => {
        deps = undefined;
      });
    }
    return deps;
  };

  const report = async (summary: Summary, detail: string, executionArn: string | undefined, startedAt: number): Promise<void> => {
    if (options.log) options.log(JSON.stringify(summary));
    else if (logger) {
      const { step: _s, runId: _r, ...fields } = summary;
      if (summary.outcome === 'failed') logger.error(`${summary.step} failed`, fields);
      else logger.info(`${summary.step} ${summary.outcome}`, fields);
    }
    if (metrics && summary.step !== '') {
      metrics.addDimension('Step', summary.step);
      metrics.addMetric(METRICS.stepDuration, MetricUnit.Milliseconds, summary.durationMs);
      if (summary.outcome === 'failed') metrics.addMetric(METRICS.stepErrors, MetricUnit.Count, 1);
      metrics.publishStoredMetrics();
    }
    if (options.recordStep && summary.runId !== '' && summary.step !== '') {
      try {
        await options.recordStep(summary.runId, {
          step: summary.step,
          startedAt: new Date(startedAt).toISOString(),
          outcome: summary.outcome,
          detail: oneLine(detail),
          durationMs: summary.durationMs,
          executionArn,
        });
      } catch (error) {
        logger?.warn('the step detail could not be kept for the audit record', { error: errorName(error) });
      }
    }
  };

  return async (event) => {
    const started = now();
    const step = typeof event?.step === 'string' ? event.step : '';
    const executionArn = executionArnOf(event ?? {}, env);
    let runId = '';
    if (logger) setLogKeys(logger, { step, executionArn, cluster: env['CLUSTER_NAME'] });
    const body = async (): Promise<WorkflowContext> => {
      try {
        const implementation = Object.hasOwn(options.steps, step) ? options.steps[step] : undefined;
        if (!implementation) throw new InvalidInputError('step', `no step named ${JSON.stringify(step)}`);
        const context = contextFromEvent(event, deploymentOptions(env));
        runId = context.runId;
        if (logger) logger.appendKeys({ runId });
        const base = await getDeps();
        // The execution's name identifies who confirmed a failure (statemachine/confirmation.ts); a redrive
        // keeps the name and is caught by the confirmation's time bound instead.
        // Earlier runs name the run that removed a member this request names, and let a new run finish
        // a replacement an earlier one left half done (functions/cluster/assessFailure.ts).
        // A task that waits for an answer gets its task token beside the ports (functions/steps/AwaitApproval.ts).
        const taskToken = typeof event.taskToken === 'string' && event.taskToken !== '' ? event.taskToken : undefined;
        const deps =
          typeof base === 'object' && base !== null && (event.executionName || options.pastRuns || taskToken)
            ? {
                ...base,
                ...(event.executionName ? { execution: `sfn:${event.executionName}` } : {}),
                ...(options.pastRuns ? { pastRuns: () => options.pastRuns!(context) } : {}),
                ...(taskToken ? { taskToken } : {}),
              }
            : base;
        const run = (withDeps: D) => implementation(context, withDeps);
        const { result, keysAhead } = await withKeysAhead(deps, context, () => (options.around ? options.around(step, context, deps, run) : run(deps)));
        const next: WorkflowContext = withKeysLeft({ ...context, ...stepOutputOf(result) }, keysAhead);
        const { detail, skipped } = resultDetail(result);
        await report({ step, runId, durationMs: now() - started, outcome: skipped ? 'skipped' : 'succeeded' }, detail, executionArn, started);
        return next;
      } catch (error) {
        await report(
          { step, runId, durationMs: now() - started, outcome: 'failed', error: errorName(error) },
          `${errorName(error)}: ${errorMessage(error)}`,
          executionArn,
          started,
        );
        if (error instanceof Error) throw error;
        throw new Error(String(error));
      }
    };
    return tracer ? inSubsegment(tracer, `## ${step || 'step'}`, { step, executionArn }, body) : body();
  };
}

/** StepDeps.pastRuns of a context: the newest records of its cluster, without its own run. */
export function pastRunsFrom(list: (query: { cluster: string; limit: number }) => Promise<RunRecord[]>): (context: WorkflowContext) => Promise<RunRecord[]> {
  return async (context) => (await list({ cluster: context.request.cluster, limit: PAST_RUNS_READ })).filter((r) => r.runId !== context.runId);
}

/** The workflow a deployed step function runs (env WORKFLOW): the replacement's by default, or the restore's. */
export const RESTORE_WORKFLOW_NAME = 'restore-quorum';

/** The steps and task specs of the deployed function's workflow. */
export function workflowSteps(env: Record<string, string | undefined>): {
  steps: Readonly<Record<string, StepImplementation<StepDeps>>>;
  spec: (step: string) => TaskSpec;
} {
  if (env['WORKFLOW'] !== RESTORE_WORKFLOW_NAME) return { steps: STEPS, spec: taskSpec };
  return {
    // A RestoreContext is a WorkflowContext with the restore's fields: the restore's steps read them from the event's context.
    steps: RESTORE_STEPS as unknown as Readonly<Record<string, StepImplementation<StepDeps>>>,
    spec: (step) => {
      const spec = RESTORE_WORKFLOW.tasks.find((t) => t.name === step);
      if (!spec) throw new InvalidInputError('step', `no restore task named ${JSON.stringify(step)}`);
      return spec as TaskSpec;
    },
  };
}

/**
 * What runs around each step of a deployed function: its state's deadline (the function runs every step,
 * so its own timeout is the longest step's), then the run's ownership and, for the tasks that hold it, the
 * cluster lock (lockRenewal.ts). The step gets the deadline's signal in its deps.
 */
export function aroundStep(spec: (step: string) => TaskSpec, log?: (message: string) => void): NonNullable<StepHandlerOptions<StepDeps>['around']> {
  return (step, context, deps, run) => {
    const task = spec(step);
    return withStepDeadline(
      task.name,
      task.timeoutSeconds,
      (signal) => {
        const attempt = { ...deps, signal };
        return withLockHeld(task, context, attempt, () => run(attempt));
      },
      log ? { log } : {},
    );
  };
}

/** The deployed handler: Powertools logger, metrics and tracer; traced SDK clients; step details into the run table. */
function awsStepHandler(): StepHandler {
  const env = process.env;
  const logger = createLogger(env);
  const tracer = createTracer(env);
  const region = env['AWS_REGION'] ? { region: env['AWS_REGION'] } : {};
  const clients = createAwsClients(env, {
    ssm: traced(tracer, new SSMClient(region)),
    ec2: traced(tracer, new EC2Client(region)),
    sfn: traced(tracer, new SFNClient(region)),
    s3: traced(tracer, new S3Client({ ...region, requestChecksumCalculation: 'WHEN_REQUIRED' })),
    doc: DynamoDBDocumentClient.from(traced(tracer, new DynamoDBClient(region)), { marshallOptions: { removeUndefinedValues: true } }),
  });
  let audit: AuditStore | undefined;
  const store = (): AuditStore | undefined => {
    if (!env['TABLE']) return undefined;
    audit ??= new AuditStore({
      doc: clients.doc,
      table: env['TABLE'],
      retentionDays: validate.positiveInt('RUN_RETENTION_DAYS', env['RUN_RETENTION_DAYS'] ?? '400'),
    });
    return audit;
  };
  const workflow = workflowSteps(env);
  return createStepHandler<StepDeps>({
    steps: workflow.steps,
    around: aroundStep(workflow.spec, (message) => logger.warn(message)),
    deps: () => awsDeps(env, clients, { log: (message) => logger.info(message) }),
    logger,
    metrics: createMetrics(env),
    tracer,
    recordStep: async (runId, detail) => {
      await store()?.putStepDetail(runId, detail);
    },
    pastRuns: pastRunsFrom((query) => store()?.list(query) ?? Promise.resolve([])),
    env,
  });
}

let deployed: StepHandler | undefined;

export const handler: StepHandler = (event) => {
  deployed ??= awsStepHandler();
  return deployed(event);
};
