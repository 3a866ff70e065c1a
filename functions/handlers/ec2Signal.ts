// The EC2 signal function (functions/adapters/aws/ec2Signals.ts): two rules invoke it.
// - "EC2 Instance State-change Notification" (stopping, stopped, shutting-down, terminated) of any
//   instance: a member of this cluster going away starts its replacement; any other instance is ignored.
// - "Step Functions Execution Status Change" SUCCEEDED of this state machine: the replaced member is
//   marked, and the status-check alarms follow the cluster's members without a redeploy.
//
// Environment: CLUSTER_NAME, CLUSTER_TAG_KEY, ROLE_TAG_KEY and HOSTNAME_TAG_KEY (optional),
// STATE_MACHINE_ARN, GRACE_SECONDS, STATUS_CHECK_MINUTES, MEMBERS (the configured members, JSON),
// FINAL_STATES (the instance states that are final evidence, comma-separated; default `terminated`,
// empty: none): a run they start confirms the failure without the grace window's wait.

import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { Logger } from '@aws-lambda-powertools/logger';
import {
  Ec2Signals,
  FAILURE_STATES,
  type Ec2SignalsConfig,
  type ExecutionSucceededDetail,
  type SignalOutcome,
  type StateChangeDetail,
  type WatchOutcome,
} from '../adapters/aws/ec2Signals.ts';
import { isStateMachineArn } from '../adapters/aws/executions.ts';
import { InvalidInputError } from '../errors.ts';
import * as validate from '../validate.ts';
import { createLogger, createTracer, traced } from './observability.ts';

export const STATE_CHANGE = 'EC2 Instance State-change Notification';
export const EXECUTION_STATUS_CHANGE = 'Step Functions Execution Status Change';

export interface SignalEvent {
  'detail-type'?: string;
  detail?: StateChangeDetail & ExecutionSucceededDetail;
}

export type SignalResult = SignalOutcome | ({ action: 'watched' } & WatchOutcome) | { action: 'ignored'; reason: string };

type Env = Record<string, string | undefined>;

function positive(env: Env, name: string, fallback: number, min = 1): number {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > 3600) throw new InvalidInputError(name, `expected an integer from ${min} to 3600`);
  return n;
}

/** FINAL_STATES: failure states of an instance, comma-separated; unset: `terminated`; empty: none. */
export function finalStatesFromEnv(value: string | undefined): string[] {
  if (value === undefined) return ['terminated'];
  const states = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const unknown = states.filter((s) => !(FAILURE_STATES as readonly string[]).includes(s));
  if (unknown.length > 0) throw new InvalidInputError('FINAL_STATES', `expected states among ${FAILURE_STATES.join(', ')}; got ${unknown.join(', ')}`);
  return states;
}

/** The function's configuration, checked. */
export function signalConfigFromEnv(env: Env): Omit<Ec2SignalsConfig, 'ec2' | 'sfn' | 'cloudwatch'> {
  const cluster = validate.clusterName('CLUSTER_NAME', env['CLUSTER_NAME']);
  const stateMachineArn = env['STATE_MACHINE_ARN'] ?? '';
  if (!isStateMachineArn(stateMachineArn)) throw new InvalidInputError('STATE_MACHINE_ARN', 'expected a state machine ARN');
  const clusterTagKey = env['CLUSTER_TAG_KEY'];
  if (!clusterTagKey) throw new InvalidInputError('CLUSTER_TAG_KEY', 'must be set in the environment');
  let members: unknown;
  try {
    members = JSON.parse(env['MEMBERS'] ?? '[]');
  } catch {
    throw new InvalidInputError('MEMBERS', 'expected a JSON array of {instanceId}');
  }
  if (!Array.isArray(members)) throw new InvalidInputError('MEMBERS', 'expected a JSON array of {instanceId}');
  return {
    cluster,
    clusterTagKey,
    ...(env['ROLE_TAG_KEY'] ? { roleTagKey: env['ROLE_TAG_KEY'] } : {}),
    ...(env['HOSTNAME_TAG_KEY'] ? { hostnameTagKey: env['HOSTNAME_TAG_KEY'] } : {}),
    stateMachineArn,
    graceSeconds: positive(env, 'GRACE_SECONDS', 60, 0),
    finalStates: finalStatesFromEnv(env['FINAL_STATES']),
    statusCheckMinutes: positive(env, 'STATUS_CHECK_MINUTES', 2),
    configuredMembers: members.map((m: { instanceId?: unknown }, i) => validate.instanceId(`MEMBERS[${i}].instanceId`, m?.instanceId)),
  };
}

/** Dispatches one event to the signal it is. */
export async function handleSignal(signals: Ec2Signals, event: SignalEvent): Promise<SignalResult> {
  const type = event['detail-type'];
  if (type === STATE_CHANGE) return signals.onStateChange(event.detail ?? {});
  if (type === EXECUTION_STATUS_CHANGE && event.detail?.status === 'SUCCEEDED') return { action: 'watched', ...(await signals.onRunSucceeded(event.detail)) };
  return { action: 'ignored', reason: `event ${type ?? 'without a detail-type'} is not handled` };
}

let runtime: { signals: Ec2Signals; logger: Logger } | undefined;

export async function handler(event: SignalEvent): Promise<SignalResult> {
  if (!runtime) {
    const tracer = createTracer();
    const logger = createLogger();
    runtime = {
      logger,
      signals: new Ec2Signals({
        ...signalConfigFromEnv(process.env),
        ec2: traced(tracer, new EC2Client({})),
        sfn: traced(tracer, new SFNClient({})),
        cloudwatch: traced(tracer, new CloudWatchClient({})),
        log: (message, fields) => logger.warn(message, fields ?? {}),
      }),
    };
  }
  const result = await handleSignal(runtime.signals, event);
  if (result.action === 'ignored') runtime.logger.info('signal ignored', { ...result });
  else runtime.logger.info(`signal ${result.action}`, { ...result });
  return result;
}
