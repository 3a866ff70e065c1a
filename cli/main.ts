// The etcd-replace CLI: `main(argv)` dispatches to a command module and returns the exit code.
// To add a command, add one line to COMMANDS and its help to cli/help.ts (modules load lazily, so
// startup and --help stay fast).
import packageJson from '../package.json' with { type: 'json' };
import { EXIT } from '../functions/exitCodes.ts';
import { EXIT_USAGE } from './common.ts';
import { helpText, helpTopicOf, namedTopic, type HelpTopic } from './help.ts';

type Command = (argv: string[]) => Promise<number>;
/** The commands: every top-level help topic (cli/help.ts) is one, and every command has its help. */
type CommandName = Exclude<HelpTopic, `${string} ${string}`>;

const COMMANDS: Record<CommandName, { summary: string; run: Command }> = {
  plan: { summary: 'show every step and the exact commands a replacement would run, changing nothing', run: async (argv) => (await import('./plan.ts')).planCommand(argv) },
  run: { summary: 'replace a failed etcd member (resumes the same unfinished run)', run: async (argv) => (await import('./run.ts')).runCommandMain(argv) },
  resume: { summary: 'resume an unfinished run by its ID', run: async (argv) => (await import('./run.ts')).resumeCommand(argv) },
  status: { summary: `an AWS execution as a run result: outcome, step timeline (exit ${EXIT.running} while it runs)`, run: async (argv) => (await import('./aws.ts')).statusCommand(argv) },
  history: { summary: 'past runs: outcome, who started them, step timeline', run: async (argv) => (await import('./history.ts')).historyCommand(argv) },
  graph: { summary: 'the workflow as a Mermaid diagram', run: async (argv) => (await import('./graph.ts')).graphCommand(argv) },
  sandbox: { summary: 'build, inspect, break and remove local sandbox clusters', run: async (argv) => (await import('./sandbox.ts')).sandboxCommand(argv) },
  bench: { summary: 'benchmark the workflow against the scripted runbook; AWS cost per run', run: async (argv) => (await import('./bench.ts')).benchCommand(argv) },
};

/** The package's version, as `--version` prints it. */
export const VERSION: string = packageJson.version;

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: etcd-replace <command> [options]
       etcd-replace --version

commands:
${lines.join('\n')}

options:
  -h, --help     show this help (after a command: that command's usage, flags and examples)
  -V, --version  print the version

Run etcd-replace <command> --help for a command's options.
`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V') {
    process.stdout.write(`etcd-replace ${VERSION}\n`);
    return 0;
  }
  if (name === 'help' && rest.length > 0) {
    const topic = namedTopic(rest);
    if (!topic) {
      process.stderr.write(`error: no help for "${rest.join(' ')}"\n${usage()}`);
      return EXIT_USAGE;
    }
    process.stdout.write(helpText(topic));
    return 0;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return 0;
  }
  if (name === undefined || !Object.hasOwn(COMMANDS, name)) {
    process.stderr.write(`${name === undefined ? 'error: no command given' : `error: unknown command "${name}"`}\n${usage()}`);
    return EXIT_USAGE;
  }
  const command = COMMANDS[name as CommandName];
  const topic = helpTopicOf(name as CommandName, rest);
  if (topic) {
    process.stdout.write(helpText(topic));
    return 0;
  }
  return command.run(rest);
}
