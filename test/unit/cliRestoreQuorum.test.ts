// `etcd-replace restore-quorum` and `etcd-replace approve --target sandbox` (cli/commands/restoreQuorum.ts,
// cli/commands/approve.ts): the flags checked before anything is read, written or called; on AWS the
// restore's execution started with a request that passes schemas/restore-request.schema.json (Step
// Functions faked with aws-sdk-client-mock); on a sandbox an answer to a pending approval given once, beside
// the run records (a temporary ETCD_REPLACE_RUN_DIR), and exit 3 whenever nothing is pending.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeExecutionCommand, ExecutionDoesNotExist, GetExecutionHistoryCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { AwsCliDeps } from '../../cli/aws/client.ts';
import { approveCommand } from '../../cli/commands/approve.ts';
import { awsRestoreCommand } from '../../cli/commands/restoreQuorum.ts';
import { statusCommand } from '../../cli/commands/status.ts';
import { main } from '../../cli/main.ts';
import { defaultExecutionName } from '../../functions/adapters/aws/executions.ts';
import { FileApprovals } from '../../sandbox/adapters/fileApprovals.ts';
import { newRunRecord } from '../../functions/workflow/localRun.ts';
import type { RestoreContext } from '../../statemachine/restoreContext.ts';
import { RESTORE_WORKFLOW } from '../../statemachine/restoreSpec.ts';
import { HistoryBuilder, T0 } from '../support/aws/sfnHistory.ts';
import { cliInTempRunDir } from '../support/tempRunDir.ts';

const ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:etcd-restore-ocp311';
const NOW = new Date('2026-12-07T15:00:00Z');
const RUN_ID = 'r-20261207-150000-0a1b2c';
const EXECUTION = `arn:aws:states:eu-west-1:123456789012:execution:etcd-restore-ocp311:x`;

const sfnMock = mockClient(SFNClient);
const awsDeps: AwsCliDeps = { client: (region) => new SFNClient({ region: region ?? 'us-east-1' }), now: () => NOW, sleep: async () => {}, user: () => 'jane' };

beforeEach(() => {
  sfnMock.reset();
  // No execution of that name yet.
  sfnMock.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));
});
const cli = cliInTempRunDir('cli-restore-');

describe('CLI: restore-quorum, its flags', () => {
  it.each([
    [['--from', 'master-1', '--snapshot', 'runs/r-1/snapshot.db'], '--from and --snapshot exclude each other'],
    [['--approval-timeout-seconds', '0'], '--approval-timeout-seconds must be 1 to 86400'],
    [['--approval-timeout-seconds', '86401'], '--approval-timeout-seconds must be 1 to 86400'],
    [['--grace-seconds', '3601'], '--grace-seconds must be at most 3600'],
    [['--target', 'moon'], '--target must be sandbox or aws'],
    [['--sandbox', 'Not A Name'], '--sandbox'],
    [['--failed', 'master-2'], "Unknown option '--failed'"],
  ])('sandbox %j: exit 2 before any record is written', async (argv, message) => {
    expect(await main(['restore-quorum', ...argv])).toBe(2);
    expect(cli.output.err).toContain(message);
    expect(existsSync(join(cli.dir, '.owners'))).toBe(false);
  });

  it.each([
    [['--cluster', 'ocp311'], '--state-machine-arn is required'],
    [['--state-machine-arn', ARN], '--cluster NAME is required'],
    [['--state-machine-arn', ARN, '--cluster', 'ocp311', '--from', 'master-1', '--snapshot', 'runs/r/s.db'], '--from and --snapshot exclude each other'],
    [['--state-machine-arn', ARN, '--cluster', 'ocp311', '--sandbox', 'lab'], "Unknown option '--sandbox'"],
  ])('aws %j: exit 2, nothing started', async (argv, message) => {
    expect(await awsRestoreCommand(['--target', 'aws', ...argv], awsDeps)).toBe(2);
    expect(cli.output.err).toContain(message);
    expect(sfnMock.commandCalls(StartExecutionCommand)).toEqual([]);
  });

  it('plan restore-quorum has its own help, and takes no AWS target', async () => {
    expect(await main(['plan', 'restore-quorum', '--help'])).toBe(0);
    expect(cli.output.out).toContain('usage: etcd-replace plan restore-quorum --target sandbox [--sandbox NAME] [--from MEMBER | --snapshot KEY] [--json]');
    expect(await main(['plan', 'restore-quorum', '--target', 'aws'])).toBe(2);
    expect(cli.output.err).toContain('plan restore-quorum supports only --target sandbox');
  });
});

