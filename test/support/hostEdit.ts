// The differential tests of the edits made on a host (functions/scripts/lib/etcdEndpoints.sh,
// lib/inventoryEdit.sh) run each edit by bash over a file here, with lib/hostFile.sh sourced before it,
// and compare its bytes with the workflow's own edit.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';

/** What an edit gave: the new text, or declined (the workflow's edit threw; the host's exited 3). */
export type EditOutcome = { text: string } | { declined: true };

const HOST_FILE_LIB = new URL('../../functions/scripts/lib/hostFile.sh', import.meta.url).pathname;

/**
 * A runner of `edit` (a function of functions/scripts/lib/<lib>) over a text in a scratch file, called
 * as `edit FILE ARG`: the bytes it printed, or declined when it exits 3 (having printed nothing). Any
 * other exit, or anything on stderr, fails the test. The scratch directory goes with the file's tests.
 */
export function hostEdit(lib: string, edit: string): (text: string, arg: string) => EditOutcome {
  const libPath = new URL(`../../functions/scripts/lib/${lib}`, import.meta.url).pathname;
  const dir = mkdtempSync(join(tmpdir(), `${edit}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  return (text, arg) => {
    const file = join(dir, `f${n++}`);
    writeFileSync(file, text, 'utf8');
    const script = `set -o errexit -o nounset -o pipefail; source "$1"; source "$2"; ${edit} "$3" "$4"`;
    const run = spawnSync('bash', ['-c', script, 'edit', HOST_FILE_LIB, libPath, file, arg], { encoding: 'buffer' });
    if (run.status === 3) {
      expect(run.stdout.length).toBe(0);
      return { declined: true };
    }
    expect({ status: run.status, stderr: run.stderr.toString() }).toEqual({ status: 0, stderr: '' });
    return { text: run.stdout.toString('utf8') };
  };
}
