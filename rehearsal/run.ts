// The rehearsal as one command (`npm run rehearse:aws`) and one test share this: build the sandbox (3
// members, spares, 1 node, master-2 powered off), rehearse, judge what it left behind, print the report,
// and tear everything down whatever happens. The verdict (`verdict`) is the command's own; the sandbox
// test adds its checks (test/rehearsal/checks.ts) through the `check` and `beforeFailure` hooks.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describeEtcdPorts, failHost, loadSandbox, sandboxDown, sandboxUp, type SandboxInfo } from '../sandbox/index.ts';
import { restoreVerdict } from './quorumLoss.ts';
import type { Invocation } from './hosts.ts';
import { describeLatency, type LatencyModel } from './latency.ts';
import { rehearse, type Rehearsal, type RehearsalState, type RehearsalTrigger } from './rehearse.ts';
import type { AddMethod } from '../statemachine/context.ts';

export const FAILED = 'master-2';
export const REPLACEMENT = 'etcd-spare-0';

/** A step as the audit record keeps it. */
export interface Step {
  name: string;
  status: string;
  startedAt: string;
  endedAt?: string | null;
  attempts: number;
  detail?: string;
  error?: { name: string; message?: string };
}

/** A replacement done on the sandbox: its failed host and the host that took its place. */
export interface Replaced {
  failed: string;
  replacement: string;
}

/**
 * The sandbox as its cluster is after `earlier` replacements: each failed host gone (powered off, no
 * longer a member nor a reachable master), each replacement an etcd member.
 */
export function asReplaced(sandbox: SandboxInfo, earlier: Replaced[]): SandboxInfo {
  const gone = new Set(earlier.map((e) => e.failed));
  const joined = new Set(earlier.map((e) => e.replacement));
  return { ...sandbox, hosts: sandbox.hosts.filter((h) => !gone.has(h.name)).map((h) => (joined.has(h.name) ? { ...h, roles: ['etcd'] } : h)) };
}

/** The version a Node.js binary reports (`node --version`). */
export const nodeVersionOf = (binary: string): string => execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim();

/** Commands whose interval (sent → `end`) overlaps no other command's interval. */
export function alone(commands: Invocation[], end: (i: Invocation) => number): Invocation[] {
  return commands.filter((a) => commands.every((b) => b === a || end(b) <= a.sentAt || b.sentAt >= end(a)));
}

/** The run's SSM commands: how many ran while no other was in flight, counted three ways. */
export function commandCounts(
  commands: Invocation[],
  overlapped: ReadonlySet<string>,
): { sent: number; onHosts: number; online: number; forCaller: number; line: string } {
  // 1: on the hosts (send → script exit), offline pairwise; 2: online, each command sent while another
  // was running marks both; 3: as the functions saw them (send → the terminal GetCommandInvocation).
  const aloneOnHosts = alone(commands, (c) => c.endedAt ?? Number.POSITIVE_INFINITY);
  const aloneForCaller = new Set(alone(commands, (c) => c.collectedAt ?? Number.POSITIVE_INFINITY));
  const onHosts = aloneOnHosts.length;
  const online = commands.filter((c) => !overlapped.has(c.commandId)).length;
  const forCaller = aloneForCaller.size;
  const script = (c: Invocation) => c.comment.replace(/^etcd-replace /, '').split(' ')[0] ?? '';
  const perScript = Object.entries(commands.reduce<Record<string, number>>((acc, c) => ({ ...acc, [script(c)]: (acc[script(c)] ?? 0) + 1 }), {})).map(
    ([k, n]) => `${k} ${n}`,
  );
  const concurrent = commands.filter((c) => overlapped.has(c.commandId)).map((c) => `${script(c)}@${c.host}`);
  // Alone on the hosts, not as the functions saw them: ended before a command sent side by side with it
  // had started, and collected after (the poll's lag).
  const lag = aloneOnHosts
    .filter((c) => !aloneForCaller.has(c))
    .map((c) => `${script(c)}@${c.host} (collected ${((c.collectedAt ?? 0) - (c.endedAt ?? 0)).toFixed(0)} ms after its end)`);
  return {
    sent: commands.length,
    onHosts,
    online,
    forCaller,
    line: `SSM commands: ${commands.length} sent, ${onHosts} sequential (on the hosts; online count ${online}, as the functions saw them ${forCaller}); by script: ${perScript.join(', ')}; concurrent: ${concurrent.join(', ') || 'none'}${lag.length ? `; alone on the hosts only: ${lag.join(', ')}` : ''}`,
  };
}

