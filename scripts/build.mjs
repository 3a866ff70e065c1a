#!/usr/bin/env node
// Builds the CLI once into dist/ so that `etcd-replace` starts without compiling TypeScript:
// cli/main.ts and every source it imports become ES modules, one chunk per lazily loaded command
// (node_modules stay external, loaded by Node as they are).
//
//   node scripts/build.mjs             build (npm's `prepare`, so `npm ci` and `npm install` run it)
//   node scripts/build.mjs --if-stale  build only when dist/ is missing or older than its sources
//
// dist/build.json names the current build and the mtime of every file it was built from (the bundle's
// inputs and this script); bin/etcd-replace.mjs stats them at start and rebuilds when one differs. Each
// build lives in its own directory named by a hash of its contents, and build.json is replaced in one
// rename, so processes starting while another rebuilds always load a whole build.
//
// Sources that find files next to themselves through import.meta.url (host scripts, sandbox assets,
// schemas) keep finding them: in the build, their import.meta.url is the source file's URL, computed
// from the chunk's own location, so the checkout can move.

// Only what the freshness check needs loads with this module: the bin imports it on every start.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY = 'cli/main.ts';
const OUT_DIR = 'dist';
const MANIFEST = 'build.json';
const MAIN = 'main.js';
/** How the build is made: a change here calls for a rebuild as much as a change in a source. */
const BUILD_SCRIPT = fileURLToPath(import.meta.url);
/**
 * Builds other than the current one are kept a day (a process started from one may still load its
 * chunks), and at most this many of them, newest first.
 */
const KEEP_OLD_BUILDS_MS = 24 * 3600_000;
const KEEP_OLD_BUILDS = 50;
const MTIME_MARGIN_MS = 50;

/** The mtime of a file, or null when it is gone. */
function mtimeOf(file) {
  return statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? null;
}

/**
 * The entry module of the current build under `root`, or undefined when there is none or any file it
 * was built from has changed (mtime), appeared missing, or the build directory is gone.
 */
export function freshBuild(root = ROOT) {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(path.join(root, OUT_DIR, MANIFEST), 'utf8'));
  } catch {
    return undefined;
  }
  for (const [file, mtime] of Object.entries(manifest.inputs ?? {})) {
    if (mtimeOf(path.join(root, file)) !== mtime) return undefined;
  }
  const main = path.join(root, OUT_DIR, String(manifest.build), MAIN);
  return mtimeOf(main) === null ? undefined : main;
}

/** Makes `import.meta.url` in a source mean that source's URL, wherever its chunk is loaded from. */
function sourceUrls(outdir) {
  return {
    name: 'source-urls',
    setup(build) {
      build.onLoad({ filter: /\.[cm]?[jt]s$/ }, async (args) => {
        if (args.path.split(path.sep).includes('node_modules')) return undefined;
        const text = readFileSync(args.path, 'utf8');
        if (!text.includes('import.meta.url')) return undefined;
        const fromChunk = path.relative(outdir, args.path).split(path.sep).join('/');
        return {
          contents: text.replace(/\bimport\.meta\.url\b/g, `new URL(${JSON.stringify(fromChunk)}, import.meta.url).href`),
          loader: /\.[cm]?ts$/.test(args.path) ? 'ts' : 'js',
          resolveDir: path.dirname(args.path),
        };
      });
    },
  };
}

/**
 * Builds `entry` under `root` into `<root>/dist/<hash>/` and makes it the current build. Returns the
 * path of its entry module. Throws with esbuild's messages when a source does not compile.
 */
