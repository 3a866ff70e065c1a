// What every command shares: strict argument parsing that turns mistakes into exit code 2, and one
// place that maps errors to exit codes (functions/exitCodes.ts). Output goes through the printers
// (cli/printers/).
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { WorkflowError, errorMessage } from '../functions/errors.ts';
import { EXIT } from '../functions/exitCodes.ts';

/** Bad arguments: the command changed nothing. Exit code 2. */
export class UsageError extends Error {
  readonly exitCode = EXIT.invalidInput;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs in strict mode; parse errors become UsageError with `usage` appended. */
export function parse<O extends Options>(argv: string[], options: O, usage: string, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (error) {
    throw new UsageError(`${errorMessage(error)}\n${usage}`);
  }
}

/** Parses a non-negative integer option value ("32"), or throws UsageError naming the option. */
export function integerOption(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} must be a non-negative integer, got "${value}"`);
  return Number(value);
}

/** Parses a number of seconds ("30"), at most `max` (an hour unless told), or throws UsageError naming the option. */
export function secondsOption(name: string, value: string | undefined, fallback: number, max = 3600): number {
  const seconds = integerOption(name, value, fallback);
  if (seconds > max) throw new UsageError(`--${name} must be at most ${max}`);
  return seconds;
}

/** `--target aws` (or `--target=aws`) in argv: the command runs against AWS (cli/aws/, loaded only then). */
export function targetsAws(argv: readonly string[]): boolean {
  return argv.some((arg, i) => arg === '--target=aws' || (arg === '--target' && argv[i + 1] === 'aws'));
}

/** Exit code for an error: UsageError 2, WorkflowError its own (InvalidInputError 2, RefusedError 3), else 1. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError) return error.exitCode;
  if (error instanceof WorkflowError) return error.exitCode;
  return EXIT.failed;
}

/** Runs a command body, printing any error as `error: …` on stderr and returning the exit code. */
export async function runCommand(body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    process.stderr.write(`error: ${errorMessage(error)}\n`);
    return exitCodeOf(error);
  }
}
