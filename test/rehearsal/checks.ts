// The sandbox tests' checks of a rehearsal (rehearsal/, `npm run rehearse:aws`), beyond the command's own
// verdict: every field of the audit record and the notification, what went through EC2, SSM, S3 and
// DynamoDB, and the cluster's independent facts (test/support/verifyReplaced.ts). They also serve a later
// run on the same sandbox (another member failed, another spare), given the replacements before it.

import { expect } from 'vitest';
import { describeEtcdPorts, loadSandbox, type SandboxInfo } from '../../sandbox/index.ts';
import { figureLines } from '../../rehearsal/figures.ts';
import type { Rehearsal } from '../../rehearsal/rehearse.ts';
import { asReplaced, commandCounts, FAILED, nodeVersionOf, REPLACEMENT, type Replaced, type Step } from '../../rehearsal/run.ts';
import { makeLeader, recordBefore, verifyReplaced, type Before } from '../support/verifyReplaced.ts';

/** Before master-2 is powered off: makes it the leader (its loss also costs the cluster its leader), and reads the data. */
export async function leaderThenBefore(up: SandboxInfo): Promise<Before> {
  await makeLeader(up, FAILED);
  return recordBefore(up);
}

/**
 * The test's checks: the cluster as replaced, the run's audit record and notification, what went through
 * EC2, SSM, S3 and DynamoDB, the Node.js that ran the functions, and no API call denied.
 * `earlier`: the replacements this sandbox saw before this run.
 */
