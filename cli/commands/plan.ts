// `etcd-replace plan`: every step and the exact commands it would run on each host. Reads the
// cluster's membership and health; changes nothing, takes no lock, mints no URL.

import { sandboxDeps } from '../../sandbox/adapters/deps.ts';
import { EXIT, exitCodesText } from '../../functions/exitCodes.ts';
import { NEW_HOST } from '../../functions/steps/ValidateInput.ts';
import { planReplacement, type PlanResult } from '../../functions/workflow/plan.ts';
import type { ReplacementChoice } from '../../statemachine/context.ts';
import { parse, runCommand, targetsAws, UsageError } from '../common.ts';
import { HELP_FLAG, JSON_FLAG, SANDBOX_FLAG, usageText, type Help } from '../help.ts';
import { printJson } from '../printers/json.ts';
import { formatPlan } from '../printers/text.ts';
import { ADD_METHOD_FLAG, replacementWords, REQUEST_OPTIONS, sandboxRequestArgs, type SandboxRequestArgs } from '../requestArgs.ts';

export const help: Help = {
  usage: [
    'etcd-replace plan --target sandbox --failed HOST [--replacement HOST|new] [--sandbox NAME] [--learner auto|never] [--add-method manual|ansible] [--json]',
    'etcd-replace plan --target sandbox --failed HOST --failed HOST... [--replacement HOST --replacement HOST...] [--sandbox NAME] [--learner auto|never] [--json]',
  ],
  about: `Shows every step of a replacement and the exact commands it would run on each host, and whether the
run would proceed or be refused. It reads the sandbox cluster's membership and health and changes
nothing. With several --failed it shows the whole sequence the run takes: every replacement prepared,
then the grace window and the second observation, the removals one at a time with quorum before and after each,
the adds one at a time, then the masters and flannel once; it refuses where that run would refuse.
plan runs against a sandbox only; on AWS, start the run with \`etcd-replace run --target aws\`.`,
  sections: [
    {
      title: 'options',
      flags: [
        ['--target sandbox', 'where the cluster is: sandbox (the default, and the only target plan supports)'],
        SANDBOX_FLAG,
        ['--failed HOST', 'the failed member: host name, hostname, IP, member ID or peer URL (matched exactly); once per failed member, at most 3'],
        [
          '--replacement HOST|new',
          "the host that becomes the new member (no member by any identity); new: launch one for the run (one failed member only); omitted: the first spare of the pool, or a launched host when the pool is empty; with several --failed, one per --failed in the same order, or none (the pool's next free hosts)",
        ],
        ['--learner auto|never', 'auto (default): add as a learner where every member runs etcd 3.4+; never: plain member add'],
        ADD_METHOD_FLAG,
        JSON_FLAG,
        HELP_FLAG,
      ],
    },
  ],
  examples: [
    'etcd-replace plan --target sandbox --sandbox lab --failed master-2 --replacement etcd-spare-0',
    'etcd-replace plan --target sandbox --sandbox lab --failed master-3 --failed master-4 --replacement etcd-spare-0 --replacement etcd-spare-1',
  ],
  exits: exitCodesText([
    ['succeeded', 'the run would proceed'],
    ['refused', 'it would be refused'],
    ['invalidInput', 'bad arguments'],
    ['failed', 'failed to read the cluster'],
  ]),
};

/** `etcd-replace plan restore-quorum …`: the restore's plan (cli/commands/restoreQuorum.ts). */
const RESTORE_QUORUM = 'restore-quorum';

