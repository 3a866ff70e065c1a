// `etcd-replace run`: replace a failed member. On a sandbox the XState run of the model runs here
// (cli/sandboxRun.ts), and re-running the same request after a crash resumes the unfinished run; with
// --target aws it starts an execution of the deployed state machine (cli/aws/run.ts, loaded only then).

import { RefusedError } from '../../functions/errors.ts';
import { EXIT, exitCodesText } from '../../functions/exitCodes.ts';
import * as validate from '../../functions/validate.ts';
import { newRunRecord, stepHoldFromEnv } from '../../functions/workflow/localRun.ts';
import { FileRunStore } from '../../sandbox/adapters/fileRunStore.ts';
import { LOCK_WAIT_SECONDS, type WorkflowContext } from '../../statemachine/context.ts';
import { coveredIdentities, coversAll } from '../../statemachine/members.ts';
import type { RunRecord } from '../../functions/ports.ts';
import type { AwsCliDeps } from '../aws/client.ts';
import { parse, runCommand, secondsOption, targetsAws, UsageError } from '../common.ts';
import { HELP_FLAG, JSON_FLAG, RUN_EXITS, SANDBOX_FLAG, usageText, type Help } from '../help.ts';
import { progress } from '../printers/text.ts';
import { ADD_METHOD_FLAG, replacementWords, REQUEST_OPTIONS, sandboxRequestArgs } from '../requestArgs.ts';
import { claimNew, defaultStartedBy, depsFor, execute, newRunId, ownersOf, recordsOf, resumeSame } from '../sandboxRun.ts';

export const help: Help = {
  usage: [
    'etcd-replace run --target sandbox --failed HOST [--failed HOST…] [--replacement HOST|new …] [--sandbox NAME] [--grace-seconds N] [--learner auto|never] [--add-method manual|ansible] [--ca-backup-key KEY] [--install-etcd-version X.Y.Z] [--json]',
    'etcd-replace run --target aws --state-machine-arn ARN --input FILE [--name EXECUTION_NAME] [--wait] [--json]',
  ],
  about: `Replaces a failed etcd member. On a sandbox the workflow runs here, printing each step on stderr
(▶ started, ✓ succeeded, ✗ failed, – skipped); the same command after a crash resumes the unfinished
run. Several --failed replace several members in one run: every replacement prepared, every failed
member removed one at a time, then each new member added, started (and promoted) before the next add.
A run for members that a live run already replaces says "covered by run R" and exits 0. A run for other
members while a live run holds the sandbox's lock asks that run to take them in at its second
observation (and then ends covered by it), or waits for the lock, up to --lock-wait-seconds. On AWS it starts
an execution of the deployed state machine; with --wait it prints the same step lines from the
execution's history until the execution ends.`,
  sections: [
    {
      title: 'sandbox options',
      flags: [
        ['--target sandbox', 'run the workflow here against a sandbox cluster (the default)'],
        SANDBOX_FLAG,
        [
          '--failed HOST',
          'the failed member: host name, hostname, IP, member ID or peer URL (matched exactly); once per failed member: one run removes them all, one at a time, then adds and starts their replacements one at a time',
        ],
        [
          '--replacement HOST|new',
          "the host that becomes the new member (no member by any identity); new: launch one for the run (one failed member only); omitted: the first spare of the pool, or a launched host when the pool is empty; with several --failed, one per --failed in the same order, or none (the pool's next free hosts)",
        ],
        ['--grace-seconds N', 'seconds between the two observations that confirm the failure (default 2, at most 3600)'],
        ['--learner auto|never', 'auto (default): add as a learner where every member runs etcd 3.4+; never: plain member add'],
        ADD_METHOD_FLAG,
        ['--ca-backup-key KEY', 'a backup of /etc/etcd/ca in the artifact store: required when the failed member is the CA host'],
        [
          '--lock-wait-seconds N',
          `while another live run holds the lock and does not replace these members: how long to wait for it (default ${LOCK_WAIT_SECONDS}, at most 3600), then refused naming it`,
        ],
        ['--install-etcd-version X.Y.Z', "the etcd version to install on the replacement, when it is not the members' own"],
        ['--started-by WHO', 'who started the run, as the run record keeps it (default cli:<user>)'],
      ],
    },
    {
      title: 'AWS options',
      flags: [
        ['--target aws', 'start an execution of the deployed Step Functions state machine'],
        ['--state-machine-arn ARN', "the state machine (the stack's StateMachineArn output); its region is used"],
        ['--input FILE', 'the replace request as JSON (schemas/replace-request.schema.json; examples in schemas/examples/)'],
        ['--name EXECUTION_NAME', 'the execution name (default: cluster, failed member and the UTC hour, so a repeat within the hour starts nothing)'],
        ['--wait', 'follow the execution: a line per step from its history, then the run result'],
      ],
    },
    { title: 'both', flags: [JSON_FLAG, HELP_FLAG] },
  ],
  examples: [
    'etcd-replace run --target sandbox --sandbox lab --failed master-2 --replacement etcd-spare-0',
    'etcd-replace run --target sandbox --sandbox lab --failed master-2    # a spare, or a launched host (etcd-new-0)',
    'etcd-replace run --target sandbox --sandbox lab --failed master-3 --failed master-4 --replacement etcd-spare-0 --replacement etcd-spare-1',
    'etcd-replace run --target aws --state-machine-arn arn:aws:states:eu-west-1:123456789012:stateMachine:etcd-replace-ocp311 --input request.json --wait',
  ],
  exits: exitCodesText(RUN_EXITS, { after: `; without --wait, ${EXIT.succeeded} means the execution started` }),
};

