// `etcd-replace approve RUN_ID [--target sandbox] [--sandbox NAME] [--decline [--reason TEXT]] [--json]`
// `etcd-replace approve RUN_ID --target aws --state-machine-arn ARN [--decline [--reason TEXT]] [--json]`:
// answers a restore waiting at AwaitApproval (functions/steps/AwaitApproval.ts). On AWS with the task token
// kept under the run's ID (cli/aws/approve.ts, loaded only when it runs); on a sandbox with the answer file
// beside the run's record that the waiting run reads (sandbox/adapters/fileApprovals.ts).

import { userInfo } from 'node:os';
import { FileApprovals } from '../../sandbox/adapters/fileApprovals.ts';
import { InvalidInputError, RefusedError } from '../../functions/errors.ts';
import { EXIT, exitCodesText } from '../../functions/exitCodes.ts';
import * as validate from '../../functions/validate.ts';
import { FileRunStore } from '../../sandbox/adapters/fileRunStore.ts';
import type { ApproveDeps } from '../aws/approve.ts';
import { parse, runCommand, UsageError } from '../common.ts';
import { HELP_FLAG, JSON_FLAG, SANDBOX_FLAG, usageText, type Help } from '../help.ts';
import { printJson } from '../printers/json.ts';
import { progress } from '../printers/text.ts';

export const help: Help = {
  usage: [
    'etcd-replace approve RUN_ID [--target sandbox] [--sandbox NAME] [--decline [--reason TEXT]] [--json]',
    'etcd-replace approve RUN_ID --target aws (--state-machine-arn ARN | --table TABLE) [--decline [--reason TEXT]] [--json]',
  ],
  about: `Answers a restore of etcd quorum that waits for a person's approval: approves it (the run goes on to
fence the former members and force the survivor), or with --decline refuses it (the run ends Refused,
having changed nothing). The run's approval request names the run, what would be lost and this command.
The answer is given once: a run already answered, timed out or unknown has no pending approval. On a
sandbox the waiting run (\`etcd-replace restore-quorum --target sandbox\`) reads the answer within a second;
the target is the sandbox unless --target aws is given.`,
  sections: [
    {
      title: 'arguments and options',
      flags: [
        ['RUN_ID', 'the run waiting for approval, as its approval request names it'],
        ['--target sandbox', 'the run waits in an `etcd-replace restore-quorum --target sandbox` process (the default)'],
        [SANDBOX_FLAG[0], 'with --target sandbox: the sandbox the run restores (default: the one its run record names)'],
        ['--target aws', 'the run is a Step Functions execution'],
        ['--state-machine-arn ARN', "the restore's state machine, as the approval request names it; its tag names the run table"],
        ['--table TABLE', "the run table where the pending approval is kept (the stack's RunTableName output); default: the state machine's tag"],
        ['--decline', 'refuse the restore instead of approving it'],
        ['--reason TEXT', 'with --decline: why, kept in the run (one line, at most 500 characters)'],
        JSON_FLAG,
        HELP_FLAG,
      ],
    },
  ],
  examples: [
    'etcd-replace approve r-20260302-101700-3f9a0c --target sandbox --sandbox lab',
    'etcd-replace approve r-20260101-0001 --target aws --state-machine-arn arn:aws:states:eu-west-1:123456789012:stateMachine:etcd-restore-ocp311',
    'etcd-replace approve r-20260101-0001 --target aws --state-machine-arn arn:aws:states:eu-west-1:123456789012:stateMachine:etcd-restore-ocp311 --decline --reason "master-2 is back"',
  ],
  exits: exitCodesText([
    ['succeeded', 'answered'],
    ['failed', 'failed to answer'],
    ['invalidInput', 'bad arguments'],
    ['refused', 'no pending approval (already answered, timed out, or no such run)'],
  ]),
};

export const topics = { approve: help };

const USAGE = usageText(help);

