// The README's layout table stays true: every folder of the tree (top level, and one level down in
// the folders that hold code) is named in it, and every folder it names exists.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../support/cli.ts';

/** Folders whose subfolders are rooms of their own, listed one by one. */
const SPLIT = ['functions', 'sandbox', 'lib', 'cli', 'test', 'rehearsal', 'scripts', 'schemas', 'statemachine', 'bench', 'docs'];

/** The first column of the layout table: every `folder/` it names. */
function namedFolders(readme: string): string[] {
  const section = /^## Layout\n([\s\S]*?)\n## /m.exec(readme)?.[1];
  if (section === undefined) throw new Error('README.md has no "## Layout" section');
  return section
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .flatMap((line) => [...(line.split('|')[1] ?? '').matchAll(/`([^`]+\/)`/g)].map((m) => m[1]!.replace(/\/$/, '')));
}

/** Tracked folders: the top level, and one level down in SPLIT. */
function trackedFolders(): string[] {
  const files = execFileSync('git', ['ls-files'], { cwd: REPO, encoding: 'utf8' }).split('\n').filter(Boolean);
  const folders = new Set<string>();
  for (const file of files) {
    const parts = file.split('/');
    if (parts.length < 2 || parts[0]!.startsWith('.')) continue;
    folders.add(parts[0]!);
    if (parts.length >= 3 && SPLIT.includes(parts[0]!)) folders.add(`${parts[0]}/${parts[1]}`);
  }
  return [...folders].sort();
}

describe('README layout table', () => {
  const named = namedFolders(readFileSync(path.join(REPO, 'README.md'), 'utf8'));

  it('names every folder of the tree', () => {
    expect(trackedFolders().filter((folder) => !named.includes(folder))).toEqual([]);
  });

  it('names only folders that exist', () => {
    expect(named.filter((folder) => !existsSync(path.join(REPO, folder)) || !statSync(path.join(REPO, folder)).isDirectory())).toEqual([]);
  });

  it('reads the table it checks', () => {
    expect(named).toContain('functions/steps');
    expect(named.length).toBeGreaterThan(10);
  });
});
