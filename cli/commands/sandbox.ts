// `etcd-replace sandbox up|status|exec|fail|heal|down`: the local sandbox cluster. The sandbox command's help
// and each subcommand's sit here beside their flags and handlers.
import { spawn } from 'node:child_process';
import {
  FAIL_MODES,
  failHost,
  healHost,
  loadSandbox,
  prepareExec,
  sandboxDown,
  sandboxStatus,
  sandboxUp,
  statusOf,
  validateSandboxName,
} from '../../sandbox/index.ts';
import type { FailMode } from '../../sandbox/index.ts';
import { HostUnreachableError } from '../../functions/errors.ts';
import { EXIT, exitCodesText } from '../../functions/exitCodes.ts';
import { UsageError, integerOption, parse, runCommand } from '../common.ts';
import { HELP_FLAG, SANDBOX_FLAG, helpText, usageText, type Help } from '../help.ts';
import { printJson } from '../printers/json.ts';
import { progress, statusTable } from '../printers/text.ts';

export const topics = {
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
                          or cut it off from every other host (partition);
                          --mode scaleup --task NAME: the next openshift-etcd scaleup fails NAME on HOST
  heal HOST               undo fail: a powered-off host boots again with its old data (its etcd
                          rejoins with its old membership), etcd runs again, the partition or the
                          scaleup fault goes; a healthy host is left as it is
  down [--all]            remove the sandbox (or every sandbox) and everything it put on the machine

Run etcd-replace sandbox <subcommand> --help for a subcommand's options.`,
    sections: [{ title: 'options', flags: [SANDBOX_FLAG, HELP_FLAG] }],
    examples: [
      'etcd-replace sandbox up --sandbox lab',
      'etcd-replace sandbox fail --sandbox lab master-2',
      'etcd-replace sandbox heal --sandbox lab master-2',
      'etcd-replace sandbox down --sandbox lab',
    ],
    exits: exitCodesText(
      [
        ['succeeded', 'ok'],
        ['failed', 'failure'],
        ['invalidInput', 'bad arguments'],
      ],
      { after: `; exec passes the command's code through (${EXIT.hostOff}: host off)` },
    ),
  },
  'sandbox up': {
    usage: [
      'etcd-replace sandbox up [--sandbox NAME] [--members 3|5] [--spares N] [--nodes N] [--data-mb N] [--etcd-version X.Y.Z] [--host-etcd-version HOST=X.Y.Z]... [--json]',
    ],
    about:
      'Builds a sandbox cluster: masters running etcd as static pods (master-0 holds the CA), spare hosts for a replacement, nodes running flanneld, and data in etcd.',
    sections: [
      {
        title: 'options',
        flags: [
          SANDBOX_FLAG,
          ['--members 3|5', 'masters, each an etcd member (default 3)'],
          ['--spares N', 'spare hosts a member can be replaced with (default 1)'],
          ['--nodes N', 'nodes running flanneld against etcd (default 1, at most 10)'],
          ['--data-mb N', 'MiB of keys written into etcd (default 32)'],
          [
            '--etcd-version X.Y.Z',
            "the members' etcd: 3.4.23 is Debian's, others vX.Y.Z/{etcd,etcdctl} under $ETCD_REPLACE_ETCD_BUILDS (default $ETCD_REPLACE_ETCD_VERSION, else 3.2.22 when its build is there, else 3.4.23)",
          ],
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
    exits: exitCodesText([
      ['succeeded', 'ok'],
      ['failed', 'failure (e.g. no such sandbox)'],
      ['invalidInput', 'bad arguments'],
    ]),
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
          [
            '--mode scaleup --task NAME',
            "the installer's next openshift-etcd scaleup playbook fails task NAME (as TASK [...] shows it) for HOST, once; every earlier task runs",
          ],
          SANDBOX_FLAG,
          HELP_FLAG,
        ],
      },
    ],
    examples: [
      'etcd-replace sandbox fail --sandbox lab master-2',
      'etcd-replace sandbox fail --sandbox lab master-1 --mode partition',
      'etcd-replace sandbox fail --sandbox lab etcd-spare-0 --mode scaleup --task "etcd : Enable etcd"',
    ],
    exits: exitCodesText([
      ['succeeded', 'done'],
      ['failed', 'failure'],
      ['invalidInput', 'bad arguments'],
    ]),
  },
  'sandbox heal': {
    usage: ['etcd-replace sandbox heal [--sandbox NAME] HOST'],
    about: `Undoes sandbox fail on HOST, whatever the mode. kill: power comes back and the host boots as a real one does (an empty
/run, iptables from /etc/sysconfig/iptables, every enabled unit and static pod started): its etcd comes back
with its old data dir and the membership it had. etcd: etcd runs again (the pod by itself, a failed
etcd.service started). partition: the host is reachable again. scaleup: the armed fault is gone. The
security group and a fence stay as they are. A healthy host is left as it is ("nothing to heal").`,
    sections: [{ title: 'arguments and options', flags: [['HOST', 'the host to heal, e.g. master-2'], SANDBOX_FLAG, HELP_FLAG] }],
    examples: ['etcd-replace sandbox heal --sandbox lab master-2'],
    exits: exitCodesText([
      ['succeeded', 'healed, or nothing to heal'],
      ['failed', 'failure'],
      ['invalidInput', 'bad arguments'],
    ]),
  },
  'sandbox down': {
    usage: ['etcd-replace sandbox down [--sandbox NAME] [--all]'],
    about: 'Removes a sandbox and everything it put on the machine: processes, namespaces, mounts, links, files.',
    sections: [{ title: 'options', flags: [SANDBOX_FLAG, ['--all', 'remove every sandbox'], HELP_FLAG] }],
    examples: ['etcd-replace sandbox down --sandbox lab', 'etcd-replace sandbox down --all'],
    exits: exitCodesText([
      ['succeeded', 'removed'],
      ['failed', 'failure'],
      ['invalidInput', 'bad arguments'],
    ]),
  },
} satisfies Record<string, Help>;

