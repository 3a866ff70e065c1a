// Reading and writing the configuration files the workflow edits on hosts (ReadHostFile.sh and
// WriteHostFile.sh): the edit itself is done here, in TypeScript, and written back only when the file
// still has the content that was read. The flanneld and inventory edits are made on the host first
// (lib/hostFile.sh host_file_edit); these serve the forms that edit declines, and every other file.

import type { Host, HostRunner } from '../ports.ts';
import { runScript, runScriptText } from './hostScript.ts';

export interface HostFile {
  sha256: string;
  text: string;
}

/** The file's content and sha256, or null when the file does not exist on that host. */
export async function readHostFile(runner: HostRunner, host: Host, path: string): Promise<HostFile | null> {
  const out = await runScriptText(runner, { host, script: 'ReadHostFile', args: [path] });
  const newline = out.indexOf('\n');
  const first = newline < 0 ? out : out.slice(0, newline);
  if (first === 'absent') return null;
  return { sha256: first, text: newline < 0 ? '' : out.slice(newline + 1) };
}

/**
 * The arguments a step's own script takes to write `text` over the file read as `read` before what it
 * does (ConfigureNewMember.sh, RollMasters.sh, UpdateFlannel.sh: lib/hostFile.sh), in the same host
 * command; none when the text is what was read.
 */
export function writeArgs(read: HostFile, text: string): string[] {
  return text === read.text ? [] : [read.sha256, Buffer.from(text, 'utf8').toString('base64')];
}

/** Writes `text` over the file read as `read`; with `restart`, leaves the restart-pending marker. */
export async function writeHostFile(
  runner: HostRunner,
  host: Host,
  path: string,
  read: HostFile,
  text: string,
  options: { restart?: boolean } = {},
): Promise<boolean> {
  const args = [path, read.sha256, Buffer.from(text, 'utf8').toString('base64'), ...(options.restart ? ['restart'] : [])];
  // Exit 3 (the file changed since it was read) is a refusal, as every script's 3 is.
  const result = await runScript<{ changed: boolean }>(runner, { host, script: 'WriteHostFile', args });
  return result.changed;
}

/** Reads the file, applies `edit`, writes it back when it changed. Returns whether it changed, or null when absent. */
export async function editHostFile(
  runner: HostRunner,
  host: Host,
  path: string,
  edit: (text: string) => string,
  options: { restart?: boolean } = {},
): Promise<boolean | null> {
  const read = await readHostFile(runner, host, path);
  if (!read) return null;
  const next = edit(read.text);
  if (next === read.text) return false;
  return writeHostFile(runner, host, path, read, next, options);
}