export const topics = { run: help };

const USAGE = usageText(help);
const AWS_USAGE = `usage: ${help.usage[1]}`;

const SANDBOX_OPTIONS = {
  ...REQUEST_OPTIONS,
  'grace-seconds': { type: 'string' },
  'started-by': { type: 'string' },
  'ca-backup-key': { type: 'string' },
  'install-etcd-version': { type: 'string' },
  'lock-wait-seconds': { type: 'string' },
} as const;

const AWS_OPTIONS = {
  target: { type: 'string' },
  'state-machine-arn': { type: 'string' },
  input: { type: 'string' },
  name: { type: 'string' },
  wait: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
} as const;

export async function run(argv: string[]): Promise<number> {
  if (targetsAws(argv)) return awsRunCommand(argv);
  return runCommand(async () => {
    const { values } = parse(argv, SANDBOX_OPTIONS, USAGE);
    const { sandbox, failed, replacement, learner, addMethod, also } = sandboxRequestArgs(values, USAGE, { several: true });
    const graceSeconds = secondsOption('grace-seconds', values['grace-seconds'], 2);
    const caBackupKey = values['ca-backup-key'] === undefined ? undefined : validate.artifactKey('--ca-backup-key', values['ca-backup-key']);
    const etcdVersion =
      values['install-etcd-version'] === undefined ? undefined : validate.etcdVersion('--install-etcd-version', values['install-etcd-version']);
    const startedBy = validate.startedBy('--started-by', values['started-by'] ?? defaultStartedBy());
    const lockWaitSeconds = secondsOption('lock-wait-seconds', values['lock-wait-seconds'], LOCK_WAIT_SECONDS);
    // The hold hook's variables, checked before any record is written: a half-set pair writes nothing.
    const hold = stepHoldFromEnv();

    const runs = new FileRunStore();
    const unfinished = (await recordsOf(runs, sandbox)).filter((r) => r.outcome === 'running');
    const sameAlso = (r: (typeof unfinished)[number]) => JSON.stringify(r.request['also'] ?? []) === JSON.stringify(also);
    const same = unfinished.find((r) => r.request['failed'] === failed && r.request['replacement'] === replacement && sameAlso(r));
    if (same) return resumeSame(same, sandbox, runs, values.json, hold, 'run');
    // Many signals, one run: every failed member asked for is one a live run is replacing already.
    const asked = [failed, ...also.map((a) => a.failed)];
    const waitingFor: string[] = [];
    for (const other of unfinished) {
      const owner = await ownersOf(runs).liveOtherOwner(other.runId);
      // A restore of quorum (restore-quorum) takes no member in: a replacement waits until it has ended.
      if (other.workflow !== undefined) {
        throw new RefusedError(
          `run ${other.runId} (${other.workflow}) on ${sandbox} is ${owner ? `in progress in pid ${owner.pid}` : `unfinished: finish it with \`etcd-replace resume ${other.runId} --sandbox ${sandbox}\``}; nothing was started`,
        );
      }
      if (!owner) {
        throw new RefusedError(
          `run ${other.runId} (failed ${String(other.request['failed'])}, replacement ${String(other.request['replacement'])}) on ${sandbox} is unfinished: finish it with \`etcd-replace resume ${other.runId} --sandbox ${sandbox}\``,
        );
      }
      if (coveredByRecord(other, asked)) {
        progress(
          `${asked.join(', ')}: covered by run ${other.runId} (in progress in pid ${owner.pid} since ${other.owner?.since ?? owner.acquiredAt}); nothing else to do`,
        );
        if (values.json) process.stdout.write(`${JSON.stringify({ runId: other.runId, outcome: 'covered', reason: `covered by run ${other.runId}` })}\n`);
        return EXIT.succeeded;
      }
      waitingFor.push(`run ${other.runId} is in progress in pid ${owner.pid} since ${other.owner?.since ?? owner.acquiredAt}`);
    }
    const deps = await depsFor(sandbox);
    const context: WorkflowContext = {
      runId: newRunId(),
      request: { cluster: sandbox, failed, ...(replacement ? { replacement } : {}), ...(also.length > 0 ? { also } : {}), startedBy },
      options: {
        graceSeconds,
        learner,
        ...(addMethod !== 'manual' ? { addMethod } : {}),
        ...(caBackupKey ? { caBackupKey } : {}),
        ...(etcdVersion ? { etcdVersion } : {}),
        ...(lockWaitSeconds !== LOCK_WAIT_SECONDS ? { lockWaitSeconds } : {}),
      },
    };
    const record = newRunRecord(context, 'sandbox', new Date());
    await claimNew(record, runs, deps, startedBy);
    const others = also.map((a) => `, ${a.failed} with ${replacementWords(a.replacement)}`).join('');
    progress(
      `run ${record.runId}: replace ${failed} with ${replacementWords(replacement)}${others} on sandbox ${sandbox}${addMethod === 'ansible' ? ', added by the scaleup playbook' : ''}`,
    );
    for (const line of waitingFor) progress(`${line}: this run asks it to take ${asked.join(', ')} in, or waits for its lock (up to ${lockWaitSeconds} s)`);
    return execute(record, deps, values.json, runs, hold);
  });
}

