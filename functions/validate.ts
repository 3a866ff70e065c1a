// Input validation. Every value that reaches a shell, a config file or an AWS name goes through one of
// these first. Each returns the value (typed, normalised) or throws InvalidInputError naming the field.
// Inputs are `unknown` so Lambda events and CLI arguments can be passed as they come.

import { InvalidInputError } from './errors.ts';

const MAX_SHOWN = 60;

/** A short, escaped rendering of a rejected value for error messages (no raw control characters). */
function shown(value: unknown): string {
  if (typeof value !== 'string') return typeof value;
  const cut = value.length > MAX_SHOWN ? `${value.slice(0, MAX_SHOWN)}...` : value;
  const escaped = JSON.stringify(cut).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return value.length > MAX_SHOWN ? `${escaped} (${value.length} characters)` : escaped;
}

function requireString(field: string, value: unknown): string {
  if (typeof value !== 'string') throw new InvalidInputError(field, `expected a string, got ${value === null ? 'null' : typeof value}`);
  if (value === '') throw new InvalidInputError(field, 'must not be empty');
  return value;
}

function matching(field: string, value: unknown, pattern: RegExp, what: string): string {
  const text = requireString(field, value);
  assertNoControlChars(field, text);
  if (!pattern.test(text)) throw new InvalidInputError(field, `${shown(text)} is not ${what}`);
  return text;
}

// C0 and C1 controls, DEL, and the Unicode line/paragraph separators.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Throws InvalidInputError if the string holds a control character (NUL, newline, escape, DEL, …). */
export function assertNoControlChars(field: string, value: string): void {
  if (CONTROL.test(value)) throw new InvalidInputError(field, `${shown(value)} contains a control character`);
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** RFC 1123 hostname (FQDN or short name), lowercase, no trailing dot, no label starting or ending with `-`. */
export function hostname(field: string, value: unknown): string {
  const text = requireString(field, value);
  assertNoControlChars(field, text);
  if (text.length > 253) throw new InvalidInputError(field, `${shown(text)} is longer than 253 characters`);
  if (!/^[a-z0-9.-]+$/.test(text)) {
    throw new InvalidInputError(field, `${shown(text)} may hold only lowercase letters, digits, hyphens and dots`);
  }
  if (text.endsWith('.')) throw new InvalidInputError(field, `${shown(text)} must not end with a dot`);
  const labels = text.split('.');
  for (const label of labels) {
    if (label === '') throw new InvalidInputError(field, `${shown(text)} has an empty label`);
    if (label.length > 63) throw new InvalidInputError(field, `${shown(text)} has a label longer than 63 characters`);
    if (!LABEL.test(label)) throw new InvalidInputError(field, `${shown(text)} has a label starting or ending with a hyphen`);
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? '')) {
    throw new InvalidInputError(field, `${shown(text)} ends in an all-numeric label (an address is not a hostname)`);
  }
  return text;
}

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);

/** Dotted-quad IPv4 address, each part 0–255, no leading zeros. */
export function ipv4(field: string, value: unknown): string {
  return matching(field, value, IPV4, 'an IPv4 address (four numbers 0-255 without leading zeros)');
}

/** etcd member id in hex (1–16 digits, any case), normalised to 16 lowercase digits. Id 0 is rejected. */
export function memberId(field: string, value: unknown): string {
  const text = matching(field, value, /^[0-9a-fA-F]{1,16}$/, 'an etcd member id (1 to 16 hex digits)');
  const id = text.toLowerCase().padStart(16, '0');
  if (/^0+$/.test(id)) throw new InvalidInputError(field, 'member id 0 is not a valid etcd member id');
  return id;
}

const MAX_UINT64 = (1n << 64n) - 1n;

/** etcd member id as the etcd3 client returns it (decimal string of a uint64), as 16 lowercase hex digits. */
export function memberIdFromDecimal(value: unknown, field = 'memberId'): string {
  const text = matching(field, value, /^(?:0|[1-9][0-9]{0,19})$/, 'an etcd member id in decimal');
  const id = BigInt(text);
  if (id === 0n) throw new InvalidInputError(field, 'member id 0 is not a valid etcd member id');
  if (id > MAX_UINT64) throw new InvalidInputError(field, `${shown(text)} does not fit in 64 bits`);
  return id.toString(16).padStart(16, '0');
}

/** EC2 instance id: `i-` and 8 or 17 lowercase hex digits. */
export function instanceId(field: string, value: unknown): string {
  return matching(field, value, /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/, 'an EC2 instance id (i- and 8 or 17 hex digits)');
}

/** An etcd release: MAJOR.MINOR.PATCH, e.g. 3.2.22. */
export function etcdVersion(field: string, value: unknown): string {
  return matching(field, value, /^\d{1,3}\.\d{1,3}\.\d{1,3}$/, 'an etcd version such as 3.2.22');
}

/** Short host name of the inventory or sandbox, e.g. `master-0`, `etcd-spare-0`. */
export function hostName(field: string, value: unknown): string {
  return matching(field, value, /^[a-z][a-z0-9-]{0,62}$/, 'a host name (a lowercase letter, then up to 62 of a-z 0-9 -)');
}

