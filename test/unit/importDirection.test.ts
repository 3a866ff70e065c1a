// The folders depend on each other one way: the steps, ports and adapters under functions/ know
// nothing of the sandbox (sandbox/ implements functions/' ports in sandbox/adapters/, not the other
// way round), and the rehearsal (rehearsal/, `npm run rehearse:aws`) is a product that no test code
// is part of. Each source file's import specifiers are read and resolved against its folder.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SOURCE = /\.(ts|mts|cts|js|mjs|cjs)$/;

/** Every import specifier of a source text: static and type imports, re-exports, import(), require(). */
export function importSpecifiers(text: string): string[] {
  const patterns = [
    /\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  return patterns.flatMap((p) => [...text.matchAll(p)].map((m) => m[1]!));
}

function sourcesUnder(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && SOURCE.test(e.name))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)));
}

/** `file:specifier` for each relative import of a file under `from` that lands under `to`. */
function importsInto(from: string, to: string): string[] {
  const target = path.join(ROOT, to) + path.sep;
  return sourcesUnder(from).flatMap((file) =>
    importSpecifiers(readFileSync(path.join(ROOT, file), 'utf8'))
      .filter((s) => s.startsWith('.') && path.resolve(ROOT, path.dirname(file), s).startsWith(target))
      .map((s) => `${file}: ${s}`),
  );
}

describe('import direction', () => {
  it('reads every kind of import specifier', () => {
    const text = [
      "import { a } from '../../sandbox/index.ts';",
      "import type {\n  B,\n} from '../sandbox/model.ts';",
      "export { c } from './c.ts';",
      "import './side.ts';",
      "const d = await import('../d.ts');",
      "const e = require('node:fs');",
    ].join('\n');
    expect(importSpecifiers(text)).toEqual(['../../sandbox/index.ts', '../sandbox/model.ts', './c.ts', './side.ts', '../d.ts', 'node:fs']);
  });

  it('no file under functions/ imports from sandbox/', () => {
    expect(sourcesUnder('functions').length).toBeGreaterThan(20);
    expect(importsInto('functions', 'sandbox')).toEqual([]);
  });

  it('the rehearsal and the scripts import no test code', () => {
    expect(sourcesUnder('rehearsal').length).toBeGreaterThan(5);
    expect([...importsInto('rehearsal', 'test'), ...importsInto('scripts', 'test')]).toEqual([]);
  });
});
