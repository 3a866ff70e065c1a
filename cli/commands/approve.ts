// `etcd-replace approve RUN_ID --target aws --state-machine-arn ARN [--decline [--reason TEXT]] [--json]`:
// answers a restore waiting at AwaitApproval (functions/steps/AwaitApproval.ts) with the task token kept
// under the run's ID (cli/aws/approve.ts, loaded only when it runs).

import { exitCodesText } from '../../functions/exitCodes.ts';
import type { ApproveDeps } from '../aws/approve.ts';
import { parse, runCommand, UsageError } from '../common.ts';
import { HELP_FLAG, JSON_FLAG, usageText, type Help } from '../help.ts';

export const help: Help = {
  usage: ['etcd-replace approve RUN_ID --target aws (--state-machine-arn ARN | --table TABLE) [--decline [--reason TEXT]] [--json]'],
  about: `Answers a restore of etcd quorum that waits for a person's approval: approves it (the run goes on to
fence the former members and force the survivor), or with --decline refuses it (the run ends Refused,
having changed nothing). The run's approval request names the run, what would be lost and this command.
The answer is given once: a run already answered, timed out or unknown has no pending approval.`,
  sections: [
    {
      title: 'arguments and options',
      flags: [
        ['RUN_ID', 'the run waiting for approval, as its approval request names it'],
        ['--target aws', 'the run is a Step Functions execution (the sandbox has no approval yet)'],
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
    if (values.target === 'sandbox') throw new UsageError('approval on the sandbox is not built yet: the sandbox runs no restore that waits for one');
    if (values.target !== 'aws') throw new UsageError(`--target aws is required\n${USAGE}`);
    if (values.reason !== undefined && !values.decline) throw new UsageError(`--reason goes with --decline\n${USAGE}`);
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