describe('CLI: restore-quorum --target aws', () => {
  it("starts the restore's execution with the request its flags make, named after the cluster and the hour", async () => {
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: NOW });
    const argv = ['--target', 'aws', '--state-machine-arn', ARN, '--cluster', 'ocp311', '--from', 'master-1', '--grace-seconds', '30'];
    expect(await awsRestoreCommand([...argv, '--approval-timeout-seconds', '900'], awsDeps)).toBe(0);
    const call = sfnMock.commandCalls(StartExecutionCommand)[0]!.args[0].input;
    expect(call.stateMachineArn).toBe(ARN);
    expect(call.name).toBe(defaultExecutionName({ cluster: 'ocp311', failed: 'restore-quorum' }, NOW));
    expect(call.name).toMatch(/^ocp311-restore-quorum-[0-9a-f]{8}-20261207-15$/);
    expect(JSON.parse(call.input!)).toEqual({
      cluster: 'ocp311',
      from: 'master-1',
      options: { graceSeconds: 30, approvalTimeoutSeconds: 900 },
      startedBy: 'cli:jane',
    });
    expect(cli.output.out).toContain(`started execution ${call.name}`);
  });

  it('a snapshot and the default windows: the request names the snapshot and no options', async () => {
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: NOW });
    const argv = ['--target', 'aws', '--state-machine-arn', ARN, '--cluster', 'ocp311', '--snapshot', 'runs/r-20260101-0001/snapshot-master-0.db'];
    expect(await awsRestoreCommand([...argv, '--name', 'restore-1', '--json'], awsDeps)).toBe(0);
    const call = sfnMock.commandCalls(StartExecutionCommand)[0]!.args[0].input;
    expect(call.name).toBe('restore-1');
    expect(JSON.parse(call.input!)).toEqual({ cluster: 'ocp311', snapshot: 'runs/r-20260101-0001/snapshot-master-0.db', startedBy: 'cli:jane' });
    expect(JSON.parse(cli.output.out)).toEqual({ executionArn: EXECUTION, startDate: NOW.toISOString() });
  });
});

describe('CLI: status of a restore execution', () => {
  it("lists the restore's tasks, not the replacement's, those never entered skipped", async () => {
    const request = { cluster: 'ocp311', startedBy: 'cli:jane' };
    sfnMock.on(DescribeExecutionCommand).resolves({
      executionArn: EXECUTION,
      name: 'x',
      status: 'FAILED',
      startDate: new Date(T0),
      stopDate: new Date(T0 + 60_000),
      input: JSON.stringify(request),
    });
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: new HistoryBuilder(request).task('ValidateRestoreRequest').task('AcquireLock').events });
    await statusCommand([EXECUTION, '--json'], awsDeps);
    const names = (JSON.parse(cli.output.out) as { steps: Array<{ name: string }> }).steps.map((s) => s.name);
    expect(names.slice(0, 3)).toEqual(['ValidateRestoreRequest', 'AcquireLock', 'ObserveQuorumLoss']);
    expect(names).toContain('AwaitApproval');
    expect(names).not.toContain('ValidateInput');
  });
});

