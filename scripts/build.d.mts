// Types of scripts/build.mjs, for the TypeScript that imports it (tests).

/** The checkout the CLI is built from. */
export const ROOT: string;

/** The entry module of the current build under `root`, or undefined when it is missing or stale. */
export function freshBuild(root?: string): string | undefined;

/** Builds `entry` (default cli/main.ts) under `root` into `<root>/dist/` and makes it current; returns its entry module. */
export function build(root?: string, entry?: string): Promise<string>;

/** esbuild's error messages (file:line:column: text), or the error's message. */
export function buildErrorText(error: unknown): string;