const usageOf = (topic: keyof typeof topics) => usageText(topics[topic]);

const USAGE = helpText(topics.sandbox).trimEnd();

const sandboxOption = { sandbox: { type: 'string', default: 'default' } } as const;

function sandboxName(value: string | undefined): string {
  try {
    return validateSandboxName(value ?? 'default');
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

function help(): number {
  process.stdout.write(`${USAGE}\n`);
  return 0;
}

async function up(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      ...sandboxOption,
      members: { type: 'string' },
      spares: { type: 'string' },
      nodes: { type: 'string' },
      'data-mb': { type: 'string' },
      'etcd-version': { type: 'string' },
      'host-etcd-version': { type: 'string', multiple: true },
      json: { type: 'boolean' },
    },
    usageOf('sandbox up'),
    true,
  );
  if (positionals.length > 0) throw new UsageError(`sandbox up takes no arguments, got "${positionals.join(' ')}"\n${usageOf('sandbox up')}`);
  const name = sandboxName(values.sandbox);
  const members = integerOption('members', values.members, 3);
  if (members !== 3 && members !== 5) throw new UsageError(`--members must be 3 or 5, got ${members}`);
  const options = {
    name,
    members: members as 3 | 5,
    spares: integerOption('spares', values.spares, 1),
    nodes: integerOption('nodes', values.nodes, 1),
    dataMb: integerOption('data-mb', values['data-mb'], 32),
    ...(values['etcd-version'] === undefined ? {} : { etcdVersion: values['etcd-version'] }),
    ...(values['host-etcd-version'] === undefined ? {} : { hostEtcdVersions: hostVersions(values['host-etcd-version']) }),
  };
  const started = Date.now();
  const info = await sandboxUp({ ...options, progress: (m) => progress(`up: ${m}`) });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const status = await statusOf(info);
  if (values.json) {
    printJson(status);
  } else {
    process.stdout.write(`sandbox "${name}" is up in ${seconds} s (${info.subnet}, etcd ${info.etcdVersion})\n${statusTable(status)}`);
    const first = info.client.endpoints[0] ?? '';
    process.stdout.write(
      `\nTry: etcd-replace sandbox exec --sandbox ${name} master-0 -- env ETCDCTL_API=3 etcdctl --endpoints=${first} --cacert=/etc/etcd/ca.crt --cert=/etc/etcd/peer.crt --key=/etc/etcd/peer.key member list -w table\n`,
    );
  }
  progress(`up: done in ${seconds} s`);
  return 0;
}

/** --host-etcd-version master-2=3.3.11 (repeatable). */
function hostVersions(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const value of values) {
    const match = /^([a-z0-9-]+)=(.+)$/.exec(value);
    if (!match?.[1] || !match[2]) throw new UsageError(`--host-etcd-version must be HOST=X.Y.Z, got "${value}"`);
    out[match[1]] = match[2];
  }
  return out;
}

