// `etcd-replace status EXECUTION_ARN`: an AWS execution read back as a run result (cli/aws/executions.ts,
// loaded only when it runs).

import { exitCodesText } from '../../functions/exitCodes.ts';
import type { AwsCliDeps } from '../aws/client.ts';
import { parse, runCommand, UsageError } from '../common.ts';
import { HELP_FLAG, JSON_FLAG, RUN_EXITS, usageText, type Help } from '../help.ts';

export const help: Help = {
  usage: ['etcd-replace status EXECUTION_ARN [--json]'],
  about: `Reads an AWS execution back as a run result: its outcome and a line per step with its time and attempts,
built from the execution's history.`,
  sections: [
    {
      title: 'arguments and options',
      flags: [['EXECUTION_ARN', 'the execution, as `run --target aws` printed it'], JSON_FLAG, HELP_FLAG],
    },
  ],
  examples: ['etcd-replace status arn:aws:states:eu-west-1:123456789012:execution:etcd-replace-ocp311:retry-1 --json'],
  exits: exitCodesText([...RUN_EXITS, 'running']),
};

export const topics = { status: help };

const USAGE = usageText(help);

export function run(argv: string[]): Promise<number> {
  return statusCommand(argv);
}

export function statusCommand(argv: string[], deps: AwsCliDeps = {}): Promise<number> {
  return runCommand(async () => {
    const { values, positionals } = parse(argv, { json: { type: 'boolean', default: false } }, USAGE, true);
    if (positionals.length !== 1) throw new UsageError(USAGE);
    const { showExecution } = await import('../aws/executions.ts');
    return showExecution(positionals[0]!, values.json, USAGE, deps);
  });
}
