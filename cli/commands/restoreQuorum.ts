// `etcd-replace restore-quorum`: restore a cluster that has lost quorum (statemachine/restoreSpec.ts), from
// its best survivor, the member --from names, or the verified snapshot --snapshot names, behind a person's
// approval. On a sandbox the XState run of the restore runs here (cli/sandboxRun.ts, the engine `run` uses),
// waiting at AwaitApproval until `etcd-replace approve RUN_ID --target sandbox` answers; re-running the same
// command after a crash resumes the unfinished restore. With --target aws it starts an execution of the
// deployed restore state machine (cli/aws/run.ts, loaded only then). `etcd-replace plan restore-quorum`
// shows what it would do (cli/commands/plan.ts hands it to planRestore below).

import { RefusedError } from '../../functions/errors.ts';
import { EXIT, exitCodesText } from '../../functions/exitCodes.ts';
import * as validate from '../../functions/validate.ts';
import { newRunRecord } from '../../functions/workflow/localRun.ts';
import { planRestore as planRestoreRun } from '../../functions/workflow/restorePlan.ts';
import { FileRunStore } from '../../sandbox/adapters/fileRunStore.ts';
import { sandboxDeps } from '../../sandbox/adapters/deps.ts';
import { DEFAULT_OPTIONS, LOCK_WAIT_SECONDS } from '../../statemachine/context.ts';
import { APPROVAL_TIMEOUT_MAX_SECONDS, type RestoreContext } from '../../statemachine/restoreContext.ts';
import { RESTORE_WORKFLOW } from '../../statemachine/restoreSpec.ts';
import type { AwsCliDeps } from '../aws/client.ts';
import { integerOption, parse, runCommand, secondsOption, targetsAws, UsageError } from '../common.ts';
import { HELP_FLAG, JSON_FLAG, RUN_EXITS, SANDBOX_FLAG, usageText, type Help } from '../help.ts';
import { printJson } from '../printers/json.ts';
import { formatPlan, progress } from '../printers/text.ts';
import { claimNew, defaultStartedBy, depsFor, execute, holdFor, newRunId, ownersOf, recordsOf, refuseUnbuilt, resumeSame, workflowOf } from '../sandboxRun.ts';

/** How long the run waits for approval unless told (ValidateRestoreRequest's default too). */
export const APPROVAL_TIMEOUT_DEFAULT_SECONDS = 60 * 60;

const SOURCE_USAGE = '[--from MEMBER | --snapshot KEY]';

