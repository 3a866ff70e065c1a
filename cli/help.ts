// How a command says what it is: its usage, a line per flag, examples and exit codes, printed by
// `etcd-replace <command> --help` (or -h, or `etcd-replace help <command>`). Each command's own help
// sits beside its flags and handler in cli/commands/<command>.ts; this module renders it. The usage lines
// are also the ones a command appends to an argument error, and each "exit codes:" line is made from
// the one table of exit codes (functions/exitCodes.ts).

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

export const HELP_FLAG: [string, string] = ['-h, --help', 'show this help'];
export const SANDBOX_FLAG: [string, string] = ['--sandbox NAME', 'the sandbox to use (default "default"; ^[a-z][a-z0-9-]{0,15}$)'];
export const JSON_FLAG: [string, string] = ['--json', 'print the result as one JSON document on stdout; progress goes to stderr'];
/** The exit codes of a command that runs the workflow (run, resume, status). */
export const RUN_EXITS = ['succeeded', 'failed', 'invalidInput', 'refused'] as const;

/** `usage: …` with the help's usage lines, for an argument error. */
export function usageText(help: Help): string {
  return help.usage.map((line, i) => `${i === 0 ? 'usage: ' : '       '}${line}`).join('\n');
}

/** The whole help, as `--help` prints it. */
export function helpText(help: Help): string {
  const flags = help.sections.flatMap((s) => s.flags);
  const width = Math.min(Math.max(...flags.map(([flag]) => flag.length)), 30);
  const section = (s: Help['sections'][number]) =>
    `${s.title}:\n${s.flags.map(([flag, text]) => (flag.length > width ? `  ${flag}\n  ${' '.repeat(width)}  ${text}` : `  ${flag.padEnd(width)}  ${text}`)).join('\n')}`;
  return (
    [
      usageText(help),
      help.about,
      ...help.sections.map(section),
      `examples:\n${help.examples.map((e) => `  ${e}`).join('\n')}`,
      `exit codes: ${help.exits}`,
    ].join('\n\n') + '\n'
  );
}

/**
 * The help topic `argv` asks for with -h or --help (before any `--`), or undefined. `topics` are the
 * command's (cli/commands/<command>.ts): `sandbox up --help` asks for the subcommand's help when
 * "sandbox up" is one of them, `sandbox --help` for the command's own.
 */
export function helpTopicOf(command: string, argv: readonly string[], topics: readonly string[]): string | undefined {
  const end = argv.indexOf('--');
  const head = end < 0 ? argv : argv.slice(0, end);
  if (!head.includes('--help') && !head.includes('-h')) return undefined;
  const sub = `${command} ${head[0] ?? ''}`;
  return head[0] !== undefined && topics.includes(sub) ? sub : command;
}
