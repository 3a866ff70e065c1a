// The CLI against AWS with a mocked Step Functions client: argument and input checks before any AWS
// call, the start and its deduplication, --wait, status and history, and their exit codes.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
  type ExecutionStatus,
} from '@aws-sdk/client-sfn';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AwsCliDeps } from '../../cli/aws/client.ts';
import { awsHistoryCommand } from '../../cli/commands/history.ts';
import { awsRunCommand } from '../../cli/commands/run.ts';
import { statusCommand } from '../../cli/commands/status.ts';
import { main } from '../../cli/main.ts';
import { defaultExecutionName, type RunDocument } from '../../functions/adapters/aws/executions.ts';
import { HistoryBuilder, successfulRun, T0 } from '../support/aws/sfnHistory.ts';
import { captureOutput, type CapturedOutput } from '../support/captureOutput.ts';

const STATE_MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:etcd-replace-ocp311';
const NOW = new Date('2026-03-02T10:17:00Z');
const REQUEST = { cluster: 'ocp311', failed: 'master-2.ocp311.example.internal', replacement: 'etcd-spare-0.ocp311.example.internal', startedBy: 'cli:ops' };
const NAME = defaultExecutionName(REQUEST, NOW);
const EXECUTION = `arn:aws:states:eu-west-1:123456789012:execution:etcd-replace-ocp311:${NAME}`;

const sfnMock = mockClient(SFNClient);
const dir = mkdtempSync(join(tmpdir(), 'aws-cli-'));
const regions: Array<string | undefined> = [];
const deps: AwsCliDeps = {
  client: (region) => {
    regions.push(region);
    return new SFNClient({ region: region ?? 'us-east-1' });
  },
  now: () => NOW,
  sleep: async () => {},
  user: () => 'jane',
};

function inputFile(content: unknown, name = 'request.json'): string {
  const file = join(dir, name);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

let output: CapturedOutput = { out: '', err: '' };
beforeEach(() => {
  sfnMock.reset();
  regions.length = 0;
  output = captureOutput();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const notFound = () => new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} });
const described = (status: ExecutionStatus, stopDate?: Date) => ({
  executionArn: EXECUTION,
  name: NAME,
  status,
  startDate: new Date(T0),
  ...(stopDate ? { stopDate } : {}),
  input: JSON.stringify(REQUEST),
});
const runArgs = (file: string, ...more: string[]) => ['--target', 'aws', '--state-machine-arn', STATE_MACHINE, '--input', file, ...more];