export const topics: Record<string, Help> = {
  plan: help,
  'plan restore-quorum': {
    usage: ['etcd-replace plan restore-quorum --target sandbox [--sandbox NAME] [--from MEMBER | --snapshot KEY] [--json]'],
    about: `Shows what \`etcd-replace restore-quorum\` would do on a sandbox, changing nothing (no lock, no fence, no
approval request): the request checked, the loss of quorum observed, the restore point chosen (the highest
revision and raft index, the member --from names, or the snapshot --snapshot names), what it would lose
against the highest revision seen, the hosts it would fence, and every state the run would go through.`,
    sections: [
      {
        title: 'options',
        flags: [
          ['--target sandbox', 'the only target plan supports (the default)'],
          SANDBOX_FLAG,
          ['--from MEMBER', 'restore from this member: host name, hostname, IP or member ID'],
          ['--snapshot KEY', 'restore this verified snapshot of an earlier run (its artifact key)'],
          JSON_FLAG,
          HELP_FLAG,
        ],
      },
    ],
    examples: ['etcd-replace plan restore-quorum --target sandbox --sandbox lab', 'etcd-replace plan restore-quorum --sandbox lab --from master-1 --json'],
    exits: exitCodesText([
      ['succeeded', 'the restore would proceed'],
      ['refused', 'it would be refused: quorum is back, or one member is missing'],
      ['invalidInput', 'bad arguments, or --from or --snapshot names nothing to restore from'],
      ['failed', 'failed to read the cluster'],
    ]),
  },
};

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

export async function run(argv: string[]): Promise<number> {
  if (argv[0] === RESTORE_QUORUM) return (await import('./restoreQuorum.ts')).planRestore(argv.slice(1));
  return runCommand(async () => {
    if (targetsAws(argv)) throw planTargetError('aws');
    const { values } = parse(argv, REQUEST_OPTIONS, USAGE);
    if (values.target !== 'sandbox') throw planTargetError(values.target);
    // Several --failed (and one --replacement each) as `run` takes them, refused where `run` refuses them.
    const args = sandboxRequestArgs(values, USAGE, { several: true });
    const deps = await sandboxDeps(args.sandbox);
    try {
      const plan = await planReplacement({ cluster: args.sandbox, ...args }, deps);
      if (values.json) printJson(planDocument(plan, args));
      else process.stdout.write(`${formatPlan(planTitle(plan, args), plan.verdict, plan.steps, plan.members)}\n`);
      return plan.refused ? EXIT.refused : EXIT.succeeded;
    } finally {
      await deps.close();
    }
  });
}

/** The replacement of one member as the plan names it: the host and how it was chosen, or what was asked for. */
function chosenWords(name: string | undefined, choice: ReplacementChoice | undefined, asked: string | undefined): string {
  return name ? `${name}${choice === 'spare' ? ' (from the spare pool)' : ''}` : replacementWords(asked ?? NEW_HOST);
}

/** The plan's first line: what it replaces with what, where, and how the new members are added. */
export function planTitle(plan: PlanResult, args: Pick<SandboxRequestArgs, 'sandbox' | 'failed' | 'replacement' | 'also' | 'addMethod'>): string {
  const { context } = plan;
  const pairs =
    plan.members && context.members
      ? context.members.map((slot) => `${slot.failedHost?.name ?? slot.failed} with ${chosenWords(slot.replacement?.name, slot.replacementChoice, slot.asked)}`)
      : // One member: as asked; or the one an earlier run left of several asked for (ValidateInput says which were done).
        [
          `${args.also.length > 0 ? context.request.failed : args.failed} with ${chosenWords(context.replacement?.name, context.replacementChoice, args.also.length > 0 ? context.request.replacement : args.replacement)}`,
        ];
  const listed = pairs.length > 1 ? `${pairs.slice(0, -1).join(', ')} and ${pairs.at(-1)}` : pairs[0];
  const title = `plan: replace ${listed} on sandbox ${args.sandbox}, add method ${args.addMethod}`;
  return args.also.length > 0 && !plan.members ? `${title}\n${plan.validated}` : title;
}

/**
 * `plan --json`: the request as the plan resolved it, the verdict and every step. With several failed members,
 * `failed` and `replacement` name the first (as the run's request does) and `members` lists each failed member
 * with its replacement and its steps (the run's `members`, planned).
 */
export function planDocument(plan: PlanResult, args: Pick<SandboxRequestArgs, 'sandbox' | 'failed' | 'addMethod'>): Record<string, unknown> {
  const { context } = plan;
  return {
    cluster: args.sandbox,
    failed: context.failedHost?.name ?? args.failed,
    replacement: context.replacement?.name,
    replacementChoice: context.replacementChoice,
    addMethod: args.addMethod,
    verdict: plan.verdict,
    steps: plan.steps,
    ...(plan.members ? { members: plan.members } : {}),
  };
}
