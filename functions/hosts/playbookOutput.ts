// What the workflow reads of an ansible-playbook run: the PLAY RECAP, and the task, host and message of
// the first failure (RunScaleupPlaybook.sh prints these lines of the output; the whole output is in the
// artifact store).

import type { RecapCounts } from '../../statemachine/context.ts';

export interface PlaybookDigest {
  recap: Record<string, RecapCounts>;
  failedTask?: string;
  failedHost?: string;
  /** The failure's message (Ansible's `msg`, or its ERROR! line), shortened. */
  failure?: string;
  /** Masters the job left out of every play because Ansible could not reach them (RunScaleupPlaybook.sh). */
  leftOut: string[];
}

const RECAP = /^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)(?:\s+skipped=(\d+))?(?:\s+rescued=(\d+))?(?:\s+ignored=(\d+))?/;
const FAILURE = /^(?:fatal|failed): \[([^\]]+)\](?:: [A-Z!]+)?(?:[^=]*=> )?(.*)$/;

function message(raw: string): string {
  const text = raw.trim();
  try {
    const parsed = JSON.parse(text) as { msg?: unknown; stderr?: unknown };
    const msg = [parsed.msg, parsed.stderr].find((m) => typeof m === 'string' && m.trim() !== '');
    if (typeof msg === 'string') return msg.trim().slice(0, 300);
  } catch {
    // Not JSON: the line as Ansible printed it.
  }
  return text.slice(0, 300);
}

export function parsePlaybookDigest(text: string): PlaybookDigest {
  const digest: PlaybookDigest = { recap: {}, leftOut: [] };
  let task: string | undefined;
  let inRecap = false;
  for (const line of text.split('\n')) {
    const left = /^etcd-replace: left out of every play: (\S+)/.exec(line);
    if (left) digest.leftOut.push(left[1]!);
    const taskLine = /^TASK \[(.*)\]/.exec(line);
    if (taskLine) task = taskLine[1]?.trim();
    if (/^PLAY RECAP/.test(line)) inRecap = true;
    const failure = FAILURE.exec(line);
    if (failure && digest.failedHost === undefined) {
      // `[master-0 -> master-1]`: the task ran for master-0, delegated to master-1.
      digest.failedHost = (failure[1] ?? '').split(' -> ')[0]!.trim();
      if (task !== undefined) digest.failedTask = task;
      digest.failure = message(failure[2] ?? '');
    }
    if (/^ERROR! /.test(line) && digest.failure === undefined) digest.failure = line.slice(0, 300);
    const recap = inRecap ? RECAP.exec(line) : null;
    if (recap) {
      const n = (i: number) => Number(recap[i] ?? 0);
      digest.recap[recap[1]!] = { ok: n(2), changed: n(3), unreachable: n(4), failed: n(5), skipped: n(6), rescued: n(7), ignored: n(8) };
    }
  }
  return digest;
}

/** `host ok=N changed=N failed=N unreachable=N` for each host, for details and errors. */
export function describeRecap(recap: Record<string, RecapCounts>): string {
  const hosts = Object.entries(recap);
  if (hosts.length === 0) return 'no PLAY RECAP';
  return `PLAY RECAP ${hosts.map(([h, c]) => `${h} ok=${c.ok} changed=${c.changed} failed=${c.failed} unreachable=${c.unreachable}`).join(', ')}`;
}