describe('CLI: run --target aws, input checks before AWS', () => {
  it('refuses input that does not match the schema with every violation (exit 2), calling nothing', async () => {
    const file = inputFile({ cluster: 'ocp311', replacement: 'Etcd Spare', startedBy: 'cli:ops', colour: 'blue' }, 'bad.json');
    expect(await awsRunCommand(runArgs(file), deps)).toBe(2);
    expect(output.err).toContain('does not match schemas/replace-request.schema.json');
    expect(output.err).toContain("must have required property 'failed'");
    expect(output.err).toContain('/replacement must match pattern');
    expect(output.err).toContain('must NOT have additional properties "colour"');
    expect(sfnMock.calls()).toHaveLength(0);
    expect(output.out).toBe('');
  });

  it('refuses a file that is not JSON or cannot be read (exit 2)', async () => {
    expect(await awsRunCommand(runArgs(inputFile('{"cluster":', 'broken.json')), deps)).toBe(2);
    expect(output.err).toContain('is not JSON');
    expect(await awsRunCommand(runArgs(join(dir, 'missing.json')), deps)).toBe(2);
    expect(output.err).toContain('cannot read');
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it('refuses missing or malformed options (exit 2)', async () => {
    const file = inputFile(REQUEST);
    expect(await awsRunCommand(['--target', 'aws', '--input', file], deps)).toBe(2);
    expect(output.err).toContain('--state-machine-arn is required');
    expect(await awsRunCommand(['--target', 'aws', '--state-machine-arn', 'etcd-replace-ocp311', '--input', file], deps)).toBe(2);
    expect(output.err).toContain('is not a state machine ARN');
    expect(await awsRunCommand(['--target', 'aws', '--state-machine-arn', STATE_MACHINE], deps)).toBe(2);
    expect(output.err).toContain('--input FILE is required');
    expect(await awsRunCommand(runArgs(file, '--name', 'has space'), deps)).toBe(2);
    expect(await awsRunCommand(runArgs(file, '--failed', 'master-2'), deps)).toBe(2);
    expect(output.err).toContain("Unknown option '--failed'");
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it('is what `etcd-replace run --target aws` and `history --target=aws` dispatch to', async () => {
    expect(await main(['run', '--target', 'aws', '--state-machine-arn', STATE_MACHINE, '--input', inputFile({}, 'empty.json')])).toBe(2);
    expect(output.err).toContain("must have required property 'cluster'");
    expect(await main(['history', '--target=aws'])).toBe(2);
    expect(output.err).toContain('--state-machine-arn is required');
    expect(await main(['run', '--target', 'gcp', '--failed', 'a', '--replacement', 'b'])).toBe(2);
    expect(output.err).toContain('--target must be sandbox or aws');
    expect(await main(['status', 'not-an-arn'])).toBe(2);
    expect(sfnMock.calls()).toHaveLength(0);
  });
});

describe('CLI: run --target aws, starting', () => {
  it("starts under the deterministic name in the ARN's region; with --json stdout is {executionArn, startDate} alone, exit 0", async () => {
    sfnMock.on(DescribeExecutionCommand).rejects(notFound());
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: new Date(T0) });
    expect(await awsRunCommand(runArgs(inputFile(REQUEST), '--json'), deps)).toBe(0);
    expect(JSON.parse(output.out)).toEqual({ executionArn: EXECUTION, startDate: new Date(T0).toISOString() });
    expect(output.err).toContain(`etcd-replace status ${EXECUTION}`);
    expect(regions).toEqual(['eu-west-1']);
    expect(sfnMock.commandCalls(StartExecutionCommand)[0]!.args[0].input).toEqual({
      stateMachineArn: STATE_MACHINE,
      name: NAME,
      input: JSON.stringify(REQUEST),
    });
  });

  it('without --json says in words what it started and how to follow it, no JSON', async () => {
    sfnMock.on(DescribeExecutionCommand).rejects(notFound());
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: new Date(T0) });
    expect(await awsRunCommand(runArgs(inputFile(REQUEST)), deps)).toBe(0);
    expect(output.out).toBe(`started execution ${NAME} at ${new Date(T0).toISOString()}\n  ${EXECUTION}\nfollow it with: etcd-replace status ${EXECUTION}\n`);
    expect(output.out).not.toMatch(/^\s*[{[]/m);
    expect(output.err).not.toContain('started');
  });

  it('fills in startedBy as cli:<user> when the file has none, and takes --name', async () => {
    sfnMock.on(DescribeExecutionCommand).rejects(notFound());
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: `${STATE_MACHINE.replace(':stateMachine:', ':execution:')}:retry-1`, startDate: new Date(T0) });
    const { startedBy: _, ...bare } = REQUEST;
    expect(await awsRunCommand(runArgs(inputFile(bare), '--name', 'retry-1', '--json'), deps)).toBe(0);
    const call = sfnMock.commandCalls(StartExecutionCommand)[0]!.args[0].input;
    expect(call.name).toBe('retry-1');
    expect(JSON.parse(call.input!)).toEqual({ ...bare, startedBy: 'cli:jane' });
  });

  it('starts nothing when the same execution is still running: prints it, exit 3', async () => {
    sfnMock.on(DescribeExecutionCommand).resolves(described('RUNNING'));
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: new HistoryBuilder(REQUEST).task('ValidateInput').runningTask('AcquireLock').events });
    expect(await awsRunCommand(runArgs(inputFile(REQUEST), '--json'), deps)).toBe(3);
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
    expect(output.err).toContain(`an execution named ${NAME} is already running`);
    expect(JSON.parse(output.out)).toMatchObject({ executionArn: EXECUTION, outcome: 'running', endedAt: null });
  });

  it('starts nothing when the same execution already ended: prints it, exit as its outcome', async () => {
    const h = new HistoryBuilder(REQUEST)
      .task('ValidateInput')
      .caughtTask('AcquireLock', 'LockHeldError', 'locked by r-1')
      .choice('RouteOutcome')
      .fail('Refused');
    sfnMock.on(DescribeExecutionCommand).resolves(described('FAILED', h.now));
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: h.events });
    expect(await awsRunCommand(runArgs(inputFile(REQUEST)), deps)).toBe(3);
    expect(output.err).toContain('already ran');
    expect(output.err).toContain('give it a new --name');
    expect(output.out).toContain('outcome: refused — LockHeldError: locked by r-1');
  });
});