export const help: Help = {
  usage: [
    `etcd-replace restore-quorum --target sandbox [--sandbox NAME] [--grace-seconds N] ${SOURCE_USAGE} [--approval-timeout-seconds N] [--lock-wait-seconds N] [--json]`,
    `etcd-replace restore-quorum --target aws --state-machine-arn ARN --cluster NAME [--grace-seconds N] ${SOURCE_USAGE} [--approval-timeout-seconds N] [--name EXECUTION_NAME] [--wait] [--json]`,
    `etcd-replace plan restore-quorum --target sandbox [--sandbox NAME] ${SOURCE_USAGE} [--json]`,
  ],
  about: `Restores a cluster that has lost quorum (OpenShift 3.11 "Restoring etcd quorum", "Restoring etcd").
Two observations a grace window apart must both find fewer than a majority of the voting members
answering; otherwise it is refused (quorum is back, or one member is missing, which \`run\` replaces). It
chooses the member with the highest revision and raft index (or the member --from names, or the verified
snapshot --snapshot names), states what that loses against the highest revision seen, then waits for a
person's approval. While it waits it prints one line: what would be lost and the exact command that
approves it (\`etcd-replace approve RUN_ID --target sandbox --sandbox NAME\`, or on AWS the command in
the notification). Without an answer within --approval-timeout-seconds, or declined, it ends Refused and
changes nothing. Approved, it fences every other former member (network first, then on the host),
forces the survivor or restores the snapshot, verifies it, and re-adds the former members one at a time.
It prints its run ID when it starts and each step on stderr (▶ ✓ ✗ –), as \`run\` does; the same command
after a crash resumes the unfinished restore, as does \`etcd-replace resume RUN_ID\`.
\`etcd-replace plan restore-quorum\` observes the cluster and chooses the restore point as the run would,
and prints the verdict, the restore point, the expected loss and every state the run would go through,
changing nothing.`,
  sections: [
    {
      title: 'sandbox options',
      flags: [
        ['--target sandbox', 'run the restore here against a sandbox cluster (the default)'],
        SANDBOX_FLAG,
        ['--grace-seconds N', 'seconds between the two observations that confirm the loss of quorum (default 2, at most 3600)'],
        ['--from MEMBER', 'restore from this member: host name, hostname, IP or member ID (exit 2 when it names no etcd host, or no readable data)'],
        ['--snapshot KEY', 'restore this verified snapshot of an earlier run (its artifact key) instead of any member data'],
        [
          '--approval-timeout-seconds N',
          `how long to wait for approval before the run ends Refused, changing nothing (default ${APPROVAL_TIMEOUT_DEFAULT_SECONDS}, at most ${APPROVAL_TIMEOUT_MAX_SECONDS})`,
        ],
        ['--lock-wait-seconds N', `while another live run holds the lock: how long to wait for it (default ${LOCK_WAIT_SECONDS}, at most 3600), then refused`],
        ['--started-by WHO', 'who started the run, as the run record keeps it (default cli:<user>)'],
      ],
    },
    {
      title: 'AWS options',
      flags: [
        ['--target aws', 'start an execution of the deployed restore state machine'],
        ['--state-machine-arn ARN', "the restore's state machine (the stack's RestoreStateMachineArn output); its region is used"],
        ['--cluster NAME', 'the cluster: the value of its cluster tag'],
        ['--name EXECUTION_NAME', 'the execution name (default: cluster, restore-quorum and the UTC hour, so a repeat within the hour starts nothing)'],
        ['--wait', 'follow the execution: a line per step from its history, then the run result'],
      ],
    },
    { title: 'both', flags: [JSON_FLAG, HELP_FLAG] },
  ],
  examples: [
    'etcd-replace plan restore-quorum --target sandbox --sandbox lab',
    'etcd-replace restore-quorum --target sandbox --sandbox lab',
    'etcd-replace restore-quorum --target sandbox --sandbox lab --from master-1 --approval-timeout-seconds 600',
    'etcd-replace approve r-20260302-101700-3f9a0c --target sandbox --sandbox lab',
    'etcd-replace restore-quorum --target aws --state-machine-arn arn:aws:states:eu-west-1:123456789012:stateMachine:etcd-restore-ocp311 --cluster ocp311 --wait',
  ],
  exits: exitCodesText(RUN_EXITS, {
    after: `; ${EXIT.refused} also when quorum is back, one member is missing, or approval was declined or not given in time; on AWS without --wait, ${EXIT.succeeded} means the execution started`,
  }),
};

export const topics = { 'restore-quorum': help };

const USAGE = usageText(help);
const AWS_USAGE = `usage: ${help.usage[1]}`;
const PLAN_USAGE = `usage: ${help.usage[2]}`;

