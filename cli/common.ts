// Shared CLI helpers: strict argument parsing that turns mistakes into exit code 2, JSON results on
// stdout, progress on stderr, and one place that maps errors to exit codes.
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { WorkflowError, errorMessage } from '../functions/errors.ts';
import { EXIT } from '../functions/exitCodes.ts';

/** Exit codes (functions/exitCodes.ts): a failure, and bad arguments. */
export const EXIT_FAILURE = EXIT.failed;
export const EXIT_USAGE = EXIT.invalidInput;

/** Bad arguments: the command changed nothing. Exit code 2. */
export class UsageError extends Error {
  readonly exitCode = EXIT_USAGE;
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

/** `--target aws` (or `--target=aws`) in argv: the command runs against AWS (cli/aws.ts, loaded only then). */
export function targetsAws(argv: readonly string[]): boolean {
  return argv.some((arg, i) => arg === '--target=aws' || (arg === '--target' && argv[i + 1] === 'aws'));
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** Exit code for an error: UsageError 2, WorkflowError its own (InvalidInputError 2), else 1. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError) return error.exitCode;
  if (error instanceof WorkflowError) return error.exitCode;
  return EXIT_FAILURE;
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
