// The flanneld edit made on the host (functions/scripts/lib/etcdEndpoints.sh flanneld_endpoints_edit, run by
// UpdateFlannel.sh in its one command) against the workflow's own (functions/config/flanneld.ts with
// liveEndpointList): over the real OpenShift 3.11 file and its variants, the shell prints the very bytes
// the workflow's edit gives, or declines (exit 3, nothing printed) where the workflow's edit fails or
// where its form is one the shell leaves to the workflow (named below); it never prints other bytes.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hostEdit, type EditOutcome } from '../support/hostEdit.ts';
import { getFlannelEndpoints, setFlannelEndpoints } from '../../functions/config/flanneld.ts';
import { liveEndpointList } from '../../functions/cluster/liveEndpoints.ts';

// The OpenShift 3.11 file as the installer writes it (sandbox/templates: the fixtures of ../shared/fixtures/ocp311).
const REAL = readFileSync(new URL('../../sandbox/templates/flanneld', import.meta.url), 'utf8');

const M = (n: number | string) => `https://master-${n}.example.com:2379`;
const LIVE = ['master-0.example.com', 'master-1.example.com', 'master-3.example.com'];
const KEY_LINE = `FLANNEL_ETCD_ENDPOINTS="${M(0)},${M(1)},${M(2)}"`;

type Outcome = EditOutcome;

/** The workflow's edit: the new text, or declined when it throws. */
function inWorkflow(text: string, live: string[]): Outcome {
  try {
    return { text: setFlannelEndpoints(text, liveEndpointList(getFlannelEndpoints(text), live)) };
  } catch {
    return { declined: true };
  }
}

const edit = hostEdit('etcdEndpoints.sh', 'flanneld_endpoints_edit');
/** The host's edit, run by bash over the text in a file: the bytes printed, or declined (exit 3). */
const onHost = (text: string, live: string[]): Outcome => edit(text, live.join(','));

/** Variants of the real file: the key line replaced by `line` (and the rest as it is). */
const withLine = (line: string) => REAL.replace(KEY_LINE, line);

const SAME: Array<[string, string, string[]]> = [
  ['the real file, the failed member replaced', REAL, LIVE],
  ['the real file, already right', REAL, ['master-0.example.com', 'master-1.example.com', 'master-2.example.com']],
  ['the real file, live members listed in another order', REAL, ['master-3.example.com', 'master-1.example.com', 'master-0.example.com']],
  ['the real file, one member live', REAL, ['master-1.example.com']],
  ['the real file, a live hostname twice', REAL, ['master-3.example.com', 'master-0.example.com', 'master-3.example.com']],
  ['entries in another order', withLine(`FLANNEL_ETCD_ENDPOINTS="${M(2)},${M(1)},${M(0)}"`), LIVE],
  [
    'extra entries: an address, another port, a repeat',
    withLine(`FLANNEL_ETCD_ENDPOINTS="${M(1)},https://198.51.100.7:2379,https://master-0.example.com:4001,${M(0)},${M(1)}"`),
    LIVE,
  ],
  ['an address that is live', withLine('FLANNEL_ETCD_ENDPOINTS="https://198.51.100.7:2379"'), ['198.51.100.7.example.com', 'master-0.example.com']],
  ['already right after the change', withLine(`FLANNEL_ETCD_ENDPOINTS="${M(0)},${M(1)},${M(3)}"`), LIVE],
  ['unquoted', withLine(`FLANNEL_ETCD_ENDPOINTS=${M(0)},${M(2)}`), LIVE],
  ['single quotes', withLine(`FLANNEL_ETCD_ENDPOINTS='${M(0)},${M(2)}'`), LIVE],
  ['indented, spaces around entries, trailing blanks', withLine(`  \tFLANNEL_ETCD_ENDPOINTS=" ${M(0)} ,, ${M(2)}\t"  \t`), LIVE],
  ['an empty value', withLine('FLANNEL_ETCD_ENDPOINTS=""'), LIVE],
  [
    'the key set twice (the last counts, both are set)',
    withLine(`FLANNEL_ETCD_ENDPOINTS=${M(2)}\n#FLANNEL_ETCD_ENDPOINTS=x\n FLANNEL_ETCD_ENDPOINTS='${M(1)}'`),
    LIVE,
  ],
  ['a commented-out line before the active one', withLine(`# FLANNEL_ETCD_ENDPOINTS="${M(2)}"\n${KEY_LINE}`), LIVE],
  ['CRLF line ends', REAL.replaceAll('\n', '\r\n'), LIVE],
  ['CRLF, already right', REAL.replaceAll('\n', '\r\n'), ['master-0.example.com', 'master-1.example.com', 'master-2.example.com']],
  ['no newline at the end', `${REAL.trimEnd()}`, LIVE],
  ['the key on the last line, without newline', `# x\n${KEY_LINE}`, LIVE],
  ['the key on the last line, CR without newline', `# x\r\n${KEY_LINE}\r`, LIVE],
  ['a similar key is no match', `FLANNEL_ETCD_ENDPOINTS_OLD=${M(2)}\nFLANNEL_ETCD_ENDPOINTS=${M(2)}\n`, LIVE],
];