describe('CLI: run --target aws --wait', () => {
  async function waitFor(builder: HistoryBuilder, finalStatus: ExecutionStatus): Promise<number> {
    sfnMock
      .on(DescribeExecutionCommand)
      .rejectsOnce(notFound())
      .resolvesOnce(described('RUNNING'))
      .resolvesOnce(described('RUNNING'))
      .resolves(described(finalStatus, builder.now));
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: new Date(T0) });
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: builder.events });
    return awsRunCommand(runArgs(inputFile(REQUEST), '--wait', '--json'), { ...deps, sleep: async () => {} });
  }

  it('polls DescribeExecution until the end, prints the run document, exit 0 on success', async () => {
    expect(await waitFor(successfulRun(REQUEST), 'SUCCEEDED')).toBe(0);
    const doc = JSON.parse(output.out) as RunDocument;
    expect(doc).toMatchObject({ outcome: 'succeeded', reason: null, startedBy: 'cli:ops', executionArn: EXECUTION });
    expect(doc.steps.find((s) => s.name === 'AcquireLock')).toMatchObject({ status: 'succeeded', attempts: 2 });
    // start check + 3 polls + the final describe
    expect(sfnMock.commandCalls(DescribeExecutionCommand)).toHaveLength(5);
    expect(output.err).toContain(`execution ${NAME}: SUCCEEDED`);
  });

  it('prints a ▶/✓ line per step on stderr from the history as it grows, each once, and one JSON document on stdout', async () => {
    const full = successfulRun(REQUEST);
    const cut = (type: string) => full.events.findIndex((e) => e.type === 'TaskStateEntered' && e.stateEnteredEventDetails?.name === type);
    // Three polls see the history grow: up to CheckClusterHealth, up to RemoveFailedMember, then all of it.
    const seen = [full.events.slice(0, cut('CheckClusterHealth')), full.events.slice(0, cut('RemoveFailedMember')), full.events];
    sfnMock
      .on(DescribeExecutionCommand)
      .rejectsOnce(notFound())
      .resolvesOnce(described('RUNNING'))
      .resolvesOnce(described('RUNNING'))
      .resolves(described('SUCCEEDED', full.now));
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: new Date(T0) });
    let poll = 0;
    sfnMock.on(GetExecutionHistoryCommand, { reverseOrder: true }).callsFake(() => ({ events: [...seen[Math.min(poll++, seen.length - 1)]!].reverse() }));
    sfnMock.on(GetExecutionHistoryCommand, { reverseOrder: undefined }).resolves({ events: full.events });
    expect(await awsRunCommand(runArgs(inputFile(REQUEST), '--wait', '--json'), deps)).toBe(0);

    expect((JSON.parse(output.out) as RunDocument).outcome).toBe('succeeded');
    const lines = output.err.split('\n');
    expect(lines).toContain('▶ ValidateInput');
    expect(lines).toContain('▶ AcquireLock');
    expect(lines).toContain('  ↻ AcquireLock attempt 2');
    expect(lines.some((l) => /^ {2}! ConditionalCheckFailedException: AcquireLock hiccup — retrying in [\d.]+s$/.test(l))).toBe(true);
    expect(lines).toContain('… WaitGraceWindow: observing the failure again once the grace window has passed');
    expect(lines.filter((l) => /^✓ /.test(l)).map((l) => l.split(' ')[1])).toEqual(
      full.events.filter((e) => e.type === 'TaskStateEntered').map((e) => e.stateEnteredEventDetails?.name),
    );
    expect(lines.filter((l) => l === '▶ CheckClusterHealth')).toHaveLength(1);
    expect(output.err.indexOf('✓ UpdateFlannel')).toBeLessThan(output.err.indexOf(`execution ${NAME}: SUCCEEDED`));
    expect(lines).toContain('✓ ValidateInput 7.0s'); // TaskStateEntered to TaskStateExited
  });

  it('reads the history newest first, only as far back as the events it has printed', async () => {
    const full = successfulRun(REQUEST);
    const newestFirst = [...full.events].reverse();
    sfnMock.on(DescribeExecutionCommand).rejectsOnce(notFound()).resolvesOnce(described('RUNNING')).resolves(described('SUCCEEDED', full.now));
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: new Date(T0) });
    sfnMock.on(GetExecutionHistoryCommand, { reverseOrder: true }).callsFake((input: { nextToken?: string }) => {
      const from = Number(input.nextToken ?? 0);
      return { events: newestFirst.slice(from, from + 10), ...(from + 10 < newestFirst.length ? { nextToken: String(from + 10) } : {}) };
    });
    sfnMock.on(GetExecutionHistoryCommand, { reverseOrder: undefined }).resolves({ events: full.events });
    expect(await awsRunCommand(runArgs(inputFile(REQUEST), '--wait'), deps)).toBe(0);
    const pages = sfnMock.commandCalls(GetExecutionHistoryCommand).filter((c) => c.args[0].input.reverseOrder === true);
    // The first poll pages back to the start; the second finds what it printed on its first page.
    expect(pages).toHaveLength(Math.ceil(newestFirst.length / 10) + 1);
    expect(output.err.match(/^✓ ValidateInput /gm)).toHaveLength(1);
    expect(output.err.match(/^✓ UpdateFlannel /gm)).toHaveLength(1);
  });

  it('ends a step with ✗ and its error when the task fails, caught or not', async () => {
    const caught = new HistoryBuilder(REQUEST)
      .task('ValidateInput')
      .task('AcquireLock')
      .caughtTask('CheckClusterHealth', 'NoQuorumError', 'no quorum')
      .task('ReleaseLock')
      .choice('RouteOutcome')
      .fail('Failed');
    sfnMock.on(DescribeExecutionCommand).rejectsOnce(notFound()).resolves(described('FAILED', caught.now));
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: new Date(T0) });
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: caught.events });
    expect(await awsRunCommand(runArgs(inputFile(REQUEST), '--wait'), deps)).toBe(1);
    expect(output.err).toMatch(/^✗ CheckClusterHealth [\d.]+s: NoQuorumError: no quorum$/m);
    expect(output.err).toMatch(/^✓ ReleaseLock /m);
    expect(output.out).toBe('');

    sfnMock.reset();
    output.err = '';
    const uncaught = new HistoryBuilder(REQUEST).task('ValidateInput').uncaughtTask('AcquireLock', 'States.Runtime', 'bad path');
    sfnMock.on(DescribeExecutionCommand).rejectsOnce(notFound()).resolves(described('FAILED', uncaught.now));
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: new Date(T0) });
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: uncaught.events });
    expect(await awsRunCommand(runArgs(inputFile(REQUEST), '--wait'), deps)).toBe(1);
    expect(output.err).toMatch(/^✗ AcquireLock [\d.]+s: States.Runtime: bad path$/m);
  });

  it('keeps waiting when the history cannot be read for progress, and says so once', async () => {
    const h = successfulRun(REQUEST);
    sfnMock.on(DescribeExecutionCommand).rejectsOnce(notFound()).resolvesOnce(described('RUNNING')).resolves(described('SUCCEEDED', h.now));
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: new Date(T0) });
    sfnMock.on(GetExecutionHistoryCommand, { reverseOrder: true }).rejects(new Error('throttled'));
    sfnMock.on(GetExecutionHistoryCommand, { reverseOrder: undefined }).resolves({ events: h.events });
    expect(await awsRunCommand(runArgs(inputFile(REQUEST), '--wait', '--json'), deps)).toBe(0);
    expect(output.err.match(/step progress unavailable: throttled/g)).toHaveLength(1);
    expect((JSON.parse(output.out) as RunDocument).outcome).toBe('succeeded');
  });

  it('exits 3 on a refusal, 1 on a failure, 2 on input the first state rejects', async () => {
    const refused = new HistoryBuilder(REQUEST)
      .task('ValidateInput')
      .caughtTask('AcquireLock', 'LockHeldError', 'locked')
      .choice('RouteOutcome')
      .fail('Refused');
    expect(await waitFor(refused, 'FAILED')).toBe(3);
    sfnMock.reset();
    const failed = new HistoryBuilder(REQUEST)
      .task('ValidateInput')
      .task('AcquireLock')
      .caughtTask('CheckClusterHealth', 'NoQuorumError', 'no quorum')
      .task('ReleaseLock')
      .choice('RouteOutcome')
      .fail('Failed');
    expect(await waitFor(failed, 'FAILED')).toBe(1);
    sfnMock.reset();
    const invalid = new HistoryBuilder(REQUEST)
      .caughtTask('ValidateInput', 'InvalidInputError', 'invalid replacement: not a spare')
      .choice('RouteOutcome')
      .fail('Failed');
    expect(await waitFor(invalid, 'FAILED')).toBe(2);
  });
});

