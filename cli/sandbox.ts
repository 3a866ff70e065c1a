// `etcd-replace sandbox up|status|exec|fail|down`: the local sandbox cluster.
import { spawn } from 'node:child_process';
import { FAIL_MODES, failHost, loadSandbox, prepareExec, sandboxDown, sandboxStatus, sandboxUp, statusOf, validateSandboxName } from '../sandbox/index.ts';
import type { FailMode, StatusDocument } from '../sandbox/index.ts';
import { HostUnreachableError } from '../functions/errors.ts';
import { EXIT } from '../functions/exitCodes.ts';
import { EXIT_USAGE, UsageError, integerOption, parse, printJson, progress, runCommand } from './common.ts';
import { helpText, usageOf } from './help.ts';

const USAGE = helpText('sandbox').trimEnd();

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

function statusTable(status: StatusDocument): string {
  const rows = status.hosts.map((h) => [
    h.name,
    h.hostname,
    h.ip,
    h.roles.join(','),
    h.up ? 'up' : 'off',
    h.etcd.running ? `etcd ${h.etcd.memberId ?? '?'}${h.etcd.leader ? ' (leader)' : ''}` : '-',
    h.etcd.version ?? '-',
  ]);
  const header = ['HOST', 'HOSTNAME', 'IP', 'ROLES', 'POWER', 'ETCD', 'VERSION'];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()}\n`;
  const launched = status.hosts.map((h) => (h.launchedBy === undefined ? '' : `${h.name} was launched by run ${h.launchedBy}\n`)).join('');
  const client = `${launched === '' ? '' : `\n${launched}`}\nclient (from this machine): --endpoints ${status.client.endpoints.join(',')} --cacert ${status.client.cacert} --cert ${status.client.cert} --key ${status.client.key}\n`;
  return line(header) + rows.map(line).join('') + client;
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
  const { values, positionals } = parse(argv, { ...sandboxOption, mode: { type: 'string', default: 'kill' } }, usageOf('sandbox fail'), true);
  if (positionals.length !== 1) throw new UsageError(usageOf('sandbox fail'));
  const mode = values.mode ?? 'kill';
  if (!(FAIL_MODES as readonly string[]).includes(mode)) throw new UsageError(`--mode must be one of ${FAIL_MODES.join(', ')}, got "${mode}"`);
  const name = sandboxName(values.sandbox);
  const hostName = positionals[0] ?? '';
  await failHost(name, hostName, mode as FailMode);
  progress(`fail: ${hostName} in sandbox "${name}": ${mode}`);
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

const SUBCOMMANDS: Record<string, (argv: string[]) => Promise<number>> = { up, status, exec, fail, down };

export async function sandboxCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === 'help') return help();
  const handler = sub === undefined || !Object.hasOwn(SUBCOMMANDS, sub) ? undefined : SUBCOMMANDS[sub];
  if (!handler) {
    process.stderr.write(`error: ${sub === undefined ? 'no sandbox subcommand given' : `unknown sandbox subcommand "${sub}"`}\n${USAGE}\n`);
    return EXIT_USAGE;
  }
  return runCommand(() => handler(rest));
}

