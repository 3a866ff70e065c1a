// `etcd-replace plan`: every step and the exact commands it would run on each host. Reads the
// cluster's membership and health; changes nothing, takes no lock, mints no URL.

import { sandboxDeps } from '../../sandbox/adapters/deps.ts';
import { InvalidInputError, RefusedError } from '../../functions/errors.ts';
import { EXIT, exitCodesText } from '../../functions/exitCodes.ts';
import { assessFailure } from '../../functions/cluster/assessFailure.ts';
import { NEW_HOST, ValidateInput } from '../../functions/steps/ValidateInput.ts';
import { planSteps } from '../../functions/workflow/plan.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { parse, runCommand, targetsAws, UsageError } from '../common.ts';
import { HELP_FLAG, JSON_FLAG, SANDBOX_FLAG, usageText, type Help } from '../help.ts';
import { printJson } from '../printers/json.ts';
import { formatPlan } from '../printers/text.ts';
import { ADD_METHOD_FLAG, replacementWords, REQUEST_OPTIONS, sandboxRequestArgs } from '../requestArgs.ts';

export const help: Help = {
  usage: [
    'etcd-replace plan --target sandbox --failed HOST [--replacement HOST|new] [--sandbox NAME] [--learner auto|never] [--add-method manual|ansible] [--json]',
  ],
  about: `Shows every step of a replacement and the exact commands it would run on each host, and whether the
run would proceed or be refused. It reads the sandbox cluster's membership and health and changes
nothing. plan runs against a sandbox only; on AWS, start the run with \`etcd-replace run --target aws\`.`,
  sections: [
    {
      title: 'options',
      flags: [
        ['--target sandbox', 'where the cluster is: sandbox (the default, and the only target plan supports)'],
        SANDBOX_FLAG,
        ['--failed HOST', 'the failed member: host name, hostname, IP, member ID or peer URL (matched exactly)'],
        [
          '--replacement HOST|new',
          'the host that becomes the new member (no member by any identity); new: launch one for the run; omitted: the first spare of the pool, or a launched host when the pool is empty',
        ],
        ['--learner auto|never', 'auto (default): add as a learner where every member runs etcd 3.4+; never: plain member add'],
        ADD_METHOD_FLAG,
        JSON_FLAG,
        HELP_FLAG,
      ],
    },
  ],
  examples: ['etcd-replace plan --target sandbox --sandbox lab --failed master-2 --replacement etcd-spare-0'],
  exits: exitCodesText([
    ['succeeded', 'the run would proceed'],
    ['refused', 'it would be refused'],
    ['invalidInput', 'bad arguments'],
    ['failed', 'failed to read the cluster'],
  ]),
};

export const topics = { plan: help };

const USAGE = usageText(help);

/** plan reads the cluster through the sandbox's hosts: the only target it supports. */
export function planTargetError(target: string): UsageError {
  const onAws =
    target === 'aws'
      ? `\nOn AWS there is no plan. Rehearse on a sandbox, where plan shows every step and host command, then start
the run with \`etcd-replace run --target aws --state-machine-arn ARN --input FILE --wait\`: it checks the
cluster's health and the failure before any membership change, and refuses (exit ${EXIT.refused}) where a step could
cost quorum, data or the CA.`
      : '';
  return new UsageError(`plan supports only --target sandbox, got "${target}"${onAws}\n${USAGE}`);
}

export function run(argv: string[]): Promise<number> {
  return runCommand(async () => {
    if (targetsAws(argv)) throw planTargetError('aws');
    const { values } = parse(argv, REQUEST_OPTIONS, USAGE);
    if (values.target !== 'sandbox') throw planTargetError(values.target);
    const { sandbox, failed, replacement, learner, addMethod } = sandboxRequestArgs(values, USAGE);
    const deps = await sandboxDeps(sandbox);
    try {
      let context: WorkflowContext = {
        runId: 'r-plan-only',
        request: { cluster: sandbox, failed, ...(replacement ? { replacement } : {}), startedBy: 'plan' },
        options: { graceSeconds: 0, learner, ...(addMethod !== 'manual' ? { addMethod } : {}) },
      };
      context = { ...context, ...(await ValidateInput(context, deps)).output };
      let verdict: string;
      try {
        const seen = await assessFailure(context, deps, 'first');
        context = { ...context, ...seen.output };
        verdict = `would proceed: ${seen.detail}`;
      } catch (error) {
        if (error instanceof InvalidInputError) throw error;
        if (!(error instanceof RefusedError)) throw error;
        verdict = `would refuse: ${error.message}`;
      }
      const steps = planSteps(context);
      if (values.json) {
        printJson({
          cluster: sandbox,
          failed: context.failedHost?.name ?? failed,
          replacement: context.replacement?.name,
          replacementChoice: context.replacementChoice,
          addMethod,
          verdict,
          steps,
        });
      } else {
        const chosen = context.replacement
          ? `${context.replacement.name}${context.replacementChoice === 'spare' ? ' (from the spare pool)' : ''}`
          : replacementWords(replacement ?? NEW_HOST);
        process.stdout.write(`${formatPlan(`plan: replace ${failed} with ${chosen} on sandbox ${sandbox}, add method ${addMethod}`, verdict, steps)}\n`);
      }
      return verdict.startsWith('would refuse') ? EXIT.refused : EXIT.succeeded;
    } finally {
      await deps.close();
    }
  });
}
