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
  const remove = new Set(change.remove);
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
