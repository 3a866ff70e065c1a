// Logs, metrics and traces of the Lambda functions, with Powertools for AWS Lambda (TypeScript):
//
// - Logger: one JSON object per line on stdout (CloudWatch Logs Insights queries its fields). Every
//   line of a step carries `runId`, `executionArn`, `step` and `cluster`; the probe's and the
//   notifier's carry `cluster` and, where there is one, the run.
// - Metrics: CloudWatch embedded metric format (EMF) lines, namespace METRIC_NAMESPACE (EtcdReplace),
//   with the dimension ClusterName on every metric and no `service` dimension, so alarms and the
//   dashboard name them as documented: StepDuration and StepErrors {ClusterName, Step} from the steps,
//   Runs and RunDuration {ClusterName, Outcome} from the audit recorder.
// - Tracer: X-Ray subsegments for every AWS SDK call of the clients built here (tracing is off outside
//   Lambda, so tests and the CLI trace nothing).
//
// Nothing here is created at import time except through the factories, so tests get fresh instances.

import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { isExecutionArn } from '../adapters/aws/executions.ts';

export const SERVICE_NAME = 'etcd-replace';
export const DEFAULT_METRIC_NAMESPACE = 'EtcdReplace';

/** Metric names, shared with the stack's alarms and dashboard (lib/etcd-replacement.ts). */
export const METRICS = {
  stepDuration: 'StepDuration',
  stepErrors: 'StepErrors',
  runs: 'Runs',
  runDuration: 'RunDuration',
} as const;

type Env = Record<string, string | undefined>;

/** The keys every log line of one invocation carries. */
export interface LogKeys {
  cluster?: string | undefined;
  runId?: string | undefined;
  executionArn?: string | undefined;
  step?: string | undefined;
}

export function createLogger(env: Env = process.env, options: { persistentKeys?: Record<string, string> } = {}): Logger {
  const cluster = env['CLUSTER_NAME'];
  return new Logger({
    serviceName: env['POWERTOOLS_SERVICE_NAME'] || SERVICE_NAME,
    ...(env['POWERTOOLS_LOG_LEVEL'] ? {} : { logLevel: 'INFO' as const }),
    persistentKeys: { ...(cluster ? { cluster } : {}), ...options.persistentKeys },
  });
}

/**
 * Sets the keys of this invocation's lines, replacing the previous invocation's (a Lambda container
 * serves many). Keys that are unknown yet are left out rather than logged empty.
 */
export function setLogKeys(logger: Logger, keys: LogKeys): void {
  logger.resetKeys();
  const present = Object.fromEntries(Object.entries(keys).filter(([, value]) => typeof value === 'string' && value !== ''));
  logger.appendKeys(present);
}

export function createMetrics(env: Env = process.env): Metrics {
  const metrics = new Metrics({
    namespace: env['POWERTOOLS_METRICS_NAMESPACE'] || env['METRIC_NAMESPACE'] || DEFAULT_METRIC_NAMESPACE,
    serviceName: env['POWERTOOLS_SERVICE_NAME'] || SERVICE_NAME,
  });
  // Powertools adds a `service` dimension by default; the alarms and the dashboard use ClusterName alone.
  metrics.clearDefaultDimensions();
  if (env['CLUSTER_NAME']) metrics.setDefaultDimensions({ ClusterName: env['CLUSTER_NAME'] });
  return metrics;
}

export function createTracer(env: Env = process.env): Tracer {
  return new Tracer({ serviceName: env['POWERTOOLS_SERVICE_NAME'] || SERVICE_NAME });
}

/** An SDK v3 client whose calls are X-Ray subsegments (unchanged when tracing is off). */
export function traced<T>(tracer: Tracer, client: T): T {
  return tracer.captureAWSv3Client(client);
}

/**
 * Runs `body` in a subsegment named after the handler with the run's keys as annotations (searchable
 * in X-Ray: `annotation.runId = "…"`). Outside Lambda it just runs `body`.
 */
export async function inSubsegment<T>(tracer: Tracer, name: string, annotations: Record<string, string | undefined>, body: () => Promise<T>): Promise<T> {
  if (!tracer.isTracingEnabled()) return body();
  const parent = tracer.getSegment();
  if (!parent) return body();
  const subsegment = parent.addNewSubsegment(name);
  tracer.setSegment(subsegment);
  try {
    tracer.annotateColdStart();
    for (const [key, value] of Object.entries(annotations)) if (value) tracer.putAnnotation(key, value);
    return await body();
  } catch (error) {
    tracer.addErrorAsMetadata(error as Error);
    throw error;
  } finally {
    subsegment.close();
    tracer.setSegment(parent);
  }
}

/**
 * The execution ARN of a task's invocation. Every task payload carries `$$.Execution.Name`
 * (statemachine/asl.ts); a Standard execution's ARN is its state machine's ARN with `execution` for
 * `stateMachine` and the name appended, and the stack gives each step function its state machine's ARN
 * (STATE_MACHINE_ARN, built from the machine's fixed name, so no reference cycle). An `executionArn`
 * the payload carries itself wins.
 */
export function executionArnOf(event: { executionArn?: unknown; executionName?: unknown }, env: Env = process.env): string | undefined {
  if (typeof event.executionArn === 'string' && isExecutionArn(event.executionArn)) return event.executionArn;
  const machine = env['STATE_MACHINE_ARN'];
  if (typeof event.executionName !== 'string' || event.executionName === '' || !machine || !machine.includes(':stateMachine:')) return undefined;
  const arn = `${machine.replace(':stateMachine:', ':execution:')}:${event.executionName}`;
  return isExecutionArn(arn) ? arn : undefined;
}
