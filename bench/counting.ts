// Counting wrappers for the benchmark's workflow runs: every HostRunner.run is one SSM SendCommand on
// AWS (functions/adapters/aws/ssmHostRunner.ts), every artifact call one S3 request. Commands a step
// issues while another of its commands is still running count once on its critical path.

import { HostUnreachableError } from '../functions/errors.ts';
import type { ArtifactInfo, ArtifactStore, HostRunner, ScriptOutput, ScriptRequest } from '../functions/ports.ts';

export interface CommandCall {
  step: string;
  script: string;
  /** etcdctl.sh's verb, for the etcd port's commands. */
  verb?: string;
  host: string;
  startMs: number;
  endMs: number;
  /** The host could not run anything: on AWS the runner's DescribeInstanceInformation check fails first and no command is sent. */
  unreachable: boolean;
}

/** Wraps a HostRunner and records each call under the step that is running (set `step` as steps start). */
export class CountingHostRunner implements HostRunner {
  readonly calls: CommandCall[] = [];
  step = '';

  constructor(
    private readonly inner: HostRunner,
    private readonly now: () => number = () => performance.now(),
  ) {}

  async run(request: ScriptRequest): Promise<ScriptOutput> {
    const call: CommandCall = { step: this.step, script: request.script, host: request.host.name, startMs: this.now(), endMs: Number.NaN, unreachable: false };
    if (request.script === 'etcdctl' && request.args[0] !== undefined) call.verb = request.args[0];
    this.calls.push(call);
    try {
      return await this.inner.run(request);
    } catch (error) {
      if (error instanceof HostUnreachableError) call.unreachable = true;
      throw error;
    } finally {
      call.endMs = this.now();
    }
  }
}

export interface StepCommandCount {
  /** Commands sent (SSM SendCommand on AWS). */
  total: number;
  /** Sequential commands: overlapping ones count once. */
  criticalPath: number;
  /** Calls that found the host unreachable (no command sent on AWS). */
  unreachable: number;
}

export interface CommandCount extends StepCommandCount {
  /** Per step, each command sent in order: `script[ verb]@host`. */
  sent: Record<string, string[]>;
  byStep: Record<string, StepCommandCount>;
}

/** Number of groups of overlapping intervals: the commands a step must wait for one after another. */
export function sequentialGroups(calls: ReadonlyArray<Pick<CommandCall, 'startMs' | 'endMs'>>): number {
  const sorted = [...calls].sort((a, b) => a.startMs - b.startMs);
  let groups = 0;
  let groupEnd = Number.NEGATIVE_INFINITY;
  for (const call of sorted) {
    if (call.startMs >= groupEnd) {
      groups += 1;
      groupEnd = call.endMs;
    } else {
      groupEnd = Math.max(groupEnd, call.endMs);
    }
  }
  return groups;
}

/** SSM commands per step and in all; unreachable calls are counted apart and sent nothing. */
export function countCommands(calls: readonly CommandCall[]): CommandCount {
  const byStep: Record<string, StepCommandCount> = {};
  const sentByStep: Record<string, string[]> = {};
  const steps = [...new Set(calls.map((c) => c.step))];
  for (const step of steps) {
    const ofStep = calls.filter((c) => c.step === step);
    const sent = ofStep.filter((c) => !c.unreachable);
    byStep[step] = { total: sent.length, criticalPath: sequentialGroups(sent), unreachable: ofStep.length - sent.length };
    sentByStep[step] = sent.map((c) => `${c.script}${c.verb ? ` ${c.verb}` : ''}@${c.host}`);
  }
  const sum = (f: (s: StepCommandCount) => number) => Object.values(byStep).reduce((n, s) => n + f(s), 0);
  return { total: sum((s) => s.total), criticalPath: sum((s) => s.criticalPath), unreachable: sum((s) => s.unreachable), byStep, sent: sentByStep };
}

export interface ArtifactCount {
  /** Presigned upload URLs handed to hosts: one PUT each when used. */
  put: number;
  /** Presigned download URLs: one GET each. */
  get: number;
  head: number;
  delete: number;
}

/** Wraps an ArtifactStore and counts the S3 requests each call stands for. */
export class CountingArtifactStore implements ArtifactStore {
  readonly count: ArtifactCount = { put: 0, get: 0, head: 0, delete: 0 };

  constructor(private readonly inner: ArtifactStore) {}

  uploadUrl(key: string, ttlSeconds: number): Promise<string> {
    this.count.put += 1;
    return this.inner.uploadUrl(key, ttlSeconds);
  }

  downloadUrl(key: string, ttlSeconds: number): Promise<string> {
    this.count.get += 1;
    return this.inner.downloadUrl(key, ttlSeconds);
  }

  head(key: string): Promise<ArtifactInfo | null> {
    this.count.head += 1;
    return this.inner.head(key);
  }

  delete(key: string): Promise<void> {
    this.count.delete += 1;
    return this.inner.delete(key);
  }
}