const seconds = (from: string, to: string | null | undefined) => (to ? ((Date.parse(to) - Date.parse(from)) / 1000).toFixed(1) : '-');

export function report(r: Rehearsal): string {
  const record = r.auditRecord ?? {};
  const steps = (record['steps'] as Step[] | undefined) ?? [];
  const note = r.notifications[0];
  const checked = r.iam.calls;
  const denied = r.iam.denied();
  const lambdaCalls = r.lambdas.invocations;
  return [
    `== Rehearsal of the synthesized stack ${r.stack.stackName}: ${r.execution.status} (synth ${r.timings.synthSeconds.toFixed(0)} s, run ${r.timings.runSeconds.toFixed(0)} s)`,
    `execution ${r.execution.executionArn}`,
    `run ${r.runId}: ${lambdaCalls.length} Lambda invocations of ${new Set(lambdaCalls.map((i) => i.functionName)).size} functions; ${r.commands.length} SSM commands; ${r.front.requests.length} requests to the AWS endpoint`,
    `Lambda functions ran on Node.js ${[...new Set([...r.lambdaRuntimes.values()].map((x) => `${x.version} (${x.execPath})`))].join(', ') || '(none started)'}; given ${r.lambdaNode}`,
    commandCounts(r.commands, r.cloud.overlapped).line,
    describeLatency(r.latency),
    `trigger: ${r.trigger}${r.state ? ` (${r.state})` : ''}; failure evidence: ${JSON.stringify((record['context'] as Record<string, unknown> | undefined)?.['failureEvidence'] ?? null)}`,
    '',
    "== Timeline (the audit record's steps)",
    ...steps.map((s) =>
      `  ${s.startedAt.slice(11, 23)}  ${s.name.padEnd(24)} ${s.status.padEnd(9)} ${seconds(s.startedAt, s.endedAt).padStart(6)} s  x${s.attempts}  ${s.detail ?? s.error?.name ?? ''}`.trimEnd(),
    ),
    '',
    '== Requests the AWS endpoint answered with an error (service operation status: count)',
    ...Object.entries(
      r.front.requests
        .filter((q) => q.status >= 400)
        .reduce<Record<string, number>>(
          (acc, q) => ({ ...acc, [`${q.service} ${q.operation} ${q.status}`]: (acc[`${q.service} ${q.operation} ${q.status}`] ?? 0) + 1 }),
          {},
        ),
    ).map(([k, n]) => `  ${k}: ${n}`),
    '',
    '== EventBridge deliveries',
    ...r.deliveries.map(
      (d) =>
        `  ${d.rule.padEnd(28)} ${`${d.detailType}${d.status ? ` ${d.status}` : ''}`.padEnd(44)} -> ${d.target.padEnd(36)} ${d.ok ? 'ok' : `FAILED ${d.error ?? ''}`} (${d.attempts} attempt${d.attempts === 1 ? '' : 's'})`,
    ),
    '',
    `== Audit record (table item pk=run#${r.runId}, sk=run; its record attribute)`,
    JSON.stringify(record, null, 2),
    '',
    '== Notification (SNS Publish to the outcome topic)',
    `Subject: ${note?.subject ?? '(none published)'}`,
    note?.message ?? '',
    `Attributes: ${note ? Object.keys(note.attributes).join(', ') : ''}`,
    '',
    `== IAM: ${checked.length} AWS API calls checked against the callers' policies from the template, ${denied.length} denied`,
    r.iam.table(r.roleLabel),
    ...(denied.length ? ['', 'DENIED:', ...denied.map((d) => `  ${d.role} ${d.action} ${d.resource} ${d.verdict} ${d.detail ?? ''}`)] : []),
  ].join('\n');
}

