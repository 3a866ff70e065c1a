// What each command says about itself: its usage, a line per flag, examples and exit codes, printed by
// `etcd-replace <command> --help` (or -h) before the command's module loads. The usage lines here are
// also the ones a command appends to an argument error. Each "exit codes:" line is made from the one
// table of exit codes (functions/exitCodes.ts).

import { EXIT, exitCodesText } from '../functions/exitCodes.ts';

export interface Help {
  /** The usage lines, each without the leading "usage: ". */
  usage: string[];
  /** What the command does, in a few lines. */
  about: string;
  /** Flags and arguments, grouped; each entry is [flag, description]. */
  sections: Array<{ title: string; flags: Array<[string, string]> }>;
  examples: string[];
  exits: string;
}

const HELP_FLAG: [string, string] = ['-h, --help', 'show this help'];
const SANDBOX_FLAG: [string, string] = ['--sandbox NAME', 'the sandbox to use (default "default"; ^[a-z][a-z0-9-]{0,15}$)'];
const JSON_FLAG: [string, string] = ['--json', 'print the result as one JSON document on stdout; progress goes to stderr'];
const RUN_EXITS = ['succeeded', 'failed', 'invalidInput', 'refused'] as const;

export const HELP = {
  plan: {
    usage: ['etcd-replace plan --target sandbox --failed HOST [--replacement HOST|new] [--sandbox NAME] [--learner auto|never] [--json]'],
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
          ['--replacement HOST|new', 'the host that becomes the new member (no member by any identity); new: launch one for the run; omitted: the first spare of the pool, or a launched host when the pool is empty'],
          ['--learner auto|never', 'auto (default): add as a learner where every member runs etcd 3.4+; never: plain member add'],
          JSON_FLAG,
          HELP_FLAG,
        ],
      },
    ],
    examples: ['etcd-replace plan --target sandbox --sandbox lab --failed master-2 --replacement etcd-spare-0'],
    exits: exitCodesText([['succeeded', 'the run would proceed'], ['refused', 'it would be refused'], ['invalidInput', 'bad arguments'], ['failed', 'failed to read the cluster']]),
  },
  run: {
    usage: [
      'etcd-replace run --target sandbox --failed HOST [--replacement HOST|new] [--sandbox NAME] [--grace-seconds N] [--learner auto|never] [--ca-backup-key KEY] [--install-etcd-version X.Y.Z] [--json]',
      'etcd-replace run --target aws --state-machine-arn ARN --input FILE [--name EXECUTION_NAME] [--wait] [--json]',
    ],
    about: `Replaces a failed etcd member. On a sandbox the workflow runs here, printing each step on stderr
(▶ started, ✓ succeeded, ✗ failed, – skipped); the same command after a crash resumes the unfinished
run. On AWS it starts an execution of the deployed state machine; with --wait it prints the same step
lines from the execution's history until the execution ends.`,
    sections: [
      {
        title: 'sandbox options',
        flags: [
          ['--target sandbox', 'run the workflow here against a sandbox cluster (the default)'],
          SANDBOX_FLAG,
          ['--failed HOST', 'the failed member: host name, hostname, IP, member ID or peer URL (matched exactly)'],
          ['--replacement HOST|new', 'the host that becomes the new member (no member by any identity); new: launch one for the run; omitted: the first spare of the pool, or a launched host when the pool is empty'],
          ['--grace-seconds N', 'seconds between the two observations that confirm the failure (default 2, at most 3600)'],
          ['--learner auto|never', 'auto (default): add as a learner where every member runs etcd 3.4+; never: plain member add'],
          ['--ca-backup-key KEY', 'a backup of /etc/etcd/ca in the artifact store: required when the failed member is the CA host'],
          ['--install-etcd-version X.Y.Z', 'the etcd version to install on the replacement, when it is not the members\' own'],
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
      'etcd-replace run --target aws --state-machine-arn arn:aws:states:eu-west-1:123456789012:stateMachine:etcd-replace-ocp311 --input request.json --wait',
    ],
    exits: exitCodesText(RUN_EXITS, { after: `; without --wait, ${EXIT.succeeded} means the execution started` }),
  },
  resume: {
    usage: ['etcd-replace resume RUN_ID [--sandbox NAME] [--json]'],
    about: 'Resumes an unfinished sandbox run by its ID (see `etcd-replace history`) from the state it stopped in.',
    sections: [
      {
        title: 'arguments and options',
        flags: [
          ['RUN_ID', 'the run to resume, e.g. r-20260302-101700-3f9a0c'],
          ['--sandbox NAME', 'the sandbox it runs on (default: the one the run record names)'],
          JSON_FLAG,
          HELP_FLAG,
        ],
      },
    ],
    examples: ['etcd-replace resume r-20260302-101700-3f9a0c --sandbox lab'],
    exits: exitCodesText(RUN_EXITS, { after: `; ${EXIT.invalidInput} also when the run does not exist or already ended` }),
  },
  status: {
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
  },
  history: {
    usage: [
      'etcd-replace history [--sandbox NAME] [--limit N] [--json]',
      'etcd-replace history --target aws (--state-machine-arn ARN | --table TABLE [--region REGION]) [--cluster NAME] [--limit N] [--json] [RUN_ID]',
    ],
    about: `Past runs, newest first: outcome, who started them, step timeline. On a sandbox from the durable run
record; on AWS from the audit records the deployed stack writes (its run table), or, where the state
machine names no run table, from its executions in Step Functions (kept 90 days).`,
    sections: [
      {
        title: 'sandbox options',
        flags: [
          ['--target sandbox', 'the runs of the sandboxes on this machine (the default)'],
          ['--sandbox NAME', 'only the runs on this sandbox (default: every sandbox)'],
        ],
      },
      {
        title: 'AWS options',
        flags: [
          ['--target aws', 'the runs of the deployed stack'],
          ['--state-machine-arn ARN', "the state machine (the stack's StateMachineArn output); its tag names the run table"],
          ['--table TABLE', "the run table itself (the stack's RunTableName output)"],
          ['--region REGION', "the run table's region, with --table alone"],
          ['--cluster NAME', 'only the runs on this cluster'],
          ['RUN_ID', 'one run whole: a run ID, an execution name or an execution ARN'],
        ],
      },
      { title: 'both', flags: [['--limit N', 'at most N runs (default 20; 1 to 1000 on AWS)'], JSON_FLAG, HELP_FLAG] },
    ],
    examples: ['etcd-replace history --sandbox lab --limit 1', 'etcd-replace history --target aws --state-machine-arn arn:aws:states:eu-west-1:123456789012:stateMachine:etcd-replace-ocp311 --json'],
    exits: exitCodesText([['succeeded', 'listed'], ['failed', 'failed to read the record'], ['invalidInput', 'bad arguments']]),
  },
  graph: {
    usage: ['etcd-replace graph'],
    about: 'Prints the workflow machine as a Mermaid flowchart: every state, its transitions and where each error goes.',
    sections: [{ title: 'options', flags: [HELP_FLAG] }],
    examples: ['etcd-replace graph > workflow.mmd'],
    exits: exitCodesText([['succeeded', 'printed'], ['invalidInput', 'bad arguments']]),
  },
  sandbox: {
    usage: ['etcd-replace sandbox <subcommand> [--sandbox NAME] [options]'],
    about: `Local sandbox clusters: real etcd hosts in Linux network and mount namespaces, laid out like OpenShift
3.11 hosts. Needs root.

  up [--members 3|5] [--spares N] [--nodes N] [--data-mb N] [--etcd-version X.Y.Z]
     [--host-etcd-version HOST=X.Y.Z]... [--json]
                          build a sandbox cluster (defaults: 3 members, 1 spare, 1 node, 32 MiB);
                          etcd 3.4.23 is Debian's, any other version is vX.Y.Z/{etcd,etcdctl} under
                          $ETCD_REPLACE_ETCD_BUILDS; default $ETCD_REPLACE_ETCD_VERSION, else 3.2.22
                          (OpenShift 3.11's) when its build is there, else 3.4.23
  status [--json]         hosts, their etcd state, and the client identity for this machine
  exec HOST -- CMD...     run CMD on HOST (its network and files); exit code passed through
  fail HOST [--mode kill|etcd|partition]
                          power HOST off (kill, default), stop only its etcd for good (etcd),
                          or cut it off from every other host (partition)
  down [--all]            remove the sandbox (or every sandbox) and everything it put on the machine

Run etcd-replace sandbox <subcommand> --help for a subcommand's options.`,
    sections: [{ title: 'options', flags: [SANDBOX_FLAG, HELP_FLAG] }],
    examples: ['etcd-replace sandbox up --sandbox lab', 'etcd-replace sandbox fail --sandbox lab master-2', 'etcd-replace sandbox down --sandbox lab'],
    exits: exitCodesText([['succeeded', 'ok'], ['failed', 'failure'], ['invalidInput', 'bad arguments']], { after: `; exec passes the command's code through (${EXIT.hostOff}: host off)` }),
  },
  'sandbox up': {
    usage: ['etcd-replace sandbox up [--sandbox NAME] [--members 3|5] [--spares N] [--nodes N] [--data-mb N] [--etcd-version X.Y.Z] [--host-etcd-version HOST=X.Y.Z]... [--json]'],
    about: 'Builds a sandbox cluster: masters running etcd as static pods (master-0 holds the CA), spare hosts for a replacement, nodes running flanneld, and data in etcd.',
    sections: [
      {
        title: 'options',
        flags: [
          SANDBOX_FLAG,
          ['--members 3|5', 'masters, each an etcd member (default 3)'],
          ['--spares N', 'spare hosts a member can be replaced with (default 1)'],
          ['--nodes N', 'nodes running flanneld against etcd (default 1, at most 10)'],
          ['--data-mb N', 'MiB of keys written into etcd (default 32)'],
          ['--etcd-version X.Y.Z', 'the members\' etcd: 3.4.23 is Debian\'s, others vX.Y.Z/{etcd,etcdctl} under $ETCD_REPLACE_ETCD_BUILDS (default $ETCD_REPLACE_ETCD_VERSION, else 3.2.22 when its build is there, else 3.4.23)'],
          ['--host-etcd-version HOST=X.Y.Z', 'another etcd version for one master (repeatable)'],
          ['--json', 'print the sandbox status as one JSON document on stdout; progress goes to stderr'],
          HELP_FLAG,
        ],
      },
    ],
    examples: ['etcd-replace sandbox up --sandbox lab', 'etcd-replace sandbox up --sandbox big --members 5 --data-mb 256 --etcd-version 3.4.23'],
    exits: exitCodesText([['succeeded', 'up'], 'failed', ['invalidInput', 'bad arguments']]),
  },
  'sandbox status': {
    usage: ['etcd-replace sandbox status [--sandbox NAME] [--json]'],
    about: 'Hosts of a sandbox, their power and etcd state, and the client identity to reach the cluster from this machine.',
    sections: [{ title: 'options', flags: [SANDBOX_FLAG, ['--json', 'print the status as one JSON document on stdout'], HELP_FLAG] }],
    examples: ['etcd-replace sandbox status --sandbox lab --json'],
    exits: exitCodesText([['succeeded', 'ok'], ['failed', 'failure (e.g. no such sandbox)'], ['invalidInput', 'bad arguments']]),
  },
  'sandbox exec': {
    usage: ['etcd-replace sandbox exec [--sandbox NAME] HOST -- CMD...'],
    about: 'Runs CMD on a sandbox host, inside its network and files, with stdin, stdout and stderr passed through.',
    sections: [
      {
        title: 'arguments and options',
        flags: [['HOST', 'the host, e.g. master-0'], ['CMD...', 'the command and its arguments, after --'], SANDBOX_FLAG, HELP_FLAG],
      },
    ],
    examples: ['etcd-replace sandbox exec --sandbox lab master-0 -- cat /etc/etcd/etcd.conf'],
    exits: exitCodesText(['hostOff', ['invalidInput', 'bad arguments']], { before: "the command's own exit code; " }),
  },
  'sandbox fail': {
    usage: ['etcd-replace sandbox fail [--sandbox NAME] HOST [--mode kill|etcd|partition]'],
    about: 'Breaks a sandbox host the way a member fails.',
    sections: [
      {
        title: 'arguments and options',
        flags: [
          ['HOST', 'the host to break, e.g. master-2'],
          ['--mode kill|etcd|partition', 'kill (default): power it off; etcd: stop only its etcd for good; partition: cut it off from every other host'],
          SANDBOX_FLAG,
          HELP_FLAG,
        ],
      },
    ],
    examples: ['etcd-replace sandbox fail --sandbox lab master-2', 'etcd-replace sandbox fail --sandbox lab master-1 --mode partition'],
    exits: exitCodesText([['succeeded', 'done'], ['failed', 'failure'], ['invalidInput', 'bad arguments']]),
  },
  'sandbox down': {
    usage: ['etcd-replace sandbox down [--sandbox NAME] [--all]'],
    about: 'Removes a sandbox and everything it put on the machine: processes, namespaces, mounts, links, files.',
    sections: [{ title: 'options', flags: [SANDBOX_FLAG, ['--all', 'remove every sandbox'], HELP_FLAG] }],
    examples: ['etcd-replace sandbox down --sandbox lab', 'etcd-replace sandbox down --all'],
    exits: exitCodesText([['succeeded', 'removed'], ['failed', 'failure'], ['invalidInput', 'bad arguments']]),
  },
  bench: {
    usage: ['etcd-replace bench [--quick] [--scenario MxMB[@X.Y.Z]]... [--reps N] [--json] [--render] [--cost-only]'],
    about: `Benchmarks the workflow against the scripted runbook on sandboxes and models the AWS cost per run;
writes docs/benchmarks.json and docs/benchmarks.md. Needs root, except --cost-only and --render.`,
    sections: [
      {
        title: 'options',
        flags: [
          ['--quick', '3 members @ 32 MB on etcd 3.2.22 and on 3.4.23, 2 repetitions (a few minutes)'],
          ['--scenario MxMB[@X.Y.Z]', 'only this scenario, e.g. 3x32@3.2.22; MxMB alone (3x32, 3x256, 5x32, 3x1024) means that shape on both versions (repeatable)'],
          ['--reps N', 'repetitions per scenario and kind (default 3; 2 with --quick; 1 to 20)'],
          ['--json', 'print the report as JSON on stdout (progress goes to stderr)'],
          ['--render', 'rewrite docs/benchmarks.md from docs/benchmarks.json (after editing bench/analysis.md)'],
          ['--cost-only', 'the AWS cost model alone: transitions by executing the compiled ASL, SSM commands and step times from the last docs/benchmarks.json; needs no sandbox and writes nothing'],
          HELP_FLAG,
        ],
      },
    ],
    examples: ['npm run bench -- --quick', 'etcd-replace bench --cost-only --json'],
    exits: exitCodesText([['succeeded', 'every run succeeded'], ['failed', 'a run failed'], ['invalidInput', 'bad arguments']]),
  },
} satisfies Record<string, Help>;

export type HelpTopic = keyof typeof HELP;

/** `usage: …` with the topic's usage lines, for an argument error. */
export function usageOf(topic: HelpTopic): string {
  return HELP[topic].usage.map((line, i) => `${i === 0 ? 'usage: ' : '       '}${line}`).join('\n');
}

/** The whole help of a topic, as `--help` prints it. */
export function helpText(topic: HelpTopic): string {
  const help: Help = HELP[topic];
  const flags = help.sections.flatMap((s) => s.flags);
  const width = Math.min(Math.max(...flags.map(([flag]) => flag.length)), 30);
  const section = (s: Help['sections'][number]) =>
    `${s.title}:\n${s.flags.map(([flag, text]) => (flag.length > width ? `  ${flag}\n  ${' '.repeat(width)}  ${text}` : `  ${flag.padEnd(width)}  ${text}`)).join('\n')}`;
  return [
    usageOf(topic),
    help.about,
    ...help.sections.map(section),
    `examples:\n${help.examples.map((e) => `  ${e}`).join('\n')}`,
    `exit codes: ${help.exits}`,
  ].join('\n\n') + '\n';
}

const SUBCOMMANDS: Record<string, HelpTopic> = { up: 'sandbox up', status: 'sandbox status', exec: 'sandbox exec', fail: 'sandbox fail', down: 'sandbox down' };

/**
 * The help topic `argv` asks for with -h or --help (before any `--`), or undefined: `sandbox up --help`
 * asks for the subcommand's help, `sandbox --help` for the sandbox overview.
 */
export function helpTopicOf(command: HelpTopic, argv: readonly string[]): HelpTopic | undefined {
  const end = argv.indexOf('--');
  const head = end < 0 ? argv : argv.slice(0, end);
  if (!head.includes('--help') && !head.includes('-h')) return undefined;
  if (command === 'sandbox') return SUBCOMMANDS[head[0] ?? ''] ?? 'sandbox';
  return command;
}

/** The topic `etcd-replace help plan` or `help sandbox up` names, or undefined. */
export function namedTopic(words: readonly string[]): HelpTopic | undefined {
  const name = words.join(' ');
  return Object.hasOwn(HELP, name) ? (name as HelpTopic) : undefined;
}
