// The etcd-replace CLI: `main(argv)` dispatches to a command module and returns the exit code.
// To add a command, add one line to COMMANDS (modules load lazily, so startup stays fast).
import { EXIT_USAGE } from './common.ts';

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; run: Command }> = {
  plan: { summary: 'show every step and the exact commands a replacement would run, changing nothing', run: async (argv) => (await import('./plan.ts')).planCommand(argv) },
  run: { summary: 'replace a failed etcd member (resumes the same unfinished run)', run: async (argv) => (await import('./run.ts')).runCommandMain(argv) },
  resume: { summary: 'resume an unfinished run by its ID', run: async (argv) => (await import('./run.ts')).resumeCommand(argv) },
  status: { summary: 'an AWS execution as a run result: outcome, step timeline (exit 4 while it runs)', run: async (argv) => (await import('./aws.ts')).statusCommand(argv) },
  history: { summary: 'past runs: outcome, who started them, step timeline', run: async (argv) => (await import('./history.ts')).historyCommand(argv) },
  graph: { summary: 'the workflow as a Mermaid diagram', run: async (argv) => (await import('./graph.ts')).graphCommand(argv) },
  sandbox: { summary: 'build, inspect, break and remove local sandbox clusters', run: async (argv) => (await import('./sandbox.ts')).sandboxCommand(argv) },
  bench: { summary: 'benchmark the workflow against the scripted runbook; AWS cost per run', run: async (argv) => (await import('./bench.ts')).benchCommand(argv) },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: etcd-replace <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun etcd-replace <command> --help for a command's options.\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return 0;
  }
  const command = name === undefined ? undefined : COMMANDS[name];
  if (!command) {
    process.stderr.write(`${name === undefined ? 'error: no command given' : `error: unknown command "${name}"`}\n${usage()}`);
    return EXIT_USAGE;
  }
  return command.run(rest);
}
