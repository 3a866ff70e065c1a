// /etc/etcd/etcd.conf: shell-style KEY=value lines (sourced by sh in the static pod, read by systemd's
// EnvironmentFile for the RPM etcd). Edits replace values in place and leave every other byte alone.

import { ConfigEditError, InvalidInputError } from '../errors.ts';
import { hostname, ipv4, parseEtcdUrl } from '../validate.ts';

const ACTIVE = /^(\s*)([A-Za-z_][A-Za-z0-9_]*)=(.*)$/;
const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Characters that sh and systemd read differently, or that would end a quoted value: never written.
const UNWRITABLE = /["'`$\\\u0000-\u001f\u007f]/;
// Characters a value may hold unquoted.
const BARE = /^[A-Za-z0-9._/:,=@%+-]*$/;

type Quote = '"' | "'" | '';

interface Line {
  text: string;
  /** `\r` when the line ended CRLF, else empty. */
  cr: string;
}

function splitLines(text: string): { lines: Line[]; finalNewline: boolean } {
  if (text === '') return { lines: [], finalNewline: true };
  const finalNewline = text.endsWith('\n');
  const raw = text.split('\n');
  if (finalNewline) raw.pop();
  const lines = raw.map((line) => (line.endsWith('\r') ? { text: line.slice(0, -1), cr: '\r' } : { text: line, cr: '' }));
  return { lines, finalNewline };
}

function joinLines(lines: Line[], finalNewline: boolean): string {
  const body = lines.map((l) => l.text + l.cr).join('\n');
  return finalNewline && lines.length > 0 ? `${body}\n` : body;
}

function quoteOf(raw: string): Quote {
  if (raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"')) return '"';
  if (raw.length >= 2 && raw.startsWith("'") && raw.endsWith("'")) return "'";
  return '';
}

function unquote(raw: string): string {
  return quoteOf(raw) === '' ? raw : raw.slice(1, -1);
}

function render(key: string, value: string, quote: Quote): string {
  if (UNWRITABLE.test(value)) {
    throw new ConfigEditError(`cannot write ${key}: its value holds a quote, $, backslash, backtick or control character`);
  }
  const q = quote === '' && !BARE.test(value) ? '"' : quote;
  return `${q}${value}${q}`;
}

/** The active (uncommented) KEY=value assignments, surrounding quotes stripped; a repeated key keeps its last value. */
export function readEtcdConf(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const { text: line } of splitLines(text).lines) {
    const match = ACTIVE.exec(line);
    if (match) values.set(match[2] ?? '', unquote((match[3] ?? '').trimEnd()));
  }
  return values;
}

/**
 * Sets each key's value in place on its active line(s), keeping the line's quoting; a key with no active line goes
 * right after its commented-out `#KEY=` line, else at the end. Every other line is kept byte for byte.
 */
export function setEtcdConfKeys(text: string, updates: Record<string, string>): string {
  const { lines, finalNewline } = splitLines(text);
  const eol = lines[0]?.cr ?? '';
  for (const [key, value] of Object.entries(updates)) {
    if (!KEY.test(key)) throw new ConfigEditError(`cannot write key ${JSON.stringify(key)}: not a shell variable name`);
    let found = false;
    for (const line of lines) {
      const match = ACTIVE.exec(line.text);
      if (!match || match[2] !== key) continue;
      const [, indent = '', , raw = ''] = match;
      line.text = `${indent}${key}=${render(key, value, quoteOf(raw.trimEnd()))}`;
      found = true;
    }
    if (found) continue;
    const added: Line = { text: `${key}=${render(key, value, '')}`, cr: eol };
    const commented = lines.findIndex((l) => new RegExp(`^\\s*#\\s*${key}=`).test(l.text));
    if (commented >= 0) lines.splice(commented + 1, 0, added);
    else lines.push(added);
  }
  return joinLines(lines, finalNewline);
}

/** A member of ETCD_INITIAL_CLUSTER. */
export interface InitialClusterMember {
  name: string;
  peerURL: string;
}

/** `name=https://ip:2380,...` from the members, each name and URL validated, names unique. */
export function initialClusterString(members: InitialClusterMember[]): string {
  if (members.length === 0) throw new InvalidInputError('initialCluster', 'needs at least one member');
  const names = new Set<string>();
  return members
    .map((m, i) => {
      const name = hostname(`initialCluster[${i}].name`, m.name);
      if (names.has(name)) throw new InvalidInputError('initialCluster', `member name ${name} appears twice`);
      names.add(name);
      return `${name}=${parseEtcdUrl(`initialCluster[${i}].peerURL`, m.peerURL).url}`;
    })
    .join(',');
}

/** Splits ETCD_INITIAL_CLUSTER into members; throws InvalidInputError on a malformed pair, name or URL. */
export function parseInitialCluster(value: string): InitialClusterMember[] {
  if (value === '') throw new InvalidInputError('initialCluster', 'is empty');
  return value.split(',').map((pair, i) => {
    const at = pair.indexOf('=');
    if (at < 0) throw new InvalidInputError('initialCluster', `entry ${i + 1} ${JSON.stringify(pair)} is not name=url`);
    return {
      name: hostname(`initialCluster[${i}].name`, pair.slice(0, at)),
      peerURL: parseEtcdUrl(`initialCluster[${i}].peerURL`, pair.slice(at + 1)).url,
    };
  });
}

/** The new member's etcd.conf from a surviving member's: its name, addresses, the cluster to join, state `existing`. */
export function newMemberEtcdConf(template: string, m: { name: string; ip: string; initialCluster: string }): string {
  const name = hostname('name', m.name);
  const ip = ipv4('ip', m.ip);
  const initialCluster = initialClusterString(parseInitialCluster(m.initialCluster));
  return setEtcdConfKeys(template, {
    ETCD_NAME: name,
    ETCD_INITIAL_CLUSTER: initialCluster,
    ETCD_INITIAL_CLUSTER_STATE: 'existing',
    ETCD_LISTEN_PEER_URLS: `https://${ip}:2380`,
    ETCD_LISTEN_CLIENT_URLS: `https://${ip}:2379`,
    ETCD_INITIAL_ADVERTISE_PEER_URLS: `https://${ip}:2380`,
    ETCD_ADVERTISE_CLIENT_URLS: `https://${ip}:2379`,
  });
}

const URL_KEYS: ReadonlyArray<[string, number]> = [
  ['ETCD_LISTEN_PEER_URLS', 2380],
  ['ETCD_LISTEN_CLIENT_URLS', 2379],
  ['ETCD_INITIAL_ADVERTISE_PEER_URLS', 2380],
  ['ETCD_ADVERTISE_CLIENT_URLS', 2379],
];

const TLS_FILE_KEYS = ['ETCD_TRUSTED_CA_FILE', 'ETCD_CERT_FILE', 'ETCD_KEY_FILE', 'ETCD_PEER_TRUSTED_CA_FILE', 'ETCD_PEER_CERT_FILE', 'ETCD_PEER_KEY_FILE'];

const REQUIRED_KEYS = ['ETCD_NAME', 'ETCD_DATA_DIR', ...URL_KEYS.map(([k]) => k), 'ETCD_INITIAL_CLUSTER', 'ETCD_INITIAL_CLUSTER_STATE', ...TLS_FILE_KEYS];

const LOOPBACK = /:\/\/(?:localhost|127\.[0-9.]*|\[::1\]|0\.0\.0\.0)(?:[:/]|$)/i;

function syntaxProblem(line: string): string | null {
  const match = /^(ETCD_[A-Z0-9_]+)=(.*)$/.exec(line);
  if (!match) return 'is not ETCD_<KEY>=<value>';
  const raw = match[2] ?? '';
  const quote = quoteOf(raw);
  const inner = quote === '' ? raw : raw.slice(1, -1);
  if (quote === '' && !BARE.test(inner)) return 'has an unquoted value with spaces, quotes or shell characters';
  if (quote !== '' && /["'`$\\]/.test(inner)) return 'has a quoted value with quotes, $, backslash or backtick inside';
  return null;
}

/** Problems of a new member's etcd.conf (empty = good): syntax, required keys, its addresses, the cluster to join. */
export function checkEtcdConf(text: string, expected: { name: string; ip: string }): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  splitLines(text).lines.forEach(({ text: line }, i) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const problem = syntaxProblem(line);
    if (problem) {
      problems.push(`line ${i + 1}: ${JSON.stringify(line.slice(0, 80))} ${problem}`);
      return;
    }
    const key = line.slice(0, line.indexOf('='));
    if (seen.has(key)) problems.push(`line ${i + 1}: ${key} is set more than once`);
    seen.add(key);
  });

  const conf = readEtcdConf(text);
  for (const key of REQUIRED_KEYS) {
    if (!conf.get(key)) problems.push(`${key} is missing or empty`);
  }
  for (const key of TLS_FILE_KEYS) {
    const value = conf.get(key);
    if (value && !value.startsWith('/')) problems.push(`${key}=${value} is not an absolute path`);
  }

  const name = conf.get('ETCD_NAME');
  if (name && name !== expected.name) problems.push(`ETCD_NAME is ${name}, expected ${expected.name}`);

  for (const [key, port] of URL_KEYS) {
    const value = conf.get(key);
    if (!value) continue;
    const want = `https://${expected.ip}:${port}`;
    if (value !== want) problems.push(`${key} is ${value}, expected ${want}`);
  }

  const cluster = conf.get('ETCD_INITIAL_CLUSTER');
  if (cluster) {
    const self = `${expected.name}=https://${expected.ip}:2380`;
    const pairs = cluster.split(',');
    if (!pairs.includes(self)) problems.push(`ETCD_INITIAL_CLUSTER does not contain ${self}`);
    const names = new Set<string>();
    pairs.forEach((pair, i) => {
      const at = pair.indexOf('=');
      if (at <= 0) {
        problems.push(`ETCD_INITIAL_CLUSTER entry ${i + 1} ${JSON.stringify(pair)} is not name=https://host:port`);
        return;
      }
      const memberName = pair.slice(0, at);
      try {
        parseEtcdUrl('url', pair.slice(at + 1));
      } catch {
        problems.push(`ETCD_INITIAL_CLUSTER entry ${i + 1} ${JSON.stringify(pair)} is not name=https://host:port`);
      }
      if (names.has(memberName)) problems.push(`ETCD_INITIAL_CLUSTER names ${memberName} more than once`);
      names.add(memberName);
    });
  }

  const state = conf.get('ETCD_INITIAL_CLUSTER_STATE');
  if (state && state !== 'existing') problems.push(`ETCD_INITIAL_CLUSTER_STATE is ${state}, expected existing`);

  for (const [key, value] of conf) {
    if (LOOPBACK.test(value)) problems.push(`${key} points at a loopback or wildcard address: ${value}`);
  }
  return problems;
}