describe('CLI: status', () => {
  it('prints the run document; exit 4 while it runs, then as the outcome', async () => {
    sfnMock.on(DescribeExecutionCommand).resolves(described('RUNNING'));
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: new HistoryBuilder(REQUEST).task('ValidateInput').runningTask('AcquireLock').events });
    expect(await statusCommand([EXECUTION, '--json'], deps)).toBe(4);
    expect(JSON.parse(output.out)).toMatchObject({
      outcome: 'running',
      steps: [
        { name: 'ValidateInput', status: 'succeeded' },
        { name: 'AcquireLock', status: 'running', endedAt: null },
      ],
    });

    output.out = '';
    const h = successfulRun(REQUEST);
    sfnMock.on(DescribeExecutionCommand).resolves(described('SUCCEEDED', h.now));
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: h.events });
    expect(await statusCommand([EXECUTION], deps)).toBe(0);
    expect(output.out).toContain(`started by cli:ops`);
    expect(output.out).toMatch(/AcquireLock\s+succeeded\s+[\d.]+s\s+\(2 attempts\)/);
    expect(output.out).toMatch(/BackUpFailedMemberData\s+skipped/);
    expect(output.out).toContain('outcome: succeeded');
    expect(regions).toEqual(['eu-west-1', 'eu-west-1']);
  });

  it('refuses anything but one execution ARN (exit 2)', async () => {
    expect(await statusCommand([], deps)).toBe(2);
    expect(await statusCommand([STATE_MACHINE], deps)).toBe(2);
    expect(output.err).toContain('is not an execution ARN');
    expect(sfnMock.calls()).toHaveLength(0);
  });
});