/**
 * Whether a run replaces every member named in `asked`, by any identity it knows of each failed member it
 * replaces (the text its request named it with, the failed host's name, hostname or IP, its member ID).
 */
export function coveredByRecord(record: RunRecord, asked: string[]): boolean {
  const context = record.context as Partial<WorkflowContext>;
  // A record keeps its request in its context; the record's own copy stands in where the context lacks it.
  const request = context.request ?? (record.request as unknown as WorkflowContext['request']);
  if (typeof request?.failed !== 'string') return false;
  return coversAll(
    coveredIdentities({ ...context, request } as WorkflowContext),
    asked.map((text) => [text]),
  );
}

/** `etcd-replace run --target aws …`: its flags checked here, before any AWS call. */
export function awsRunCommand(argv: string[], deps: AwsCliDeps = {}): Promise<number> {
  return runCommand(async () => {
    const { values } = parse(argv, AWS_OPTIONS, AWS_USAGE);
    if (values.target !== 'aws') throw new UsageError(AWS_USAGE);
    const { EXECUTION_NAME, stateMachineArnOption, startExecution } = await import('../aws/run.ts');
    const stateMachineArn = stateMachineArnOption(values['state-machine-arn'], AWS_USAGE);
    if (!values.input) throw new UsageError(`--input FILE is required (a replace request; see schemas/examples/)\n${AWS_USAGE}`);
    if (values.name !== undefined && !EXECUTION_NAME.test(values.name)) throw new UsageError(`--name must be 1 to 80 of A-Z a-z 0-9 - _, got "${values.name}"`);
    return startExecution({ stateMachineArn, input: values.input, name: values.name, wait: values.wait, json: values.json }, deps);
  });
}
