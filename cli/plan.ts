// `etcd-replace plan`: every step and the exact commands it would run on each host. Reads the
// cluster's membership and health; changes nothing, takes no lock, mints no URL.

import { sandboxDeps } from '../sandbox/adapters/deps.ts';
import { InvalidInputError, RefusedError } from '../functions/errors.ts';
import { assessFailure } from '../functions/cluster/assessFailure.ts';
import { ValidateInput } from '../functions/steps/ValidateInput.ts';
import { planSteps } from '../functions/workflow/plan.ts';
import type { WorkflowContext } from '../statemachine/context.ts';
import { EXIT_USAGE, parse, printJson, runCommand, targetsAws, UsageError } from './common.ts';
import { usageOf } from './help.ts';
import { replacementWords, REQUEST_OPTIONS, sandboxRequestArgs } from './requestArgs.ts';
import { NEW_HOST } from '../functions/steps/ValidateInput.ts';

const USAGE = usageOf('plan');

/** plan reads the cluster through the sandbox's hosts: the only target it supports. */
export function planTargetError(target: string): UsageError {
  const onAws =
    target === 'aws'
      ? `\nOn AWS there is no plan. Rehearse on a sandbox, where plan shows every step and host command, then start
the run with \`etcd-replace run --target aws --state-machine-arn ARN --input FILE --wait\`: it checks the
cluster's health and the failure before any membership change, and refuses (exit 3) where a step could
cost quorum, data or the CA.`
      : '';
  return new UsageError(`plan supports only --target sandbox, got "${target}"${onAws}\n${USAGE}`);
}

export function planCommand(argv: string[]): Promise<number> {
  return runCommand(async () => {
    if (targetsAws(argv)) throw planTargetError('aws');
    const { values } = parse(argv, REQUEST_OPTIONS, USAGE);
    if (values.target !== 'sandbox') throw planTargetError(values.target);
    const { sandbox, failed, replacement, learner } = sandboxRequestArgs(values, USAGE);
    const deps = await sandboxDeps(sandbox);
    try {
      let context: WorkflowContext = {
        runId: 'r-plan-only',
        request: { cluster: sandbox, failed, ...(replacement ? { replacement } : {}), startedBy: 'plan' },
        options: { graceSeconds: 0, learner },
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
        printJson({ cluster: sandbox, failed: context.failedHost?.name ?? failed, replacement: context.replacement?.name, replacementChoice: context.replacementChoice, verdict, steps });
      } else {
        const chosen = context.replacement ? `${context.replacement.name}${context.replacementChoice === 'spare' ? ' (from the spare pool)' : ''}` : replacementWords(replacement ?? NEW_HOST);
        const out = [`plan: replace ${failed} with ${chosen} on sandbox ${sandbox}`, verdict, ''];
        steps.forEach((s, i) => {
          out.push(`${String(i + 1).padStart(2)}. ${s.name} — ${s.summary}${s.note ? ` [${s.note}]` : ''}`);
          for (const c of s.commands) out.push(`      ${c.host}: ${c.command}`);
        });
        process.stdout.write(`${out.join('\n')}\n`);
      }
      return verdict.startsWith('would refuse') ? 3 : 0;
    } finally {
      await deps.close();
    }
  }).then((code) => (code === EXIT_USAGE ? EXIT_USAGE : code));
}