export async function checkRehearsal(
  r: Rehearsal,
  sandbox: SandboxInfo,
  before: Before,
  replacement: string = REPLACEMENT,
  earlier: Replaced[] = [],
): Promise<void> {
  const { trigger, failed } = r;
  const cluster = asReplaced(sandbox, earlier);
  const failedId = r.cloud.idOf(failed);
  const started = trigger === 'alarm' ? 'AlarmTrigger:CloudWatch Alarm State Change' : 'Ec2StateTrigger:EC2 Instance State-change Notification';
  expect(r.execution.status, `${r.execution.error ?? ''}: ${r.execution.cause ?? ''}`).toBe('SUCCEEDED');
  // Every EventBridge delivery (the alarm's StartExecution, the audit recorder, the notifier, the EC2 signal function) went through.
  expect(r.deliveries.filter((d) => !d.ok)).toEqual([]);
  expect(new Set(r.deliveries.map((d) => `${d.rule.replace(/[0-9A-F]{8}$/, '')}:${d.status ?? d.detailType}`))).toEqual(
    new Set([
      started,
      'AuditTrail:RUNNING',
      'AuditTrail:SUCCEEDED',
      'RunOutcome:SUCCEEDED',
      'WatchReplacedMembers:SUCCEEDED',
      'AuditStartedBy:AWS API Call via CloudTrail',
    ]),
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
    expect(record).toMatchObject({
      runId: r.runId,
      target: 'aws',
      outcome: 'succeeded',
      executionStatus: 'SUCCEEDED',
      startedBy: `alarm:etcd-replace-${r.config.clusterName}-member-${failed}`,
    });
    // The alarm's InstanceId dimension names the failed member: discovery finds it by its instance.
    expect(record['request']).toMatchObject({ failed: failedId });
    expect(record['alarm']).toMatchObject({ alarmName: `etcd-replace-${r.config.clusterName}-member-${failed}`, confirmed: true, from: 'OK' });
    expect(record['principal']).toMatchObject({ type: 'AssumedRole', invokedBy: 'events.amazonaws.com' });
  } else {
    // Started by the EC2 signal function, under its own role, with no replacement named: the pool's spare.
    // The failed member named by its instance ID, as the alarm rule names it: discovery finds it in any state, terminated too.
    const state = r.state ?? 'stopped';
    expect(record).toMatchObject({ runId: r.runId, target: 'aws', outcome: 'succeeded', executionStatus: 'SUCCEEDED', startedBy: `ec2:${failedId}:${state}` });
    expect(record['request']).toMatchObject({
      failed: failedId,
      startedBy: `ec2:${failedId}:${state}`,
      evidence: { signal: 'ec2-state-change', state, instanceId: failedId, ...(state === 'terminated' ? { final: true } : {}) },
    });
    expect((record['request'] as Record<string, unknown>)['replacement']).toBeUndefined();
    expect(record['alarm']).toBeUndefined();
    expect(record['principal']).toMatchObject({ type: 'AssumedRole', arn: expect.stringMatching(/:assumed-role\//) });
    expect((record['principal'] as Record<string, unknown>)['invokedBy']).toBeUndefined();
  }
  const steps = record['steps'] as Step[];
  const status = Object.fromEntries(steps.map((s) => [s.name, s.status]));
  checkEvidence(r, record);
  const learner = !/^3\.[23]\./.test(sandbox.etcdVersion);
  expect(status).toMatchObject({
    ValidateInput: 'succeeded',
    RemoveFailedMember: 'succeeded',
    OpenEtcdPorts: 'succeeded',
    AddMember: 'succeeded',
    StartNewMember: 'succeeded',
    VerifyClusterHealth: 'succeeded',
    ReleaseLock: 'succeeded',
  });
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
  expect(note.attributes).toMatchObject({
    cluster: r.config.clusterName,
    outcome: 'succeeded',
    runId: r.runId,
    failed: failed,
    replacement: replacement,
    executionArn: r.execution.executionArn,
  });
  // The notification's timeline reads the steps' reports as the record does: a step that found its work done is skipped in both.
  const noted = (JSON.parse(note.attributes['run'] ?? '{}') as { steps?: Step[] }).steps ?? [];
  expect(Object.fromEntries(noted.map((s) => [s.name, s.status]))).toEqual(status);
  for (const s of steps.filter((x) => x.status === 'skipped')) expect(note.message).toMatch(new RegExp(`${s.name}\\s+skipped`));
  expect(`${note.subject}\n${note.message}\n${JSON.stringify(note.attributes)}`).not.toMatch(/X-Amz-Signature|PRIVATE KEY|etcd-replace\/runs\//);

  // The step functions' logs are Powertools JSON with the run's keys on every line.
  const stepLines = [...r.lambdas.logs.entries()].filter(([name]) => /-Step[A-Z]/.test(name)).flatMap(([, lines]) => lines);
  const parsed = stepLines.map((l) => {
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      return { unparsed: l };
    }
  });
  expect(
    parsed.filter((l) => 'level' in l && (l['runId'] !== r.runId || l['executionArn'] !== r.execution.executionArn || typeof l['step'] !== 'string')),
  ).toEqual([]);

  // Discovery from EC2 tags: the failed member by its instance, the replacement (a spare of the pool)
  // by its instance, and every host of the cluster as it is now, each with its instance ID.
  const context = record['context'] as {
    failedHost?: unknown;
    replacement?: unknown;
    inventory?: { hosts: Array<{ name: string; roles: string[]; instanceId?: string }> };
    snapshotKey?: string;
  };
  expect(context.failedHost).toMatchObject({ name: failed, instanceId: failedId });
  expect(context.replacement).toMatchObject({ name: replacement, instanceId: r.cloud.idOf(replacement), roles: ['spare'] });
  expect(context.inventory?.hosts.map((h) => h.name).sort()).toEqual(cluster.hosts.map((h) => h.name).sort());
  expect(context.inventory?.hosts.filter((h) => h.instanceId !== r.cloud.idOf(h.name))).toEqual([]);
  for (const e of earlier) expect(context.inventory?.hosts.find((h) => h.name === e.replacement)?.roles).toContain('etcd');

  // DynamoDB: the lock was released (its item deleted).
  expect(r.lockItem).toBeUndefined();

  // EC2: ingress opened only on the replacement's own group, from the etcd security group; the host's firewall agrees.
  expect(r.ingressChanges.length).toBeGreaterThan(0);
  expect(
    r.ingressChanges.filter(
      (c) => c.action !== 'authorize' || c.hosts.join() !== replacement || c.rules.some((x) => x.sourceGroup !== r.config.etcdSecurityGroupId),
    ),
  ).toEqual([]);
  expect(await describeEtcdPorts(sandbox, replacement)).toEqual([2379, 2380]);

  // S3: objects were read back (HeadObject), and the verified snapshot is in the bucket.
  expect(r.front.requests.filter((q) => q.service === 's3' && q.operation === 'HeadObject' && q.status === 200).length).toBeGreaterThan(0);
  expect(context.snapshotKey).toBeTruthy();
  expect(r.bucketObjects.find((o) => o.key === context.snapshotKey || o.key.endsWith(`/${context.snapshotKey}`))?.size).toBeGreaterThan(0);

  // SSM: no request carries a signed URL or key material; the URLs went sealed to one-time host keys, made
  // ahead by earlier commands to the same hosts (functions/hosts/keysAhead.ts): StartNewMember's by
  // InstallEtcd's first command, so no command of its own for it.
  const requests = r.commands.map((c) => c.request);
  expect(requests.filter((q) => /sig=[0-9a-f]{16}|X-Amz-Signature|PRIVATE KEY/.test(q))).toEqual([]);
  expect(requests.filter((q) => q.includes("one-time keys for later commands' secrets")).length).toBeGreaterThan(0);
  expect(requests.filter((q) => q.includes('OneTimeKey for StartNewMember'))).toEqual([]);
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

/**
 * Evidence decides the wait: EC2 `terminated` is final, so the second observation was due at the first
 * (confirmFailureAfter = the first observation's time, not the grace window after it); an alarm or
 * `stopped` keeps the window. The record names the evidence; the figures were reported.
 */
function checkEvidence(r: Rehearsal, record: Record<string, unknown>): void {
  const context = record['context'] as { failureEvidence?: Record<string, unknown>; confirmFailureAfter?: string; failureObservedAt?: string[] };
  const final = r.trigger === 'ec2-state-change' && r.state === 'terminated';
  expect(context.failureEvidence).toMatchObject(
    r.trigger === 'alarm' ? { signal: 'alarm', state: 'ALARM', final: false } : { signal: 'ec2-state-change', state: r.state ?? 'stopped', final },
  );
  const [first, second] = (context.failureObservedAt ?? []).map((t) => Date.parse(t));
  const due = Date.parse(context.confirmFailureAfter ?? '');
  const graceMs = r.config.alarmGraceSeconds * 1000;
  expect(graceMs).toBeGreaterThan(0);
  // Between the first observation's own clock reading and the step's end: well under the grace window.
  if (final) expect(due - first!).toBeLessThan(graceMs);
  else expect(due - first!).toBeGreaterThanOrEqual(graceMs);
  expect(second!).toBeGreaterThanOrEqual(due);
  // The figures: phases that add up, and the calls as the endpoint counted them.
  const seconds = r.figures.seconds!;
  expect(seconds.before + seconds.window + seconds.after).toBeCloseTo(seconds.endToEnd, 5);
  expect(r.figures.calls['SendCommand']).toBe(r.commands.length);
  expect(Object.values(r.figures.ssmBySteps).reduce((n, ops) => n + (ops['SendCommand'] ?? 0), 0)).toBe(r.commands.length);
  const lines = figureLines(r.figures);
  expect(lines.at(-2)).toMatch(/^end to end: \d+\.\d s \(before the window \d+\.\d s, window \d+\.\d s, after \d+\.\d s\)$/);
  expect(lines.at(-1)).toMatch(new RegExp(`^calls: SendCommand ${r.commands.length}, GetCommandInvocation \\d+, `));
}