export interface SandboxRun<T = undefined> {
  name: string;
  sandbox: SandboxInfo;
  /** What `beforeFailure` returned, read before master-2 was powered off. */
  before: T;
}

export const rehearsalSandboxName = () => `rh-${randomBytes(3).toString('hex')}`;

/**
 * A sandbox of 3 members, `spares` spares and 1 node whose master-2 is powered off. `beforeFailure` runs
 * on the sandbox before that (the tests make master-2 the leader, so that its loss also costs the cluster
 * its leader, and read the data); `alongside` runs while it does and master-2 is failed, once the sandbox
 * is up (the synthesis, which needs only its hosts).
 */
export async function rehearsalSandbox<T = undefined>(
  log: (line: string) => void = () => {},
  name = rehearsalSandboxName(),
  spares = 1,
  alongside?: (up: SandboxInfo) => Promise<unknown>,
  beforeFailure?: (up: SandboxInfo) => Promise<T>,
  dataMb = 4,
): Promise<SandboxRun<T>> {
  log(`sandbox up ${name} (3 members, ${spares} spare${spares === 1 ? '' : 's'}, 1 node, ${dataMb} MB of data)`);
  try {
    const up = await sandboxUp({ name, members: 3, spares, nodes: 1, dataMb, progress: log });
    const fail = async () => {
      const before = (await beforeFailure?.(up)) as T;
      await failHost(name, FAILED, 'kill');
      log(`sandbox fail ${FAILED} (powered off)`);
      return before;
    };
    const [failed, other] = await Promise.allSettled([fail(), alongside?.(up)]);
    if (other.status === 'rejected') throw other.reason;
    if (failed.status === 'rejected') throw failed.reason;
    return { name, sandbox: await loadSandbox(name), before: failed.value };
  } catch (error) {
    await sandboxDown(name).catch(() => undefined);
    throw error;
  }
}

/**
 * What a successful rehearsal leaves behind, judged without a test framework: the execution, the
 * EventBridge deliveries, IAM, the SSM commands, the audit record, the notification, the lock, the
 * replacement's etcd ports, the snapshot in the bucket and the Node.js that ran the functions. Returns
 * what is wrong, one line each; empty when nothing is. `earlier`: the replacements this sandbox saw before.
 */