/** Sandbox name: short, so bridge and namespace names built from it stay within Linux limits. */
export function sandboxName(field: string, value: unknown): string {
  return matching(field, value, /^[a-z][a-z0-9-]{0,15}$/, 'a sandbox name (a lowercase letter, then up to 15 of a-z 0-9 -)');
}

/** Cluster name as tagged on EC2. */
export function clusterName(field: string, value: unknown): string {
  return matching(field, value, /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a cluster name (a letter or digit, then up to 63 of A-Z a-z 0-9 . _ -)');
}

/** Run id; also a valid Step Functions execution name. */
export function runId(field: string, value: unknown): string {
  return matching(field, value, /^[a-z0-9][a-z0-9-]{5,79}$/, 'a run id (6 to 80 of a-z 0-9 -, not starting with -)');
}

/** Who or what started a run, as its record keeps it (the workflow's ValidateInput allows the same). */
export function startedBy(field: string, value: unknown): string {
  return matching(field, value, /^[A-Za-z0-9:@._/-]{1,128}$/, 'who started the run: 1-128 characters of letters, digits and :@._/-');
}

/** Absolute path of plain characters: no `..` segment, no `//`. */
export function absolutePath(field: string, value: unknown): string {
  const text = matching(field, value, /^\/[A-Za-z0-9._/-]*$/, 'an absolute path of A-Z a-z 0-9 . _ / - characters');
  if (text.length > 4096) throw new InvalidInputError(field, `${shown(text)} is longer than 4096 characters`);
  if (text.includes('//')) throw new InvalidInputError(field, `${shown(text)} contains "//"`);
  if (text.split('/').includes('..')) throw new InvalidInputError(field, `${shown(text)} contains a ".." segment`);
  return text;
}

/** Artifact store key: relative, A-Z a-z 0-9 . _ / - only, no `..`, no `//`, not starting with `-`. */
export function artifactKey(field: string, value: unknown): string {
  const text = matching(field, value, /^[A-Za-z0-9._/-]+$/, 'an artifact key of A-Z a-z 0-9 . _ / - characters');
  if (text.length > 1024) throw new InvalidInputError(field, `${shown(text)} is longer than 1024 characters`);
  if (text.startsWith('/')) throw new InvalidInputError(field, `${shown(text)} must not start with "/"`);
  if (text.startsWith('-')) throw new InvalidInputError(field, `${shown(text)} must not start with "-"`);
  if (text.includes('..')) throw new InvalidInputError(field, `${shown(text)} contains ".."`);
  if (text.includes('//')) throw new InvalidInputError(field, `${shown(text)} contains "//"`);
  return text;
}

/** Parsed `https://host:port` of etcd; `host` is a hostname or an IPv4 address. */
export interface EtcdUrlParts {
  host: string;
  port: number;
  url: string;
}

/** Splits and validates an etcd URL: `https://<hostname or ipv4>:<port>`, nothing else (one trailing `/` tolerated). */
export function parseEtcdUrl(field: string, value: unknown): EtcdUrlParts {
  const text = requireString(field, value);
  assertNoControlChars(field, text);
  const match = /^https:\/\/([^/:?#@\s[\]]+):([0-9]{1,5})\/?$/.exec(text);
  if (!match) throw new InvalidInputError(field, `${shown(text)} is not https://<host>:<port> (no path, query or user)`);
  const [, rawHost = '', rawPort = ''] = match;
  const host = /^[0-9.]+$/.test(rawHost) ? ipv4(field, rawHost) : hostname(field, rawHost);
  if (!/^[1-9][0-9]*$/.test(rawPort) || Number(rawPort) > 65535) {
    throw new InvalidInputError(field, `${shown(text)} has a port outside 1-65535 (or with leading zeros)`);
  }
  const port = Number(rawPort);
  return { host, port, url: `https://${host}:${port}` };
}

/** `https://<hostname or ipv4>:<port 1-65535>` exactly; returns it without a trailing slash. */
export function etcdUrl(field: string, value: unknown): string {
  return parseEtcdUrl(field, value).url;
}

/** A whole number given as a decimal string (CLI) or a safe integer, within [min, max] (default [1, MAX_SAFE_INTEGER]). */
export function positiveInt(field: string, value: unknown, options: { min?: number; max?: number } = {}): number {
  const { min = 1, max = Number.MAX_SAFE_INTEGER } = options;
  let n: number;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new InvalidInputError(field, `${value} is not a whole number`);
    n = value;
  } else {
    const text = matching(field, value, /^(?:0|[1-9][0-9]{0,15})$/, 'a whole number (decimal digits only)');
    n = Number(text);
    if (!Number.isSafeInteger(n)) throw new InvalidInputError(field, `${shown(text)} is too large`);
  }
  if (n < min || n > max) throw new InvalidInputError(field, `${n} is outside ${min}-${max}`);
  return n;
}

/** POSIX single-quoted shell word: `it's` → `'it'\''s'`. Refuses NUL, which no shell argument can hold. */
export function shellQuote(value: string): string {
  if (value.includes('\u0000')) throw new InvalidInputError('shell argument', 'contains a NUL character');
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** `set -- 'a' 'b'`: the line that gives a script its positional parameters when sent as text (SSM). */
export function shellSetArgs(args: readonly string[]): string {
  return ['set', '--', ...args.map(shellQuote)].join(' ');
}
