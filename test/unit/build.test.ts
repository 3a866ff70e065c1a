// The CLI's build (scripts/build.mjs) on a small project of its own: a lazily loaded chunk, a file found
// next to its source through import.meta.url, freshness by the mtimes of the files it was built from,
// and builds running at once.

import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { build, buildErrorText, freshBuild } from '../../scripts/build.mjs';

const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

/** A project whose main reads an asset beside its source and loads a command lazily. */
function project(): string {
  const root = mkdtempSync(path.join(tmpdir(), 'build-test-'));
  roots.push(root);
  mkdirSync(path.join(root, 'cli'));
  mkdirSync(path.join(root, 'assets'));
  writeFileSync(path.join(root, 'assets', 'greeting.txt'), 'hello from assets');
  writeFileSync(
    path.join(root, 'cli', 'main.ts'),
    `import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const ASSET = fileURLToPath(new URL('../assets/greeting.txt', import.meta.url));
export async function main(): Promise<string> {
  const { word } = await import('./lazy.ts');
  return \`\${readFileSync(ASSET, 'utf8')} \${word()}\`;
}
`,
  );
  writeFileSync(path.join(root, 'cli', 'lazy.ts'), `export const word = (): string => 'and lazy';\n`);
  return root;
}

/** Dates the sources a few seconds back, as sources edited before a build are. */
function settle(root: string): void {
  const old = new Date(Date.now() - 5000);
  for (const file of ['main.ts', 'lazy.ts']) utimesSync(path.join(root, 'cli', file), old, old);
}

async function run(main: string): Promise<string> {
  const module = (await import(`${pathToFileURL(main).href}?${Date.now()}`)) as { main: () => Promise<string> };
  return module.main();
}

describe('Script: build', () => {
  it('builds chunks a lazy import loads, whose import.meta.url still finds files beside the source', async () => {
    const root = project();
    settle(root);
    expect(freshBuild(root)).toBeUndefined();
    const main = await build(root);
    expect(path.relative(root, main)).toMatch(/^dist\/b-[0-9a-f]{16}\/main\.js$/);
    expect(readdirSync(path.dirname(main)).length).toBeGreaterThan(1);
    expect(readFileSync(main, 'utf8')).toContain('new URL("../../cli/main.ts", import.meta.url)');
    expect(await run(main)).toBe('hello from assets and lazy');
    expect(freshBuild(root)).toBe(main);
  });

  it('is stale once a file it was built from changes or goes, and a rebuild is current again', async () => {
    const root = project();
    settle(root);
    const first = await build(root);
    const lazy = path.join(root, 'cli', 'lazy.ts');
    const later = new Date(Date.now() + 5000);
    utimesSync(lazy, later, later);
    expect(freshBuild(root)).toBeUndefined();

    writeFileSync(lazy, `export const word = (): string => 'and changed';\n`);
    utimesSync(lazy, new Date(Date.now() - 5000), new Date(Date.now() - 5000));
    const second = await build(root);
    expect(second).not.toBe(first);
    expect(freshBuild(root)).toBe(second);
    expect(await run(second)).toBe('hello from assets and changed');
    expect(readdirSync(path.join(root, 'dist'))).toContain(path.basename(path.dirname(first)));

    rmSync(lazy);
    expect(freshBuild(root)).toBeUndefined();
  });

  it('records a source changed just before or during the build as changed, so the next start builds again', async () => {
    const root = project();
    await build(root);
    expect(freshBuild(root)).toBeUndefined();
    const manifest = JSON.parse(readFileSync(path.join(root, 'dist', 'build.json'), 'utf8')) as { inputs: Record<string, number> };
    expect(manifest.inputs['cli/main.ts']).toBe(-1);
  });

  it('lets builds run at once: each ends with a whole current build', async () => {
    const root = project();
    settle(root);
    const mains = await Promise.all([build(root), build(root), build(root)]);
    expect(new Set(mains).size).toBe(1);
    expect(freshBuild(root)).toBe(mains[0]);
    expect(readdirSync(path.join(root, 'dist')).sort()).toEqual([path.basename(path.dirname(mains[0]!)), 'build.json']);
    expect(await run(mains[0]!)).toBe('hello from assets and lazy');
  });

  it('keeps old builds a day and at most 50 of them, and what a build is writing now', async () => {
    const root = project();
    settle(root);
    mkdirSync(path.join(root, 'dist'));
    const at = (name: string, hoursAgo: number) => {
      mkdirSync(path.join(root, 'dist', name));
      const when = new Date(Date.now() - hoursAgo * 3600_000);
      utimesSync(path.join(root, 'dist', name), when, when);
    };
    for (let i = 0; i < 60; i++) at(`b-old${String(i).padStart(2, '0')}`, i / 10);
    at('b-yesterday', 25);
    at('.tmp-1-writing', 0.5);
    at('.tmp-2-abandoned', 2);
    const main = await build(root);
    const left = readdirSync(path.join(root, 'dist'));
    expect(left).toContain(path.basename(path.dirname(main)));
    expect(left.filter((n) => n.startsWith('b-old')).sort()).toEqual(Array.from({ length: 50 }, (_, i) => `b-old${String(i).padStart(2, '0')}`));
    expect(left).not.toContain('b-yesterday');
    expect(left).toContain('.tmp-1-writing');
    expect(left).not.toContain('.tmp-2-abandoned');
  });

  it('fails with the file and line of a source that does not compile, leaving the last build current', async () => {
    const root = project();
    settle(root);
    const main = await build(root);
    writeFileSync(path.join(root, 'cli', 'lazy.ts'), 'export const word = (: string =>\n');
    const error = await build(root).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(buildErrorText(error)).toMatch(/cli\/lazy\.ts:1:\d+: /);
    expect(JSON.parse(readFileSync(path.join(root, 'dist', 'build.json'), 'utf8'))).toMatchObject({ build: path.basename(path.dirname(main)) });
  });
});