export async function verdict(r: Rehearsal, sandbox: SandboxInfo, replacement: string = REPLACEMENT, earlier: Replaced[] = []): Promise<string[]> {
  const wrong: string[] = [];
  const want = (ok: boolean, what: string) => {
    if (!ok) wrong.push(what);
  };
  const { failed } = r;
  want(r.execution.status === 'SUCCEEDED', `execution ${r.execution.status}: ${r.execution.error ?? ''} ${r.execution.cause ?? ''}`.trim());
  const lost = r.deliveries.filter((d) => !d.ok);
  want(lost.length === 0, `EventBridge deliveries failed: ${lost.map((d) => `${d.rule} -> ${d.target}: ${d.error ?? ''}`).join('; ')}`);
  const denied = r.iam.denied();
  want(r.iam.calls.length > 0, 'no AWS API call was checked against IAM');
  want(denied.length === 0, `IAM denied: ${denied.map((d) => `${d.role} ${d.action} ${d.resource}`).join('; ')}`);
  want(r.cloud.running().length === 0, `SSM commands left running: ${r.cloud.running().length}`);
  const offHosts = r.commands.filter((i) => i.host === failed || earlier.some((e) => e.failed === i.host));
  want(offHosts.length === 0, `SSM commands sent to a powered-off host: ${offHosts.map((i) => i.host).join(', ')}`);
  want(r.auditItem?.['outcome'] === 'succeeded' && r.auditItem?.['runId'] === r.runId, `audit item: ${JSON.stringify(r.auditItem)}`);
  const record = r.auditRecord ?? {};
  want(record['state'] === 'Succeeded', `audit record state ${String(record['state'])}`);
  const steps = (record['steps'] as Step[] | undefined) ?? [];
  const failedSteps = steps.filter((s) => s.status !== 'succeeded' && s.status !== 'skipped');
  want(failedSteps.length === 0, `steps not succeeded: ${failedSteps.map((s) => `${s.name} ${s.status}`).join(', ')}`);
  want(!/X-Amz-Signature|PRIVATE KEY/.test(JSON.stringify(record)), 'the audit record carries a signed URL or key material');
  const note = r.notifications[0];
  want(r.notifications.length === 1, `${r.notifications.length} notifications published, not 1`);
  want(
    note !== undefined && note.subject.startsWith(`${r.config.clusterName}: ${failed} replaced by ${replacement} in `),
    `notification subject: ${note?.subject ?? '(none)'}`,
  );
  want(r.lockItem === undefined, 'the lock was not released');
  const ports = await describeEtcdPorts(sandbox, replacement);
  want(ports.join() === '2379,2380', `${replacement}'s etcd ports: ${ports.join(', ') || 'none'}`);
  const context = (record['context'] ?? {}) as { snapshotKey?: string };
  want(
    !!context.snapshotKey && r.bucketObjects.some((o) => (o.key === context.snapshotKey || o.key.endsWith(`/${context.snapshotKey}`)) && o.size > 0),
    `snapshot ${context.snapshotKey ?? '(none)'} not in the bucket`,
  );
  want(!r.commands.some((c) => /sig=[0-9a-f]{16}|X-Amz-Signature|PRIVATE KEY/.test(c.request)), 'an SSM command carries a signed URL or key material');
  const versions = new Set([...r.lambdaRuntimes.values()].map((x) => x.version));
  want(versions.size === 1 && versions.has(nodeVersionOf(r.lambdaNode)), `the functions ran on Node.js ${[...versions].join(', ')}, not on ${r.lambdaNode}`);
  return wrong;
}

/**
 * The whole rehearsal: sandbox, rehearse, report, judge (`verdict`, then `check` when given); the
 * sandbox is removed whatever happens. Throws when the verdict finds anything wrong.
 */
export async function rehearseOnSandbox<T = undefined>(
  log: (line: string) => void = () => {},
  name = rehearsalSandboxName(),
  trigger: RehearsalTrigger = 'alarm',
  hooks: {
    state?: RehearsalState;
    latency?: LatencyModel;
    /** The data the sandbox's cluster holds (default 4 MB). */
    dataMb?: number;
    /** The grace window the stack is synthesized with (alarmGraceSeconds; default 5). */
    graceSeconds?: number;
    /** The deployment's defaultAddMethod (default manual). */
    addMethod?: AddMethod;
    beforeFailure?: (up: SandboxInfo) => Promise<T>;
    check?: (r: Rehearsal, run: SandboxRun<T>) => Promise<void>;
  } = {},
): Promise<{ rehearsal: Rehearsal; report: string }> {
  // A restore adds each former member back on a spare when its own host cannot take it: two, for two lost.
  const run = await rehearsalSandbox<T>(log, name, trigger === 'quorum-lost' ? 2 : 1, undefined, hooks.beforeFailure, hooks.dataMb);
  try {
    const rehearsal = await rehearse({
      sandbox: run.sandbox,
      failed: FAILED,
      replacement: REPLACEMENT,
      log,
      trigger,
      ...(hooks.state ? { state: hooks.state } : {}),
      ...(hooks.latency ? { latency: hooks.latency } : {}),
      ...(hooks.graceSeconds !== undefined ? { graceSeconds: hooks.graceSeconds } : {}),
      ...(hooks.addMethod ? { addMethod: hooks.addMethod } : {}),
    });
    const text = report(rehearsal);
    log(text);
    const wrong = trigger === 'quorum-lost' ? restoreVerdict(rehearsal, FAILED) : await verdict(rehearsal, run.sandbox);
    if (wrong.length) throw new Error(`the rehearsal did not pass:\n  ${wrong.join('\n  ')}`);
    await hooks.check?.(rehearsal, run);
    return { rehearsal, report: text };
  } finally {
    log(`sandbox down ${run.name}`);
    await sandboxDown(run.name);
  }
}