describe('CLI: approve --target sandbox', () => {
  const context: RestoreContext = {
    runId: RUN_ID,
    request: { cluster: 'lab', failed: '', startedBy: 'test' },
    options: { graceSeconds: 0, learner: 'auto', approvalTimeoutSeconds: 600 },
  };
  function saveRun(state = 'AwaitApproval', outcome: 'running' | 'refused' = 'running'): void {
    writeFileSync(join(cli.dir, `${RUN_ID}.json`), JSON.stringify({ ...newRunRecord(context, 'sandbox', NOW, RESTORE_WORKFLOW), state, outcome }));
  }
  async function ask(expiresAt = '2026-12-07T16:00:00.000Z'): Promise<void> {
    await new FileApprovals(cli.dir).request({ runId: RUN_ID, cluster: 'lab', subject: 's', message: 'm', expiresAt, requestedAt: NOW.toISOString() });
  }
  const deps = { now: () => NOW, user: () => 'jane' };
  const answerFile = () => JSON.parse(readFileSync(join(cli.dir, '.approvals', `${RUN_ID}.answer.json`), 'utf8')) as unknown;

  it('answers the pending approval once (the sandbox is the default target); a second answer exits 3', async () => {
    saveRun();
    await ask();
    expect(await approveCommand([RUN_ID], deps)).toBe(0);
    expect(answerFile()).toEqual({ answer: 'approved', by: 'cli:jane', at: NOW.toISOString() });
    expect(cli.output.err).toContain(`run ${RUN_ID} approved by cli:jane at ${NOW.toISOString()}`);
    expect(await approveCommand([RUN_ID, '--target', 'sandbox', '--sandbox', 'lab', '--decline'], deps)).toBe(3);
    expect(cli.output.err).toContain(`run ${RUN_ID} has no pending approval: it was approved by cli:jane`);
    expect(answerFile()).toMatchObject({ answer: 'approved' });
  });

  it('declines with a reason, as JSON', async () => {
    saveRun();
    await ask();
    expect(await approveCommand([RUN_ID, '--target', 'sandbox', '--decline', '--reason', 'master-2 is back', '--json'], deps)).toBe(0);
    expect(answerFile()).toEqual({ answer: 'declined', by: 'cli:jane', at: NOW.toISOString(), reason: 'master-2 is back' });
    expect(JSON.parse(cli.output.out)).toEqual({ runId: RUN_ID, answer: 'declined', by: 'cli:jane', at: NOW.toISOString(), reason: 'master-2 is back' });
  });

  it.each([
    ['no such run', () => Promise.resolve(), 'no such run in the run record'],
    ['a run that asked for nothing yet', async () => saveRun('ChooseRestorePoint'), 'no such run waits for one'],
    ['a run that ended', async () => (saveRun('Refused', 'refused'), ask()), 'it ended refused'],
    ['a request past its deadline', async () => (saveRun(), ask('2026-12-07T14:59:59.000Z')), 'it timed out at 2026-12-07T14:59:59.000Z'],
  ])('%s: exit 3, nothing answered', async (_case, arrange, message) => {
    await arrange();
    expect(await approveCommand([RUN_ID], deps)).toBe(3);
    expect(cli.output.err).toContain(message);
    expect(existsSync(join(cli.dir, '.approvals', `${RUN_ID}.answer.json`))).toBe(false);
  });

  it('a run of another sandbox: exit 2', async () => {
    saveRun();
    await ask();
    expect(await approveCommand([RUN_ID, '--sandbox', 'other'], deps)).toBe(2);
    expect(cli.output.err).toContain(`run ${RUN_ID} is a run of sandbox cluster lab, not of sandbox other`);
  });
});

describe('CLI: one run at a time on a sandbox that lost quorum', () => {
  const restore: RestoreContext = {
    runId: RUN_ID,
    request: { cluster: 'lab', failed: '', startedBy: 'test' },
    options: { graceSeconds: 0, learner: 'auto', approvalTimeoutSeconds: 600 },
  };

  it('restore-quorum with an unfinished replacement on the sandbox: exit 3 naming it, nothing written', async () => {
    const replace = {
      runId: 'r-20261207-140000-0a0b0c',
      request: { cluster: 'lab', failed: 'master-2', startedBy: 'test' },
      options: { graceSeconds: 1, learner: 'auto' },
    };
    writeFileSync(join(cli.dir, `${replace.runId}.json`), JSON.stringify({ ...newRunRecord(replace as never, 'sandbox', NOW), state: 'RemoveFailedMember' }));
    expect(await main(['restore-quorum', '--sandbox', 'lab'])).toBe(3);
    expect(cli.output.err).toContain(
      `run ${replace.runId} (a replacement of master-2) on lab is unfinished: finish it with \`etcd-replace resume ${replace.runId} --sandbox lab\`, then restore`,
    );
    expect(existsSync(join(cli.dir, '.owners'))).toBe(false);
  });

  it('run with an unfinished restore on the sandbox: exit 3 naming it', async () => {
    writeFileSync(join(cli.dir, `${RUN_ID}.json`), JSON.stringify({ ...newRunRecord(restore, 'sandbox', NOW, RESTORE_WORKFLOW), state: 'AwaitApproval' }));
    expect(await main(['run', '--sandbox', 'lab', '--failed', 'master-2'])).toBe(3);
    expect(cli.output.err).toContain(
      `run ${RUN_ID} (RestoreEtcdQuorum) on lab is unfinished: finish it with \`etcd-replace resume ${RUN_ID} --sandbox lab\`; nothing was started`,
    );
  });
});