// Where the workflow's edit fails; the shell declines, nothing printed.
const BOTH_DECLINE: Array<[string, string, string[]]> = [
  ['the key absent', REAL.replace(KEY_LINE, ''), LIVE],
  ['the key only commented out', REAL.replace(KEY_LINE, `#${KEY_LINE}`), LIVE],
  ['an empty file', '', LIVE],
  ['an entry over http', withLine(`FLANNEL_ETCD_ENDPOINTS="http://master-0.example.com:2379"`), LIVE],
  ['an entry with a capital letter', withLine(`FLANNEL_ETCD_ENDPOINTS="https://Master-0.example.com:2379"`), LIVE],
  ['an entry on port 0', withLine(`FLANNEL_ETCD_ENDPOINTS="https://master-0.example.com:0"`), LIVE],
  ['an entry on port 65536', withLine(`FLANNEL_ETCD_ENDPOINTS="https://master-0.example.com:65536"`), LIVE],
  ['an entry on port 02379', withLine(`FLANNEL_ETCD_ENDPOINTS="https://master-0.example.com:02379"`), LIVE],
  ['an entry with a path', withLine(`FLANNEL_ETCD_ENDPOINTS="https://master-0.example.com:2379/v2"`), LIVE],
  ['an entry with an address out of range', withLine(`FLANNEL_ETCD_ENDPOINTS="https://198.51.100.256:2379"`), LIVE],
  ['an entry with an all-numeric last label', withLine(`FLANNEL_ETCD_ENDPOINTS="https://master-0.123:2379"`), LIVE],
  ['a comment after the value', withLine(`${KEY_LINE} # three masters`), LIVE],
  ['a live hostname that is none', REAL, ['Master-3.example.com']],
];

// Forms the workflow edits and the shell leaves to it (UpdateFlannel then reads and edits the file itself).
const SHELL_DECLINES: Array<[string, string, string[]]> = [
  ['an entry with a trailing slash', withLine(`FLANNEL_ETCD_ENDPOINTS="${M(0)}/,${M(2)}"`), LIVE],
  ['a byte-order mark', `\ufeff${REAL}`, LIVE],
  ['a non-ASCII comment', `# flanneld — etcd\n${REAL}`, LIVE],
  ['a carriage return inside a line', `# a\rb\n${REAL}`, LIVE],
  ['a form feed', `\f\n${REAL}`, LIVE],
];

describe('flanneld_endpoints_edit (lib/etcdEndpoints.sh) against setFlannelEndpoints with liveEndpointList', () => {
  it.each(SAME)('%s: the same bytes', (_name, text, live) => {
    const expected = inWorkflow(text, live);
    expect(expected).toHaveProperty('text');
    expect(onHost(text, live)).toEqual(expected);
  });

  it.each(BOTH_DECLINE)('%s: the workflow fails, the shell declines', (_name, text, live) => {
    expect(inWorkflow(text, live)).toEqual({ declined: true });
    expect(onHost(text, live)).toEqual({ declined: true });
  });

  it.each(SHELL_DECLINES)('%s: left to the workflow, which edits it', (_name, text, live) => {
    expect(inWorkflow(text, live)).toHaveProperty('text');
    expect(onHost(text, live)).toEqual({ declined: true });
  });

  it('over lists drawn from a pool of entries, quotes, line ends and live sets: the same bytes every time', () => {
    // A small deterministic generator (no seed to keep): every combination class is drawn many times.
    let state = 20261207;
    const pick = <T>(items: readonly T[]): T => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return items[state % items.length]!;
    };
    const entries = [M(0), M(1), M(2), M(3), M(4), 'https://master-0.example.com:4001', 'https://198.51.100.7:2379', ' https://master-2.example.com:2379 ', ''];
    const hostnames = ['master-0.example.com', 'master-1.example.com', 'master-2.example.com', 'master-3.example.com', 'etcd-0.example.com'];
    for (let i = 0; i < 120; i++) {
      const list = Array.from({ length: 1 + (i % 5) }, () => pick(entries)).join(',');
      const quote = pick(['"', "'", '']);
      const value = quote === '' ? list.replaceAll(' ', '') : list;
      let text = withLine(`${pick(['', '  '])}FLANNEL_ETCD_ENDPOINTS=${quote}${value}${quote}${pick(['', ' '])}`);
      if (pick([true, false])) text = text.replaceAll('\n', '\r\n');
      if (pick([true, false, false])) text = text.trimEnd();
      const live = Array.from({ length: 1 + (i % 3) }, () => pick(hostnames));
      const expected = inWorkflow(text, live);
      expect(expected).toHaveProperty('text');
      expect(onHost(text, live), `${JSON.stringify(text.split('\n')[3])} live ${live.join(',')}`).toEqual(expected);
    }
  });
});
