// The rehearsal as one command and one test share this: build the sandbox (3 members, spares, 1 node,
// master-2 powered off), rehearse, check what it left behind, print the report, and tear everything
// down whatever happens. The checks also serve a later run on the same sandbox (another member failed,
// another spare), given the replacements before it.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { describeEtcdPorts, failHost, loadSandbox, sandboxDown, sandboxUp, type SandboxInfo } from '../../sandbox/index.ts';
import { makeLeader, recordBefore, verifyReplaced, type Before } from '../support/verifyReplaced.ts';
import type { Invocation } from './hosts.ts';
import { rehearse, type Rehearsal, type RehearsalTrigger } from './rehearse.ts';

export const FAILED = 'master-2';
export const REPLACEMENT = 'etcd-spare-0';

interface Step {
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
export function commandCounts(commands: Invocation[], overlapped: ReadonlySet<string>): { sent: number; onHosts: number; online: number; forCaller: number; line: string } {
  // 1: on the hosts (send → script exit), offline pairwise; 2: online, each command sent while another
  // was running marks both; 3: as the functions saw them (send → the terminal GetCommandInvocation).
  const aloneOnHosts = alone(commands, (c) => c.endedAt ?? Number.POSITIVE_INFINITY);
  const aloneForCaller = new Set(alone(commands, (c) => c.collectedAt ?? Number.POSITIVE_INFINITY));
  const onHosts = aloneOnHosts.length;
  const online = commands.filter((c) => !overlapped.has(c.commandId)).length;
  const forCaller = aloneForCaller.size;
  const script = (c: Invocation) => c.comment.replace(/^etcd-replace /, '').split(' ')[0] ?? '';
  const perScript = Object.entries(commands.reduce<Record<string, number>>((acc, c) => ({ ...acc, [script(c)]: (acc[script(c)] ?? 0) + 1 }), {})).map(([k, n]) => `${k} ${n}`);
  const concurrent = commands.filter((c) => overlapped.has(c.commandId)).map((c) => `${script(c)}@${c.host}`);
  // Alone on the hosts, not as the functions saw them: ended before a command sent side by side with it
  // had started, and collected after (the poll's lag).
  const lag = aloneOnHosts.filter((c) => !aloneForCaller.has(c)).map((c) => `${script(c)}@${c.host} (collected ${((c.collectedAt ?? 0) - (c.endedAt ?? 0)).toFixed(0)} ms after its end)`);
  return {
    sent: commands.length,
    onHosts,
    online,
    forCaller,
    line: `SSM commands: ${commands.length} sent, ${onHosts} sequential (on the hosts; online count ${online}, as the functions saw them ${forCaller}); by script: ${perScript.join(', ')}; concurrent: ${concurrent.join(', ') || 'none'}${lag.length ? `; alone on the hosts only: ${lag.join(', ')}` : ''}`,
  };
}

/**
 * The checks: the cluster as replaced, the run's audit record and notification, what went through
 * EC2, SSM, S3 and DynamoDB, the Node.js that ran the functions, and no API call denied.
 * `earlier`: the replacements this sandbox saw before this run.
 */
export async function checkRehearsal(r: Rehearsal, sandbox: SandboxInfo, before: Before, replacement: string = REPLACEMENT, earlier: Replaced[] = []): Promise<void> {
  const { trigger, failed } = r;
  const cluster = asReplaced(sandbox, earlier);
  const failedId = r.cloud.idOf(failed);
  const started = trigger === 'alarm' ? 'AlarmTrigger:CloudWatch Alarm State Change' : 'Ec2StateTrigger:EC2 Instance State-change Notification';
  expect(r.execution.status, `${r.execution.error ?? ''}: ${r.execution.cause ?? ''}`).toBe('SUCCEEDED');
  // Every EventBridge delivery (the alarm's StartExecution, the audit recorder, the notifier, the EC2 signal function) went through.
  expect(r.deliveries.filter((d) => !d.ok)).toEqual([]);
  expect(new Set(r.deliveries.map((d) => `${d.rule.replace(/[0-9A-F]{8}$/, '')}:${d.status ?? d.detailType}`))).toEqual(
    new Set([started, 'AuditTrail:RUNNING', 'AuditTrail:SUCCEEDED', 'RunOutcome:SUCCEEDED', 'WatchReplacedMembers:SUCCEEDED', 'AuditStartedBy:AWS API Call via CloudTrail']),
  );
  // IAM: calls were checked, none denied.
  expect(r.iam.calls.length).toBeGreaterThan(0);
  expect(r.iam.denied()).toEqual([]);
  // No command was left running on a host, and none went to a powered-off host (this run's failed one, or an earlier run's).
  expect(r.cloud.running()).toEqual([]);
  expect(r.commands.filter((i) => i.host === failed || earlier.some((e) => e.failed === i.host))).toEqual([]);

  // The audit record the deployed recorder wrote to the table.
  expect(r.auditItem).toMatchObject({ runId: r.runId, cluster: r.config.clusterName, outcome: 'succeeded', executionArn: r.execution.executionArn });
  const record = r.auditRecord!;
  expect(record).toMatchObject({ cluster: r.config.clusterName, state: 'Succeeded' });
  if (trigger === 'alarm') {
    expect(record).toMatchObject({ runId: r.runId, target: 'aws', outcome: 'succeeded', executionStatus: 'SUCCEEDED', startedBy: `alarm:etcd-replace-${r.config.clusterName}-member-${failed}` });
    // The alarm's InstanceId dimension names the failed member: discovery finds it by its instance.
    expect(record['request']).toMatchObject({ failed: failedId });
    expect(record['alarm']).toMatchObject({ alarmName: `etcd-replace-${r.config.clusterName}-member-${failed}`, confirmed: true, from: 'OK' });
    expect(record['principal']).toMatchObject({ type: 'AssumedRole', invokedBy: 'events.amazonaws.com' });
  } else {
    // Started by the EC2 signal function, under its own role, with no replacement named: the pool's spare.
    expect(record).toMatchObject({ runId: r.runId, target: 'aws', outcome: 'succeeded', executionStatus: 'SUCCEEDED', startedBy: `ec2:${failedId}:stopped` });
    expect(record['request']).toMatchObject({ failed: failed, startedBy: `ec2:${failedId}:stopped` });
    expect((record['request'] as Record<string, unknown>)['replacement']).toBeUndefined();
    expect(record['alarm']).toBeUndefined();
    expect(record['principal']).toMatchObject({ type: 'AssumedRole', arn: expect.stringMatching(/:assumed-role\//) });
    expect((record['principal'] as Record<string, unknown>)['invokedBy']).toBeUndefined();
  }
  const steps = record['steps'] as Step[];
  const status = Object.fromEntries(steps.map((s) => [s.name, s.status]));
  const learner = !/^3\.[23]\./.test(sandbox.etcdVersion);
  expect(status).toMatchObject({ ValidateInput: 'succeeded', RemoveFailedMember: 'succeeded', OpenEtcdPorts: 'succeeded', AddMember: 'succeeded', StartNewMember: 'succeeded', VerifyClusterHealth: 'succeeded', ReleaseLock: 'succeeded' });
  // Where every member runs etcd 3.4 or later the new member joins as a learner and is promoted; on 3.2 the
  // state machine's choice goes past PromoteNewMember. The failed host is off: nothing to back up from it.
  expect(status['PromoteNewMember']).toBe(learner ? 'succeeded' : undefined);
  expect(status['BackUpFailedMemberData']).toBeUndefined();
  // The new member joined: nothing to compensate.
  expect(status['CompensateNewMember']).toBeUndefined();
  // Each step's one line, kept by the step functions beside the record, made it into the record.
  expect(steps.filter((s) => s.status === 'succeeded' && !s.detail).map((s) => s.name)).toEqual([]);
  expect(JSON.stringify(record)).not.toMatch(/X-Amz-Signature|PRIVATE KEY/);

  // The notification a person reads.
  expect(r.notifications).toHaveLength(1);
  const note = r.notifications[0]!;
  expect(note.subject).toMatch(new RegExp(`^${r.config.clusterName}: ${failed} replaced by ${replacement} in \\d+`));
  expect(note.message).toContain('Timeline:');
  expect(note.message).toMatch(/members/);
  expect(note.attributes).toMatchObject({ cluster: r.config.clusterName, outcome: 'succeeded', runId: r.runId, failed: failed, replacement: replacement, executionArn: r.execution.executionArn });
  // The notification's timeline reads the steps' reports as the record does: a step that found its work done is skipped in both.
  const noted = (JSON.parse(note.attributes['run'] ?? '{}') as { steps?: Step[] }).steps ?? [];
  expect(Object.fromEntries(noted.map((s) => [s.name, s.status]))).toEqual(status);
  for (const s of steps.filter((x) => x.status === 'skipped')) expect(note.message).toMatch(new RegExp(`${s.name}\\s+skipped`));
  expect(`${note.subject}\n${note.message}\n${JSON.stringify(note.attributes)}`).not.toMatch(/X-Amz-Signature|PRIVATE KEY|etcd-replace\/runs\//);

  // The step functions' logs are Powertools JSON with the run's keys on every line.
  const stepLines = [...r.lambdas.logs.entries()].filter(([name]) => /-Step[A-Z]/.test(name)).flatMap(([, lines]) => lines);
  const parsed = stepLines.map((l) => { try { return JSON.parse(l) as Record<string, unknown>; } catch { return { unparsed: l }; } });
  expect(parsed.filter((l) => 'level' in l && (l['runId'] !== r.runId || l['executionArn'] !== r.execution.executionArn || typeof l['step'] !== 'string'))).toEqual([]);

  // Discovery from EC2 tags: the failed member by its instance, the replacement (a spare of the pool)
  // by its instance, and every host of the cluster as it is now, each with its instance ID.
  const context = record['context'] as { failedHost?: unknown; replacement?: unknown; inventory?: { hosts: Array<{ name: string; roles: string[]; instanceId?: string }> }; snapshotKey?: string };
  expect(context.failedHost).toMatchObject({ name: failed, instanceId: failedId });
  expect(context.replacement).toMatchObject({ name: replacement, instanceId: r.cloud.idOf(replacement), roles: ['spare'] });
  expect(context.inventory?.hosts.map((h) => h.name).sort()).toEqual(cluster.hosts.map((h) => h.name).sort());
  expect(context.inventory?.hosts.filter((h) => h.instanceId !== r.cloud.idOf(h.name))).toEqual([]);
  for (const e of earlier) expect(context.inventory?.hosts.find((h) => h.name === e.replacement)?.roles).toContain('etcd');

  // DynamoDB: the lock was released (its item deleted).
  expect(r.lockItem).toBeUndefined();

  // EC2: ingress opened only on the replacement's own group, from the etcd security group; the host's firewall agrees.
  expect(r.ingressChanges.length).toBeGreaterThan(0);
  expect(r.ingressChanges.filter((c) => c.action !== 'authorize' || c.hosts.join() !== replacement || c.rules.some((x) => x.sourceGroup !== r.config.etcdSecurityGroupId))).toEqual([]);
  expect(await describeEtcdPorts(sandbox, replacement)).toEqual([2379, 2380]);

  // S3: objects were read back (HeadObject), and the verified snapshot is in the bucket.
  expect(r.front.requests.filter((q) => q.service === 's3' && q.operation === 'HeadObject' && q.status === 200).length).toBeGreaterThan(0);
  expect(context.snapshotKey).toBeTruthy();
  expect(r.bucketObjects.find((o) => o.key === context.snapshotKey || o.key.endsWith(`/${context.snapshotKey}`))?.size).toBeGreaterThan(0);

  // SSM: no request carries a signed URL or key material; the URLs went sealed to one-time host keys.
  const requests = r.commands.map((c) => c.request);
  expect(requests.filter((q) => /sig=[0-9a-f]{16}|X-Amz-Signature|PRIVATE KEY/.test(q))).toEqual([]);
  expect(requests.filter((q) => q.includes('OneTimeKey for StartNewMember')).length).toBeGreaterThan(0);
  expect(requests.filter((q) => q.includes('openssl pkeyutl -decrypt')).length).toBeGreaterThanOrEqual(4);
  // Each SendCommand sent one command; every one ended, and the function that sent it collected its end.
  expect(r.front.requests.filter((q) => q.service === 'ssm' && q.operation === 'SendCommand' && q.status === 200)).toHaveLength(r.commands.length);
  expect(r.commands.filter((c) => !c.answer || c.collectedAt === undefined)).toEqual([]);
  // How many ran alone: counted on the hosts and online they agree; as the functions saw them (up to the
  // poll that collected each end) never more: a command sent side by side with another may start after
  // the other ended on its host and before the poll collected that end, when the machine is loaded.
  const counts = commandCounts(r.commands, r.cloud.overlapped);
  expect(counts.sent).toBeGreaterThan(0);
  expect(counts.onHosts).toBeGreaterThan(0);
  expect(counts.online).toBe(counts.onHosts);
  expect(counts.forCaller).toBeGreaterThan(0);
  expect(counts.forCaller).toBeLessThanOrEqual(counts.onHosts);

  // Lambda: every function invoked ran on the Node.js binary it was given.
  expect(r.lambdaRuntimes.size).toBe(new Set(r.lambdas.invocations.map((i) => i.functionName)).size);
  expect(new Set([...r.lambdaRuntimes.values()].map((x) => x.version))).toEqual(new Set([nodeVersionOf(r.lambdaNode)]));

  // The same independent facts as the other sandbox tests.
  await verifyReplaced(asReplaced(await loadSandbox(sandbox.name), earlier), failed, replacement, before);
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
    '',
    '== Timeline (the audit record\'s steps)',
    ...steps.map((s) => `  ${s.startedAt.slice(11, 23)}  ${s.name.padEnd(24)} ${s.status.padEnd(9)} ${seconds(s.startedAt, s.endedAt).padStart(6)} s  x${s.attempts}  ${s.detail ?? s.error?.name ?? ''}`.trimEnd()),
    '',
    '== Requests the AWS endpoint answered with an error (service operation status: count)',
    ...Object.entries(r.front.requests.filter((q) => q.status >= 400).reduce<Record<string, number>>((acc, q) => ({ ...acc, [`${q.service} ${q.operation} ${q.status}`]: (acc[`${q.service} ${q.operation} ${q.status}`] ?? 0) + 1 }), {})).map(([k, n]) => `  ${k}: ${n}`),
    '',
    '== EventBridge deliveries',
    ...r.deliveries.map((d) => `  ${d.rule.padEnd(28)} ${`${d.detailType}${d.status ? ` ${d.status}` : ''}`.padEnd(44)} -> ${d.target.padEnd(36)} ${d.ok ? 'ok' : `FAILED ${d.error ?? ''}`} (${d.attempts} attempt${d.attempts === 1 ? '' : 's'})`),
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

export interface SandboxRun {
  name: string;
  sandbox: SandboxInfo;
  before: Before;
}

export const rehearsalSandboxName = () => `rh-${randomBytes(3).toString('hex')}`;

/**
 * A sandbox of 3 members, `spares` spares and 1 node whose master-2, the leader, is powered off (its loss
 * also costs the cluster its leader). `before`: its data before the failure. `alongside` runs while the
 * leader is moved and failed, once the sandbox is up (the synthesis, which needs only its hosts).
 */
export async function rehearsalSandbox(log: (line: string) => void = () => {}, name = rehearsalSandboxName(), spares = 1, alongside?: (up: SandboxInfo) => Promise<unknown>): Promise<SandboxRun> {
  log(`sandbox up ${name} (3 members, ${spares} spare${spares === 1 ? '' : 's'}, 1 node)`);
  try {
    const up = await sandboxUp({ name, members: 3, spares, nodes: 1, dataMb: 4, progress: log });
    const failLeader = async () => {
      await makeLeader(up, FAILED);
      const before = await recordBefore(up);
      await failHost(name, FAILED, 'kill');
      log(`sandbox fail ${FAILED} (the leader, powered off)`);
      return before;
    };
    const [failed, other] = await Promise.allSettled([failLeader(), alongside?.(up)]);
    if (other.status === 'rejected') throw other.reason;
    if (failed.status === 'rejected') throw failed.reason;
    return { name, sandbox: await loadSandbox(name), before: failed.value };
  } catch (error) {
    await sandboxDown(name).catch(() => undefined);
    throw error;
  }
}

/** The whole rehearsal: sandbox, rehearse, check; the sandbox is removed whatever happens. */
export async function rehearseOnSandbox(log: (line: string) => void = () => {}, name = rehearsalSandboxName(), trigger: RehearsalTrigger = 'alarm'): Promise<{ rehearsal: Rehearsal; report: string }> {
  const run = await rehearsalSandbox(log, name);
  try {
    const rehearsal = await rehearse({ sandbox: run.sandbox, failed: FAILED, replacement: REPLACEMENT, log, trigger });
    const text = report(rehearsal);
    log(text);
    await checkRehearsal(rehearsal, run.sandbox, run.before);
    return { rehearsal, report: text };
  } finally {
    log(`sandbox down ${run.name}`);
    await sandboxDown(run.name);
  }
}