async function status(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...sandboxOption, json: { type: 'boolean' } }, usageOf('sandbox status'), true);
  if (positionals.length > 0) throw new UsageError(`sandbox status takes no arguments, got "${positionals.join(' ')}"\n${usageOf('sandbox status')}`);
  const doc = await sandboxStatus(sandboxName(values.sandbox));
  if (values.json) printJson(doc);
  else process.stdout.write(`sandbox "${doc.name}"\n${statusTable(doc)}`);
  return 0;
}

async function exec(argv: string[]): Promise<number> {
  const separator = argv.indexOf('--');
  const head = separator < 0 ? argv : argv.slice(0, separator);
  const command = separator < 0 ? [] : argv.slice(separator + 1);
  const { values, positionals } = parse(head, sandboxOption, usageOf('sandbox exec'), true);
  if (positionals.length !== 1 || command.length === 0) throw new UsageError(usageOf('sandbox exec'));
  const hostName = positionals[0] ?? '';
  const sandbox = await loadSandbox(sandboxName(values.sandbox));
  let entry: Awaited<ReturnType<typeof prepareExec>>;
  try {
    entry = await prepareExec(sandbox, hostName);
  } catch (error) {
    if (error instanceof HostUnreachableError) {
      process.stderr.write(`error: ${error.message}\n`);
      return EXIT.hostOff;
    }
    throw error;
  }
  return new Promise((resolve) => {
    const child = spawn('nsenter', [...entry.args, ...command], { stdio: 'inherit', env: entry.env, cwd: '/' });
    child.on('error', (error) => {
      process.stderr.write(`error: ${error.message}\n`);
      resolve(1);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal === 'SIGKILL' ? 137 : signal === 'SIGTERM' ? 143 : 129)));
  });
}

async function fail(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { ...sandboxOption, mode: { type: 'string', default: 'kill' }, task: { type: 'string' } },
    usageOf('sandbox fail'),
    true,
  );
  if (positionals.length !== 1) throw new UsageError(usageOf('sandbox fail'));
  const mode = values.mode ?? 'kill';
  if (!(FAIL_MODES as readonly string[]).includes(mode)) throw new UsageError(`--mode must be one of ${FAIL_MODES.join(', ')}, got "${mode}"`);
  if ((mode === 'scaleup') !== (values.task !== undefined)) throw new UsageError('--task NAME goes with --mode scaleup, and --mode scaleup needs it');
  const name = sandboxName(values.sandbox);
  const hostName = positionals[0] ?? '';
  await failHost(name, hostName, mode as FailMode, values.task === undefined ? {} : { task: values.task });
  progress(`fail: ${hostName} in sandbox "${name}": ${mode}`);
  return 0;
}

async function heal(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, sandboxOption, usageOf('sandbox heal'), true);
  if (positionals.length !== 1) throw new UsageError(usageOf('sandbox heal'));
  const name = sandboxName(values.sandbox);
  const result = await healHost(name, positionals[0] ?? '');
  progress(
    result.healed.length === 0
      ? `heal: ${result.host} in sandbox "${name}": nothing to heal (it is not failed)`
      : `heal: ${result.host} in sandbox "${name}": ${result.healed.join(', ')}`,
  );
  return 0;
}

async function down(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...sandboxOption, all: { type: 'boolean' } }, usageOf('sandbox down'), true);
  if (positionals.length > 0) throw new UsageError(`sandbox down takes no arguments, got "${positionals.join(' ')}"\n${usageOf('sandbox down')}`);
  if (values.all) {
    await sandboxDown({ all: true });
    progress('down: removed every sandbox');
  } else {
    const name = sandboxName(values.sandbox);
    await sandboxDown(name);
    progress(`down: sandbox "${name}" removed`);
  }
  return 0;
}

const SUBCOMMANDS: Record<string, (argv: string[]) => Promise<number>> = { up, status, exec, fail, heal, down };

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === 'help') return help();
  const handler = sub === undefined || !Object.hasOwn(SUBCOMMANDS, sub) ? undefined : SUBCOMMANDS[sub];
  if (!handler) {
    process.stderr.write(`error: ${sub === undefined ? 'no sandbox subcommand given' : `unknown sandbox subcommand "${sub}"`}\n${USAGE}\n`);
    return EXIT.invalidInput;
  }
  return runCommand(() => handler(rest));
}
