// The text of a host script as it is sent to a host: functions/scripts/<name>.sh with each of its
// `source "$(dirname "${BASH_SOURCE[0]}")/lib/<lib>.sh"` lines replaced by that file. Run as
// `bash -c "$text"` (SSM and the sandbox alike), a script has no directory to source from, so what it
// shares with other scripts travels inside it. The files stay sourceable for shellcheck and by hand.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidInputError } from '../errors.ts';

export const SCRIPT_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,79}$/;
const SOURCE_LINE = /^source "\$\(dirname "\$\{BASH_SOURCE\[0\]\}"\)\/lib\/([A-Za-z][A-Za-z0-9_-]*)\.sh"$/gm;

/** Reads `<dir>/<name>.sh` with its lib files inlined (names checked: nothing outside `dir` is read). */
export function readScriptText(dir: string, name: string): string {
  if (!SCRIPT_NAME.test(name)) throw new InvalidInputError('script', `${JSON.stringify(name)} is not a script name`);
  const text = readFileSync(join(dir, `${name}.sh`), 'utf8');
  return text.replace(SOURCE_LINE, (_line, lib: string) => {
    const body = readFileSync(join(dir, 'lib', `${lib}.sh`), 'utf8');
    return `# --- lib/${lib}.sh ---\n${body.replace(/^# shellcheck shell=bash\n/, '')}# --- end of lib/${lib}.sh ---`;
  });
}
