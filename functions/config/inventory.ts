// /etc/ansible/hosts on the installer host: an INI inventory. Only the host lines of one group change.

import { ConfigEditError, InvalidInputError } from '../errors.ts';
import { hostname, ipv4 } from '../validate.ts';

const HEADER = /^\s*\[([^\]]*)\]\s*$/;

interface Section {
  /** Index of the `[group]` line. */
  header: number;
  /** Indexes of the group's host lines, in order. */
  hosts: number[];
}

function isHostLine(line: string): boolean {
  const t = line.trim();
  return t !== '' && !t.startsWith('#') && !t.startsWith(';');
}

function firstToken(line: string): string {
  return line.trim().split(/\s+/)[0] ?? '';
}

function checkGroup(group: string): string {
  if (!/^[A-Za-z0-9_.:-]+$/.test(group)) throw new InvalidInputError('group', `${JSON.stringify(group)} is not an inventory group name`);
  return group;
}

function sections(lines: string[], group: string): Section[] {
  const found: Section[] = [];
  let current: Section | null = null;
  lines.forEach((line, i) => {
    const header = HEADER.exec(line);
    if (header) {
      current = header[1]?.trim() === group ? { header: i, hosts: [] } : null;
      if (current) found.push(current);
    } else if (current && isHostLine(line)) {
      current.hosts.push(i);
    }
  });
  if (found.length === 0) throw new ConfigEditError(`the inventory has no [${group}] group`);
  return found;
}

/** First token of each host line in `[group]` (all sections of that name), comments and blank lines skipped. */
export function getGroupHosts(text: string, group: string): string[] {
  const lines = text.split('\n');
  return sections(lines, checkGroup(group)).flatMap((s) => s.hosts.map((i) => firstToken(lines[i] ?? '')));
}

/**
 * Removes the host lines of `[group]` whose first token is exactly one of `remove`, and adds `add` as the group's
 * last host line when it is not there. Other groups, comments and blank lines are untouched. Idempotent.
 */
export function replaceGroupHost(text: string, group: string, change: { remove: string[]; add: string }): string {
  checkGroup(group);
  const add = /^[0-9.]+$/.test(change.add) ? ipv4('add', change.add) : hostname('add', change.add);
  return replaceGroupLine(text, group, change.remove, add);
}

/** replaceGroupHost for a line the caller has checked (a host, or a child group's name). */
function replaceGroupLine(text: string, group: string, removeHosts: string[], add: string): string {
  const remove = new Set(removeHosts);
  const lines = text.split('\n');
  const found = sections(lines, group);

  const drop = new Set(found.flatMap((s) => s.hosts.filter((i) => remove.has(firstToken(lines[i] ?? '')))));
  const present = found.some((s) => s.hosts.some((i) => !drop.has(i) && firstToken(lines[i] ?? '') === add));
  const last = found[found.length - 1] as Section;
  const insertAfter = last.hosts.length > 0 ? (last.hosts[last.hosts.length - 1] as number) : last.header;
  const cr = (lines[last.header] ?? '').endsWith('\r') ? '\r' : '';

  const out: string[] = [];
  lines.forEach((line, i) => {
    if (!drop.has(i)) out.push(line);
    if (i === insertAfter && !present) out.push(add + cr);
  });
  return out.join('\n');
}

// The Ansible add method (runbook 37.2.1) -------------------------------------------------------

/** The group the scaleup playbook reads the new etcd host from, a child of [OSEv3]. */
export const NEW_ETCD_GROUP = 'new_etcd';
const CHILDREN = 'OSEv3:children';

function hasGroup(lines: string[], group: string): boolean {
  return lines.some((line) => HEADER.exec(line)?.[1]?.trim() === group);
}

function lineEnd(text: string): string {
  return /\r\n/.test(text) ? '\r' : '';
}

/** Adds `host` as the last host line of `[group]`, creating the group after `[after]` (or at the end) when missing. Idempotent. */
function ensureGroupHost(text: string, group: string, host: string, after: string): string {
  const lines = text.split('\n');
  if (hasGroup(lines, group)) return replaceGroupLine(text, group, [], host);
  const cr = lineEnd(text);
  const anchor = hasGroup(lines, after) ? sections(lines, after).at(-1)! : null;
  const at = anchor ? (anchor.hosts.at(-1) ?? anchor.header) + 1 : lines.length - (lines.at(-1) === '' ? 1 : 0);
  const block = ['', `[${group}]${cr}`, host + cr];
  // A blank line before the block; keep the one that followed the anchor group after it.
  const before = lines.slice(0, at);
  const rest = lines.slice(at);
  if (before.length > 0 && (before.at(-1) ?? '').trim() === '') block.shift();
  else block[0] = cr;
  if (rest.length > 0 && (rest[0] ?? '').trim() !== '') block.push(cr);
  return [...before, ...block, ...rest].join('\n');
}

