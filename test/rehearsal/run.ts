// The rehearsal as one command and one test share this: build the sandbox (3 members, 1 spare, 1 node,
// master-2 powered off), rehearse, check what it left behind, print the report, and tear everything
// down whatever happens.

import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { failHost, loadSandbox, sandboxDown, sandboxUp, type SandboxInfo } from '../../sandbox/index.ts';
import { recordBefore, verifyReplaced, type Before } from '../support/verifyReplaced.ts';
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

/** The checks: the cluster as replaced, the run's audit record and notification, and no API call denied. */
export async function checkRehearsal(r: Rehearsal, sandbox: SandboxInfo, before: Before, trigger: RehearsalTrigger = 'alarm'): Promise<void> {
  const failedId = r.cloud.idOf(FAILED);
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
  // No command was left running on a host, and none went to the powered-off host.
  expect(r.cloud.running()).toEqual([]);
  expect(r.cloud.invocations.filter((i) => i.host === FAILED)).toEqual([]);

  // The audit record the deployed recorder wrote to the table.
  expect(r.auditItem).toMatchObject({ runId: r.runId, cluster: r.config.clusterName, outcome: 'succeeded', executionArn: r.execution.executionArn });
  const record = r.auditRecord!;
  if (trigger === 'alarm') {
    expect(record).toMatchObject({ runId: r.runId, target: 'aws', outcome: 'succeeded', executionStatus: 'SUCCEEDED', startedBy: `alarm:etcd-replace-${r.config.clusterName}-member-${FAILED}` });
    expect(record['alarm']).toMatchObject({ alarmName: `etcd-replace-${r.config.clusterName}-member-${FAILED}`, confirmed: true, from: 'OK' });
    expect(record['principal']).toMatchObject({ type: 'AssumedRole', invokedBy: 'events.amazonaws.com' });
  } else {
    // Started by the EC2 signal function, under its own role, with no replacement named: the pool's spare.
    expect(record).toMatchObject({ runId: r.runId, target: 'aws', outcome: 'succeeded', executionStatus: 'SUCCEEDED', startedBy: `ec2:${failedId}:stopped` });
    expect(record['request']).toMatchObject({ failed: FAILED, startedBy: `ec2:${failedId}:stopped` });
    expect((record['request'] as Record<string, unknown>)['replacement']).toBeUndefined();
    expect(record['alarm']).toBeUndefined();
    expect(record['principal']).toMatchObject({ type: 'AssumedRole', arn: expect.stringMatching(/:assumed-role\//) });
    expect((record['principal'] as Record<string, unknown>)['invokedBy']).toBeUndefined();
  }
  const steps = record['steps'] as Step[];
  const status = Object.fromEntries(steps.map((s) => [s.name, s.status]));
  const learner = !/^3\.[23]\./.test(sandbox.etcdVersion);
  expect(status).toMatchObject({ ValidateInput: 'succeeded', RemoveFailedMember: 'succeeded', AddMember: 'succeeded', StartNewMember: 'succeeded', VerifyClusterHealth: 'succeeded', ReleaseLock: 'succeeded' });
  // Where every member runs etcd 3.4 or later the new member joins as a learner and is promoted; on 3.2 the
  // state machine's choice goes past PromoteNewMember. The failed host is off: nothing to back up from it.
  expect(status['PromoteNewMember']).toBe(learner ? 'succeeded' : undefined);
  expect(status['BackUpFailedMemberData']).toBeUndefined();
  // Each step's one line, kept by the step functions beside the record, made it into the record.
  expect(steps.filter((s) => s.status === 'succeeded' && !s.detail).map((s) => s.name)).toEqual([]);
  expect(JSON.stringify(record)).not.toMatch(/X-Amz-Signature|PRIVATE KEY/);

  // The notification a person reads.
  expect(r.notifications).toHaveLength(1);
  const note = r.notifications[0]!;
  expect(note.subject).toMatch(new RegExp(`^${r.config.clusterName}: ${FAILED} replaced by ${REPLACEMENT} in \\d+`));
  expect(note.message).toContain('Timeline:');
  expect(note.message).toMatch(/members/);
  expect(note.attributes).toMatchObject({ cluster: r.config.clusterName, outcome: 'succeeded', runId: r.runId, failed: FAILED, replacement: REPLACEMENT, executionArn: r.execution.executionArn });
  // The notification's timeline reads the steps' reports as the record does: a step that found its work done is skipped in both.
  const noted = (JSON.parse(note.attributes['run'] ?? '{}') as { steps?: Step[] }).steps ?? [];
  expect(Object.fromEntries(noted.map((s) => [s.name, s.status]))).toEqual(status);
  for (const s of steps.filter((x) => x.status === 'skipped')) expect(note.message).toMatch(new RegExp(`${s.name}\\s+skipped`));
  expect(`${note.subject}\n${note.message}\n${JSON.stringify(note.attributes)}`).not.toMatch(/X-Amz-Signature|PRIVATE KEY|etcd-replace\/runs\//);

  // The step functions' logs are Powertools JSON with the run's keys on every line.
  const stepLines = [...r.lambdas.logs.entries()].filter(([name]) => /-Step[A-Z]/.test(name)).flatMap(([, lines]) => lines);
  const parsed = stepLines.map((l) => { try { return JSON.parse(l) as Record<string, unknown>; } catch { return { unparsed: l }; } });
  expect(parsed.filter((l) => 'level' in l && (l['runId'] !== r.runId || l['executionArn'] !== r.execution.executionArn || typeof l['step'] !== 'string'))).toEqual([]);

  // The same independent facts as the other sandbox tests.
  await verifyReplaced(await loadSandbox(sandbox.name), FAILED, REPLACEMENT, before);
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
    `run ${r.runId}: ${lambdaCalls.length} Lambda invocations of ${new Set(lambdaCalls.map((i) => i.functionName)).size} functions; ${r.cloud.invocations.length} SSM commands; ${r.front.requests.length} requests to the AWS endpoint`,
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

/** A sandbox of 3 members, 1 spare and 1 node whose master-2 is powered off. */
export async function rehearsalSandbox(log: (line: string) => void = () => {}, name = rehearsalSandboxName()): Promise<SandboxRun> {
  log(`sandbox up ${name} (3 members, 1 spare, 1 node)`);
  try {
    const up = await sandboxUp({ name, members: 3, spares: 1, nodes: 1, dataMb: 4, progress: log });
    const before = await recordBefore(up);
    await failHost(name, FAILED, 'kill');
    log(`sandbox fail ${FAILED} (powered off)`);
    return { name, sandbox: await loadSandbox(name), before };
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
    await checkRehearsal(rehearsal, run.sandbox, run.before, trigger);
    return { rehearsal, report: text };
  } finally {
    log(`sandbox down ${run.name}`);
    await sandboxDown(run.name);
  }
}
