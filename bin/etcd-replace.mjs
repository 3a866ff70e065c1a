#!/usr/bin/env node
// Entry point: runs the CLI as built into dist/ by scripts/build.mjs (at npm ci), building it first when
// it is missing or any file it was built from has changed. Where it cannot be built (esbuild not
// installed, dist/ not writable), the TypeScript sources run through tsx instead.
import { pathToFileURL } from 'node:url';
import { build, buildErrorText, freshBuild } from '../scripts/build.mjs';

/** Errors that mean "no build here", not "the sources do not compile". */
const CANNOT_BUILD = new Set(['ERR_MODULE_NOT_FOUND', 'EACCES', 'EPERM', 'EROFS']);

async function entry() {
  const fresh = freshBuild();
  if (fresh) return pathToFileURL(fresh).href;
  try {
    return pathToFileURL(await build()).href;
  } catch (error) {
    if (!CANNOT_BUILD.has(error?.code)) throw error;
    const { register } = await import('tsx/esm/api');
    register();
    return new URL('../cli/main.ts', import.meta.url).href;
  }
}

let url;
try {
  url = await entry();
} catch (error) {
  process.stderr.write(`error: the CLI does not build:\n${buildErrorText(error)}\n`);
  process.exitCode = 1;
}
if (url) {
  const { main } = await import(url);
  process.exitCode = await main(process.argv.slice(2));
}