const SOURCE_OPTIONS = {
  target: { type: 'string', default: 'sandbox' },
  sandbox: { type: 'string', default: 'default' },
  from: { type: 'string' },
  snapshot: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

const SANDBOX_OPTIONS = {
  ...SOURCE_OPTIONS,
  'grace-seconds': { type: 'string' },
  'approval-timeout-seconds': { type: 'string' },
  'lock-wait-seconds': { type: 'string' },
  'started-by': { type: 'string' },
} as const;

const AWS_OPTIONS = {
  target: { type: 'string' },
  'state-machine-arn': { type: 'string' },
  cluster: { type: 'string' },
  'grace-seconds': { type: 'string' },
  'approval-timeout-seconds': { type: 'string' },
  from: { type: 'string' },
  snapshot: { type: 'string' },
  name: { type: 'string' },
  wait: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
} as const;

/** What to restore from, as asked: --from and --snapshot exclude each other; neither: the best restore point. */
export function restoreSource(values: { from?: string; snapshot?: string }, usage: string): { from?: string; snapshot?: string } {
  if (values.from !== undefined && values.snapshot !== undefined) throw new UsageError(`--from and --snapshot exclude each other: name one\n${usage}`);
  if (values.from !== undefined) {
    validate.assertNoControlChars('--from', values.from);
    const from = values.from.trim();
    if (from === '' || from.length > 253) throw new UsageError(`--from must name a member: host name, hostname, IP or member ID\n${usage}`);
    return { from };
  }
  if (values.snapshot !== undefined) return { snapshot: validate.artifactKey('--snapshot', values.snapshot) };
  return {};
}

/** The two windows: the grace between the observations, the approval's. */
function windows(values: { 'grace-seconds'?: string; 'approval-timeout-seconds'?: string }): { graceSeconds: number; approvalTimeoutSeconds: number } {
  const graceSeconds = secondsOption('grace-seconds', values['grace-seconds'], 2);
  const approvalTimeoutSeconds = integerOption('approval-timeout-seconds', values['approval-timeout-seconds'], APPROVAL_TIMEOUT_DEFAULT_SECONDS);
  if (approvalTimeoutSeconds < 1 || approvalTimeoutSeconds > APPROVAL_TIMEOUT_MAX_SECONDS) {
    throw new UsageError(`--approval-timeout-seconds must be 1 to ${APPROVAL_TIMEOUT_MAX_SECONDS}`);
  }
  return { graceSeconds, approvalTimeoutSeconds };
}

/** The source in words, for the first line. */
function sourceWords(source: { from?: string; snapshot?: string }): string {
  if (source.from) return `from ${source.from} (--from)`;
  if (source.snapshot) return `from snapshot ${source.snapshot} (--snapshot)`;
  return 'from the best restore point (the highest revision and raft index; a verified snapshot when no member has usable data)';
}

/** A restore context about to start on a sandbox or AWS: the replacement's request shape, with no failed member. */
export function restoreContext(
  runId: string,
  cluster: string,
  startedBy: string,
  source: { from?: string; snapshot?: string },
  options: { graceSeconds: number; approvalTimeoutSeconds: number; lockWaitSeconds?: number },
): RestoreContext {
  return {
    runId,
    request: { cluster, failed: '', startedBy },
    options: {
      graceSeconds: options.graceSeconds,
      learner: DEFAULT_OPTIONS.learner,
      approvalTimeoutSeconds: options.approvalTimeoutSeconds,
      ...source,
      ...(options.lockWaitSeconds !== undefined && options.lockWaitSeconds !== LOCK_WAIT_SECONDS ? { lockWaitSeconds: options.lockWaitSeconds } : {}),
    },
  };
}

export function run(argv: string[]): Promise<number> {
  if (targetsAws(argv)) return awsRestoreCommand(argv);
  return runCommand(async () => {
    const { values } = parse(argv, SANDBOX_OPTIONS, USAGE);
    if (values.target !== 'sandbox') throw new UsageError(`--target must be sandbox or aws, got "${values.target}"\n${USAGE}`);
    const sandbox = validate.sandboxName('--sandbox', values.sandbox);
    const source = restoreSource(values, USAGE);
    const { graceSeconds, approvalTimeoutSeconds } = windows(values);
    const lockWaitSeconds = secondsOption('lock-wait-seconds', values['lock-wait-seconds'], LOCK_WAIT_SECONDS);
    const startedBy = validate.startedBy('--started-by', values['started-by'] ?? defaultStartedBy());
    const workflow = workflowOf({ runId: '', workflow: RESTORE_WORKFLOW.id });
    refuseUnbuilt(workflow);
    // The hold hook's variables, checked before any record is written: a half-set pair writes nothing.
    const hold = holdFor(workflow);

    const runs = new FileRunStore();
    const unfinished = (await recordsOf(runs, sandbox)).filter((r) => r.outcome === 'running');
    const sameSource = (options: Record<string, unknown>) => options['from'] === source.from && options['snapshot'] === source.snapshot;
    const same = unfinished.find((r) => r.workflow === RESTORE_WORKFLOW.id && sameSource((r.request['options'] ?? {}) as Record<string, unknown>));
    if (same) return resumeSame(same, sandbox, runs, values.json, hold, 'restore');
    // A cluster that lost quorum is restored by one run at a time, and not under an unfinished one.
    for (const other of unfinished) {
      const owner = await ownersOf(runs).liveOtherOwner(other.runId);
      const what = other.workflow === RESTORE_WORKFLOW.id ? 'a restore of quorum' : `a replacement of ${String(other.request['failed'])}`;
      throw new RefusedError(
        owner
          ? `run ${other.runId} (${what}) is in progress on ${sandbox} in pid ${owner.pid}: nothing was started`
          : `run ${other.runId} (${what}) on ${sandbox} is unfinished: finish it with \`etcd-replace resume ${other.runId} --sandbox ${sandbox}\`, then restore`,
      );
    }
    const deps = await depsFor(sandbox);
    const context = restoreContext(newRunId(), sandbox, startedBy, source, { graceSeconds, approvalTimeoutSeconds, lockWaitSeconds });
    const record = newRunRecord(context, 'sandbox', new Date(), RESTORE_WORKFLOW);
    await claimNew(record, runs, deps, startedBy);
    progress(`run ${record.runId}: restore quorum of sandbox ${sandbox} ${sourceWords(source)}; approval waited for up to ${approvalTimeoutSeconds} s`);
    return execute(record, deps, values.json, runs, hold);
  });
}

/** `etcd-replace plan restore-quorum …` (cli/commands/plan.ts): reads the cluster, changes nothing. */
export function planRestore(argv: string[]): Promise<number> {
  return runCommand(async () => {
    if (targetsAws(argv)) throw new UsageError(`plan restore-quorum supports only --target sandbox\n${PLAN_USAGE}`);
    const { values } = parse(argv, SOURCE_OPTIONS, PLAN_USAGE);
    if (values.target !== 'sandbox') throw new UsageError(`plan restore-quorum supports only --target sandbox, got "${values.target}"\n${PLAN_USAGE}`);
    const sandbox = validate.sandboxName('--sandbox', values.sandbox);
    const source = restoreSource(values, PLAN_USAGE);
    const deps = await sandboxDeps(sandbox);
    try {
      const context = restoreContext(newRunId(), sandbox, defaultStartedBy(), source, {
        graceSeconds: 0,
        approvalTimeoutSeconds: APPROVAL_TIMEOUT_DEFAULT_SECONDS,
      });
      // Earlier runs name the verified snapshots a restore may start from.
      const runs = new FileRunStore();
      const plan = await planRestoreRun(context, { ...deps, pastRuns: () => runs.list({ cluster: sandbox }) });
      if (values.json) printJson({ cluster: sandbox, ...source, verdict: plan.verdict, refused: plan.refused, ...plan.facts, steps: plan.steps });
      else process.stdout.write(`${formatPlan(`plan: restore quorum of sandbox ${sandbox} ${sourceWords(source)}`, plan.verdict, plan.steps)}\n`);
      return plan.refused ? (plan.exitCode ?? EXIT.refused) : EXIT.succeeded;
    } finally {
      await deps.close();
    }
  });
}

/** `etcd-replace restore-quorum --target aws …`: its flags checked here, before any AWS call. */
export function awsRestoreCommand(argv: string[], deps: AwsCliDeps = {}): Promise<number> {
  return runCommand(async () => {
    const { values } = parse(argv, AWS_OPTIONS, AWS_USAGE);
    if (values.target !== 'aws') throw new UsageError(AWS_USAGE);
    const { EXECUTION_NAME, stateMachineArnOption, startRestoreExecution } = await import('../aws/run.ts');
    const stateMachineArn = stateMachineArnOption(values['state-machine-arn'], AWS_USAGE);
    if (!values.cluster) throw new UsageError(`--cluster NAME is required with --target aws (the value of its cluster tag)\n${AWS_USAGE}`);
    const cluster = validate.clusterName('--cluster', values.cluster);
    const source = restoreSource(values, AWS_USAGE);
    const options: Record<string, number> = {};
    if (values['grace-seconds'] !== undefined) options['graceSeconds'] = windows({ 'grace-seconds': values['grace-seconds'] }).graceSeconds;
    if (values['approval-timeout-seconds'] !== undefined) {
      options['approvalTimeoutSeconds'] = windows({ 'approval-timeout-seconds': values['approval-timeout-seconds'] }).approvalTimeoutSeconds;
    }
    if (values.name !== undefined && !EXECUTION_NAME.test(values.name)) throw new UsageError(`--name must be 1 to 80 of A-Z a-z 0-9 - _, got "${values.name}"`);
    const request = { cluster, ...source, ...(Object.keys(options).length > 0 ? { options } : {}) };
    return startRestoreExecution({ stateMachineArn, request, name: values.name, wait: values.wait, json: values.json }, deps);
  });
}