export async function build(root = ROOT, entry = ENTRY) {
  const esbuild = await import('esbuild');
  const { createHash, randomBytes } = await import('node:crypto');
  const startedAt = Date.now();
  const outRoot = path.join(root, OUT_DIR);
  // Every chunk lands in one directory, so a path relative to "a chunk" is the same for all of them.
  const placeholder = path.join(outRoot, 'build');
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: { main: entry },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    keepNames: true,
    outdir: placeholder,
    chunkNames: '[name]-[hash]',
    write: false,
    metafile: true,
    logLevel: 'silent',
    plugins: [sourceUrls(placeholder)],
  });

  const files = result.outputFiles
    .map((f) => ({ name: path.relative(placeholder, f.path), contents: f.contents }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const hash = createHash('sha256');
  for (const f of files) hash.update(`${f.name}\0`).update(f.contents).update('\0');
  const id = `b-${hash.digest('hex').slice(0, 16)}`;
  const dir = path.join(outRoot, id);
  if (mtimeOf(path.join(dir, MAIN)) === null) {
    const temp = path.join(outRoot, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    for (const f of files) {
      mkdirSync(path.dirname(path.join(temp, f.name)), { recursive: true });
      writeFileSync(path.join(temp, f.name), f.contents);
    }
    try {
      renameSync(temp, dir);
    } catch (error) {
      // Another process put the same build there first (or left a broken one: replace it).
      if (mtimeOf(path.join(dir, MAIN)) === null) {
        rmSync(dir, { recursive: true, force: true });
        renameSync(temp, dir);
      } else {
        rmSync(temp, { recursive: true, force: true });
      }
      if (mtimeOf(path.join(dir, MAIN)) === null) throw error;
    }
  }

  // A source changed while it was being read is recorded as changed, so the next start builds again
  // (the margin covers file systems whose timestamps lag the clock by a tick).
  const inputs = {};
  for (const file of [...Object.keys(result.metafile.inputs), path.relative(root, BUILD_SCRIPT)].sort()) {
    const mtime = mtimeOf(path.join(root, file));
    inputs[file] = mtime === null || mtime > startedAt - MTIME_MARGIN_MS ? -1 : mtime;
  }
  const manifestTemp = path.join(outRoot, `.${MANIFEST}-${process.pid}-${randomBytes(4).toString('hex')}`);
  writeFileSync(manifestTemp, `${JSON.stringify({ build: id, builtAt: new Date().toISOString(), inputs }, null, 2)}\n`);
  renameSync(manifestTemp, path.join(outRoot, MANIFEST));

  removeOldBuilds(outRoot, id);
  return path.join(dir, MAIN);
}

function removeOldBuilds(outRoot, current) {
  const now = Date.now();
  const entries = readdirSync(outRoot)
    .filter((name) => name !== current && name !== MANIFEST)
    .map((name) => ({ name, file: path.join(outRoot, name), mtime: mtimeOf(path.join(outRoot, name)) }))
    .filter((e) => e.mtime !== null);
  // What another build is writing right now (.tmp-*, .build.json-*) goes only once it is clearly abandoned.
  for (const e of entries.filter((e) => e.name.startsWith('.'))) {
    if (now - e.mtime > 3600_000) rmSync(e.file, { recursive: true, force: true });
  }
  const builds = entries.filter((e) => !e.name.startsWith('.')).sort((a, b) => b.mtime - a.mtime);
  builds.forEach((b, i) => {
    if (i >= KEEP_OLD_BUILDS || now - b.mtime > KEEP_OLD_BUILDS_MS) rmSync(b.file, { recursive: true, force: true });
  });
}

/** esbuild's error messages as text, or the error's message. */
export function buildErrorText(error) {
  if (Array.isArray(error?.errors) && error.errors.length > 0) {
    return error.errors.map((e) => (e.location ? `${e.location.file}:${e.location.line}:${e.location.column}: ${e.text}` : e.text)).join('\n');
  }
  return error instanceof Error ? error.message : String(error);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const ifStale = process.argv.includes('--if-stale');
  if (!(ifStale && freshBuild())) {
    const started = Date.now();
    try {
      const main = await build();
      process.stderr.write(`built ${path.relative(ROOT, path.dirname(main))} in ${Date.now() - started} ms\n`);
    } catch (error) {
      process.stderr.write(`error: the CLI does not build:\n${buildErrorText(error)}\n`);
      process.exitCode = 1;
    }
  }
}