describe('CLI: history --target aws', () => {
  it('lists run documents with who started each, newest first', async () => {
    const arnOf = (n: string) => `${STATE_MACHINE.replace(':stateMachine:', ':execution:')}:${n}`;
    sfnMock.on(ListExecutionsCommand).resolves({
      executions: [
        { executionArn: arnOf('b'.repeat(6)), stateMachineArn: STATE_MACHINE, name: 'b'.repeat(6), status: 'SUCCEEDED', startDate: new Date(T0) },
        { executionArn: arnOf('a'.repeat(6)), stateMachineArn: STATE_MACHINE, name: 'a'.repeat(6), status: 'RUNNING', startDate: new Date(T0) },
      ],
    });
    sfnMock
      .on(GetExecutionHistoryCommand, { executionArn: arnOf('b'.repeat(6)) })
      .resolves({ events: successfulRun({ ...REQUEST, startedBy: 'alarm:etcd-replace-ocp311-member-master-2' }).events });
    sfnMock
      .on(GetExecutionHistoryCommand, { executionArn: arnOf('a'.repeat(6)) })
      .resolves({ events: new HistoryBuilder({ ...REQUEST, startedBy: 'console:jane' }).runningTask('ValidateInput').events });
    expect(await awsHistoryCommand(['--target', 'aws', '--state-machine-arn', STATE_MACHINE, '--limit', '5', '--json'], deps)).toBe(0);
    const runs = JSON.parse(output.out) as RunDocument[];
    expect(runs.map((r) => [r.runId, r.outcome, r.startedBy])).toEqual([
      ['bbbbbb', 'succeeded', 'alarm:etcd-replace-ocp311-member-master-2'],
      ['aaaaaa', 'running', 'console:jane'],
    ]);
    expect(sfnMock.commandCalls(ListExecutionsCommand)[0]!.args[0].input).toEqual({ stateMachineArn: STATE_MACHINE, maxResults: 5 });
  });

  it('says so when there are none, and checks --limit', async () => {
    sfnMock.on(ListExecutionsCommand).resolves({ executions: [] });
    expect(await awsHistoryCommand(['--target', 'aws', '--state-machine-arn', STATE_MACHINE], deps)).toBe(0);
    expect(output.out).toBe('no executions\n');
    expect(await awsHistoryCommand(['--target', 'aws', '--state-machine-arn', STATE_MACHINE, '--limit', '0'], deps)).toBe(2);
    expect(await awsHistoryCommand(['--target', 'aws', '--state-machine-arn', STATE_MACHINE, '--sandbox', 'x'], deps)).toBe(2);
  });
});
