// `etcd-replace plan`: every step and the exact commands it would run on each host. Reads the
// cluster's membership and health; changes nothing, takes no lock, mints no URL.

import { sandboxDeps } from '../functions/adapters/sandbox/deps.ts';
import { InvalidInputError, RefusedError } from '../functions/errors.ts';
import { assessFailure } from '../functions/steps/assessFailure.ts';
import { ValidateInput } from '../functions/steps/ValidateInput.ts';
import { planSteps } from '../functions/workflow/plan.ts';
import * as validate from '../functions/validate.ts';
import { DEFAULT_OPTIONS, type WorkflowContext } from '../statemachine/context.ts';
import { EXIT_USAGE, parse, printJson, runCommand, UsageError } from './common.ts';

const USAGE = 'usage: etcd-replace plan --target sandbox --failed HOST --replacement HOST [--sandbox NAME] [--learner auto|never] [--json]';

export function planCommand(argv: string[]): Promise<number> {
  return runCommand(async () => {
    const { values } = parse(
      argv,
      {
        target: { type: 'string', default: 'sandbox' },
        sandbox: { type: 'string', default: 'default' },
        failed: { type: 'string' },
        replacement: { type: 'string' },
        learner: { type: 'string', default: DEFAULT_OPTIONS.learner },
        json: { type: 'boolean', default: false },
      },
      USAGE,
    );
    if (values.target !== 'sandbox') throw new UsageError(`--target ${values.target}: only "sandbox" is planned from the CLI here\n${USAGE}`);
    if (!values.failed || !values.replacement) throw new UsageError(`--failed and --replacement are required\n${USAGE}`);
    if (values.learner !== 'auto' && values.learner !== 'never') throw new UsageError('--learner must be auto or never');
    const sandbox = validate.sandboxName('--sandbox', values.sandbox);
    const deps = await sandboxDeps(sandbox);
    try {
      let context: WorkflowContext = {
        runId: 'r-plan-only',
        request: { cluster: sandbox, failed: values.failed, replacement: values.replacement, startedBy: 'plan' },
        options: { graceSeconds: 0, learner: values.learner },
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
        printJson({ cluster: sandbox, failed: context.failedHost?.name ?? values.failed, replacement: context.replacement?.name, verdict, steps });
      } else {
        const out = [`plan: replace ${values.failed} with ${values.replacement} on sandbox ${sandbox}`, verdict, ''];
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
