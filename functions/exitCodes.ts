// The exit codes of etcd-replace, in one table: the CLI returns them, the errors carry them
// (functions/errors.ts), a run's outcome maps to them (functions/workflow/runView.ts), and every
// command's `--help` prints its "exit codes:" line from them (cli/help.ts). Operators script against
// these numbers: a code never changes meaning.

export interface ExitCode {
  code: number;
  name: ExitName;
  /** What the code means, as `--help` says it unless a command words it for itself. */
  meaning: string;
}

export const EXIT = {
  /** The command did what it was asked; a run succeeded (or, without --wait, started). */
  succeeded: 0,
  /** The command or the run failed. */
  failed: 1,
  /** Bad arguments or input: nothing was changed. */
  invalidInput: 2,
  /** Refused for safety: going on could lose quorum, data or the CA, or another owner holds the run. */
  refused: 3,
  /** The run is still running (`status`). */
  running: 4,
  /** `sandbox exec`: the host is powered off. */
  hostOff: 255,
} as const;

export type ExitName = keyof typeof EXIT;

export const EXIT_CODES: readonly ExitCode[] = [
  { code: EXIT.succeeded, name: 'succeeded', meaning: 'succeeded' },
  { code: EXIT.failed, name: 'failed', meaning: 'failed' },
  { code: EXIT.invalidInput, name: 'invalidInput', meaning: 'bad arguments or input (nothing changed)' },
  { code: EXIT.refused, name: 'refused', meaning: 'refused for safety' },
  { code: EXIT.running, name: 'running', meaning: 'still running' },
  { code: EXIT.hostOff, name: 'hostOff', meaning: 'the host is off' },
];

/** One code's entry of the table. */
export function exitCodeNamed(name: ExitName): ExitCode {
  return EXIT_CODES.find((e) => e.name === name)!;
}

/** A code as `--help` lists it: the code and its meaning, in the table's words or the command's own. */
export type ExitEntry = ExitName | [ExitName, string];

/**
 * A command's "exit codes:" text: `before`, then each code with its meaning ("0 succeeded, 1 failed"),
 * then `after`.
 */
export function exitCodesText(codes: readonly ExitEntry[], options: { before?: string; after?: string } = {}): string {
  const listed = codes
    .map((entry) => {
      const [name, words] = typeof entry === 'string' ? [entry, undefined] : entry;
      const exit = exitCodeNamed(name);
      return `${exit.code} ${words ?? exit.meaning}`;
    })
    .join(', ');
  return `${options.before ?? ''}${listed}${options.after ?? ''}`;
}