const OPTIONS = {
  target: { type: 'string' },
  sandbox: { type: 'string' },
  'state-machine-arn': { type: 'string' },
  table: { type: 'string' },
  decline: { type: 'boolean', default: false },
  reason: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

export function run(argv: string[]): Promise<number> {
  return approveCommand(argv);
}

export function approveCommand(argv: string[], deps: ApproveDeps = {}): Promise<number> {
  return runCommand(async () => {
    const { values, positionals } = parse(argv, OPTIONS, USAGE, true);
    if (positionals.length !== 1) throw new UsageError(`RUN_ID is required, once\n${USAGE}`);
    if (values.reason !== undefined && !values.decline) throw new UsageError(`--reason goes with --decline\n${USAGE}`);
    const awsFlags = values['state-machine-arn'] !== undefined || values.table !== undefined;
    // No --target and no AWS flag: the sandbox. AWS flags without --target aws stay an error, as they always were.
    if (values.target === 'sandbox' || (values.target === undefined && !awsFlags)) {
      if (awsFlags) throw new UsageError(`--state-machine-arn and --table go with --target aws\n${USAGE}`);
      return approveOnSandbox({ runId: positionals[0]!, sandbox: values.sandbox, decline: values.decline, reason: values.reason, json: values.json }, deps);
    }
    if (values.target !== 'aws') throw new UsageError(`--target aws is required\n${USAGE}`);
    if (values.sandbox !== undefined) throw new UsageError(`--sandbox goes with --target sandbox\n${USAGE}`);
    const { answerApproval } = await import('../aws/approve.ts');
    return answerApproval(
      {
        runId: positionals[0]!,
        stateMachineArn: values['state-machine-arn'],
        table: values.table,
        decline: values.decline,
        reason: values.reason,
        json: values.json,
        usage: USAGE,
      },
      deps,
    );
  });
}

const MAX_REASON = 500;

/**
 * `approve --target sandbox`: the run's record must be a restore of that sandbox that runs; its pending
 * request is answered once (FileApprovals.give). Nothing pending (never asked, answered, timed out, ended): exit 3.
 */
async function approveOnSandbox(
  options: { runId: string; sandbox: string | undefined; decline: boolean; reason: string | undefined; json: boolean },
  deps: Pick<ApproveDeps, 'now' | 'user'>,
): Promise<number> {
  let runId: string;
  try {
    runId = validate.runId('RUN_ID', options.runId);
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${USAGE}`);
  }
  const reason = options.reason?.trim();
  if (reason !== undefined && (reason === '' || reason.length > MAX_REASON || /[\u0000-\u001f\u007f]/.test(reason))) {
    throw new UsageError(`--reason must be one line of 1 to ${MAX_REASON} printable characters`);
  }
  const by = `cli:${validate.startedBy('user', (deps.user ?? (() => userInfo().username))())}`;
  const runs = new FileRunStore();
  const record = await runs.get(runId);
  if (!record) throw new RefusedError(`run ${runId} has no pending approval: no such run in the run record`);
  const sandbox = options.sandbox === undefined ? record.cluster : validate.sandboxName('--sandbox', options.sandbox);
  if (record.target !== 'sandbox' || record.cluster !== sandbox) {
    throw new InvalidInputError('--sandbox', `run ${runId} is a run of ${record.target} cluster ${record.cluster}, not of sandbox ${sandbox}`);
  }
  if (record.outcome !== 'running') throw new RefusedError(`run ${runId} has no pending approval: it ended ${record.outcome}`);
  const at = (deps.now ?? (() => new Date()))().toISOString();
  await new FileApprovals(runs.dir).give(
    runId,
    options.decline ? { answer: 'declined', by, at, ...(reason ? { reason } : {}) } : { answer: 'approved', by, at },
  );
  const answer = options.decline ? 'declined' : 'approved';
  if (options.json) printJson({ runId, answer, by, at, ...(reason ? { reason } : {}) });
  else
    progress(
      `run ${runId} ${answer} by ${by} at ${at}${options.decline ? ': it ends Refused, having changed nothing' : ': it goes on to fence the former members'}`,
    );
  return EXIT.succeeded;
}
