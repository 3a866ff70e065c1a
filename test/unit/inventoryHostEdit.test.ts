// UpdateInventory's edit made on the installer host (functions/scripts/lib/inventoryEdit.sh
// inventory_join_etcd_edit, run by WriteHostFile.sh join-etcd-group in one command) against the workflow's
// own (functions/config/inventory.ts joinEtcdGroup): over the real OpenShift 3.11 inventory and its
// variants, the shell prints the very bytes the workflow's edit gives, or declines (exit 3, nothing
// printed) where the workflow's edit fails or where its form is one the shell leaves to the workflow.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hostEdit, type EditOutcome } from '../support/hostEdit.ts';
import { joinEtcdGroup } from '../../functions/config/inventory.ts';

// The OpenShift 3.11 inventory as the installer host holds it (sandbox/templates: the fixtures of ../shared/fixtures/ocp311).
const REAL = readFileSync(new URL('../../sandbox/templates/hosts.ini', import.meta.url), 'utf8');

const NEW = 'etcd-spare-0.example.com';
const FAILED = 'master-2.example.com';
const ETCD = '[etcd]\nmaster-0.example.com\nmaster-1.example.com\nmaster-2.example.com\n';

type Outcome = EditOutcome;

function inWorkflow(text: string, add: string, failed?: string): Outcome {
  try {
    return { text: joinEtcdGroup(text, { remove: failed ? [failed] : [], add }) };
  } catch {
    return { declined: true };
  }
}

const edit = hostEdit('inventoryEdit.sh', 'inventory_join_etcd_edit');
/** The host's edit, run by bash over the text in a file: the bytes printed, or declined (exit 3). */
const onHost = (text: string, add: string, failed?: string): Outcome => edit(text, [add, ...(failed ? [failed] : [])].join(','));

const withEtcd = (group: string) => REAL.replace(ETCD, group);

const SAME: Array<[string, string, string, string | undefined]> = [
  ['the real inventory, the failed host replaced', REAL, NEW, FAILED],
  ['the real inventory, no failed host named', REAL, NEW, undefined],
  ['already done', withEtcd(`[etcd]\nmaster-0.example.com\nmaster-1.example.com\n${NEW}\n`), NEW, FAILED],
  ['the new host already listed, the failed one still there', withEtcd(`[etcd]\n${NEW}\nmaster-0.example.com\nmaster-2.example.com\n`), NEW, FAILED],
  [
    'host lines with variables, comments and blank lines',
    withEtcd(`[etcd]\n# members\nmaster-0.example.com etcd_ip=198.51.100.10\n\n  master-2.example.com  etcd_ip=198.51.100.12\n; end\n`),
    NEW,
    FAILED,
  ],
  [
    'the failed host as the last line of the file, no newline',
    REAL.replace(ETCD, '').trimEnd() + '\n\n[etcd]\nmaster-0.example.com\nmaster-2.example.com',
    NEW,
    FAILED,
  ],
  ['an empty [etcd] group at the end, no newline', `${REAL.replace(ETCD, '').trimEnd()}\n[etcd]`, NEW, FAILED],
  ['a header with blanks around the name', withEtcd(`  [ etcd ]  \nmaster-0.example.com\nmaster-2.example.com\n`), NEW, FAILED],
  [
    'two [etcd] sections: the new host goes to the last',
    withEtcd(`[etcd]\nmaster-0.example.com\nmaster-2.example.com\n\n[etcd]\nmaster-1.example.com\n`),
    NEW,
    FAILED,
  ],
  ['the last [etcd] section empty', withEtcd(`[etcd]\nmaster-0.example.com\n[etcd]\n`), NEW, FAILED],
  [
    'after the scaleup playbook: [new_etcd] lists the new host',
    `${REAL.replace('[OSEv3:children]\nmasters\n', '[OSEv3:children]\nmasters\nnew_etcd\n')}\n[new_etcd]\n${NEW}\nother.example.com\n`,
    NEW,
    FAILED,
  ],
  ['[new_etcd] without the new host', `${REAL}\n[new_etcd]\nother.example.com\n`, NEW, FAILED],
  ['CRLF line ends', REAL.replaceAll('\n', '\r\n'), NEW, FAILED],
  ['CRLF, the header LF only', REAL.replaceAll('\n', '\r\n').replace('[etcd]\r\n', '[etcd]\n'), NEW, FAILED],
  ['CRLF and no newline at the end', `${REAL.replace(ETCD, '').trimEnd()}\n[etcd]\nmaster-2.example.com`.replaceAll('\n', '\r\n') + '\r', NEW, FAILED],
  ['a similar name is no match', withEtcd(`[etcd]\nmaster-2.example.com.old\nmaster-2.example.comx\n[etcd:vars]\n${FAILED}\n`), NEW, FAILED],
  ['the new host as an address', REAL, '198.51.100.30', FAILED],
  ['the new host is the failed host', REAL, FAILED, FAILED],
  ['a [] header and a header with a bracket inside', withEtcd(`[]\nx\n[a]b]\n${ETCD}`), NEW, FAILED],
];

const BOTH_DECLINE: Array<[string, string, string, string | undefined]> = [
  ['no [etcd] group', REAL.replace(ETCD, ''), NEW, FAILED],
  ['[etcd] only commented out', REAL.replace('[etcd]', '#[etcd]'), NEW, FAILED],
  ['an empty file', '', NEW, FAILED],
];

const SHELL_DECLINES: Array<[string, string, string, string | undefined]> = [
  ['a non-ASCII comment', `# inventaire — etcd\n${REAL}`, NEW, FAILED],
  ['a carriage return inside a line', `# a\rb\n${REAL}`, NEW, FAILED],
  ['a vertical tab', `\v\n${REAL}`, NEW, FAILED],
];

describe('inventory_join_etcd_edit (lib/inventoryEdit.sh) against joinEtcdGroup', () => {
  it.each(SAME)('%s: the same bytes', (_name, text, add, failed) => {
    const expected = inWorkflow(text, add, failed);
    expect(expected).toHaveProperty('text');
    expect(onHost(text, add, failed)).toEqual(expected);
  });

  it.each(BOTH_DECLINE)('%s: the workflow fails, the shell declines', (_name, text, add, failed) => {
    expect(inWorkflow(text, add, failed)).toEqual({ declined: true });
    expect(onHost(text, add, failed)).toEqual({ declined: true });
  });

  it.each(SHELL_DECLINES)('%s: left to the workflow, which edits it', (_name, text, add, failed) => {
    expect(inWorkflow(text, add, failed)).toHaveProperty('text');
    expect(onHost(text, add, failed)).toEqual({ declined: true });
  });
});
