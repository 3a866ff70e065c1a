// The etcd-replace CLI: `main(argv)` dispatches to a command module (cli/commands/index.ts) and
// returns the exit code (functions/exitCodes.ts).
import packageJson from '../package.json' with { type: 'json' };
import { EXIT } from '../functions/exitCodes.ts';
import { COMMANDS, isCommand, namedTopic, type CommandModule } from './commands/index.ts';
import { helpText, helpTopicOf } from './help.ts';

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
    return EXIT.succeeded;
  }
  if (name === 'help' && rest.length > 0) {
    const help = await namedTopic(rest);
    if (!help) {
      process.stderr.write(`error: no help for "${rest.join(' ')}"\n${usage()}`);
      return EXIT.invalidInput;
    }
    process.stdout.write(helpText(help));
    return EXIT.succeeded;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return EXIT.succeeded;
  }
  if (!isCommand(name)) {
    process.stderr.write(`${name === undefined ? 'error: no command given' : `error: unknown command "${name}"`}\n${usage()}`);
    return EXIT.invalidInput;
  }
  const command: CommandModule = await COMMANDS[name].load();
  const topic = helpTopicOf(name, rest, Object.keys(command.topics));
  if (topic) {
    process.stdout.write(helpText(command.topics[topic]!));
    return EXIT.succeeded;
  }
  return command.run(rest);
}