/** Removes every host line of `[group]` whose first token is one of `hosts`; a missing group is left alone. */
function removeGroupHosts(text: string, group: string, hosts: string[]): string {
  const lines = text.split('\n');
  if (!hasGroup(lines, group)) return text;
  const drop = new Set(sections(lines, group).flatMap((s) => s.hosts.filter((i) => hosts.includes(firstToken(lines[i] ?? '')))));
  return lines.filter((_, i) => !drop.has(i)).join('\n');
}

/** Moves the host line of `[group]` whose first token is `host` to the front of the group (its first section). */
function moveHostFirst(text: string, group: string, host: string): string {
  const lines = text.split('\n');
  const found = sections(lines, group);
  const all = found.flatMap((s) => s.hosts);
  const at = all.find((i) => firstToken(lines[i] ?? '') === host);
  const first = all[0];
  if (at === undefined || first === undefined || at === first) return text;
  const moved = lines[at] as string;
  const out = lines.filter((_, i) => i !== at);
  out.splice(first, 0, moved);
  return out.join('\n');
}

export interface ScaleupInventoryChange {
  /** The failed member's host, by every name the inventory may use for it: leaves [etcd] and [new_etcd]. */
  failed: string[];
  /** The new etcd host (its hostname): the one host of [new_etcd]. */
  add: string;
  /** A live member holding /etc/etcd/ca: first in [etcd], where the playbook runs `member add` and signs. */
  first: string;
}

/**
 * The inventory the scaleup playbook needs (runbook 37.2.1 step 1): `new_etcd` under [OSEv3:children],
 * [new_etcd] listing exactly the new host, [etcd] without the failed host and with the CA host first.
 * Every other line stays as it was. Idempotent.
 */
export function prepareScaleupInventory(text: string, change: ScaleupInventoryChange): string {
  const add = hostname('add', change.add);
  let next = ensureGroupHost(text, CHILDREN, NEW_ETCD_GROUP, CHILDREN);
  next = removeGroupHosts(next, 'etcd', [...change.failed, add]);
  const lines = next.split('\n');
  const others = hasGroup(lines, NEW_ETCD_GROUP) ? getGroupHosts(next, NEW_ETCD_GROUP).filter((h) => h !== add) : [];
  next = removeGroupHosts(next, NEW_ETCD_GROUP, [...change.failed, ...others]);
  next = ensureGroupHost(next, NEW_ETCD_GROUP, add, 'etcd');
  return moveHostFirst(next, 'etcd', change.first);
}

/**
 * [etcd] loses `remove` and gains `add` (runbook 37.2.2 step 9), and `add` leaves [new_etcd] where the scaleup
 * playbook took it from (37.2.1 step 3: `new_etcd` may stay under [OSEv3:children] with no hosts). Idempotent.
 */
export function joinEtcdGroup(text: string, change: { remove: string[]; add: string }): string {
  return replaceGroupHost(removeGroupHosts(text, NEW_ETCD_GROUP, [change.add]), 'etcd', change);
}

/**
 * Why the inventory cannot carry the scaleup for `add`, before anything changes: no [OSEv3:children] or
 * [etcd], no host left in [etcd] but the failed one, or the new host also in [new_masters] or [new_nodes]
 * (the playbook refuses that overlap).
 */
export function scaleupInventoryProblems(text: string, change: ScaleupInventoryChange): string[] {
  const lines = text.split('\n');
  const problems: string[] = [];
  for (const group of [CHILDREN, 'etcd']) if (!hasGroup(lines, group)) problems.push(`the inventory has no [${group}] group`);
  if (problems.length > 0) return problems;
  const etcd = getGroupHosts(text, 'etcd').filter((h) => !change.failed.includes(h));
  if (!etcd.includes(change.first)) problems.push(`[etcd] does not list ${change.first}, the live member holding /etc/etcd/ca that must come first`);
  for (const group of ['new_masters', 'new_nodes']) {
    if (hasGroup(lines, group) && getGroupHosts(text, group).includes(change.add)) {
      problems.push(`${change.add} is also in [${group}]: the scaleup playbook refuses a host in new_etcd and ${group}`);
    }
  }
  return problems;
}
