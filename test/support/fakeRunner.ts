// A fake HostRunner for the steps' unit tests: it records every request (script, host, args, secrets,
// timeout) and answers from rules a test sets per script, host and leading arguments: an exit code,
// stdout (an object is printed as the JSON line the scripts end with), stderr, or an error the runner
// throws (HostUnreachableError). The newest matching rule wins; a rule may be used a limited number of
// times. ReadHostFile and WriteHostFile work on files the test puts on the hosts, as the scripts do:
// the sha256 first, "absent", a write refused (exit 3) when the file changed since it was read, and the
// restart-pending marker a `restart` write leaves.

import { createHash } from 'node:crypto';
import type { HostRunner, ScriptOutput, ScriptRequest } from '../../functions/ports.ts';
import { getFlannelEndpoints, setFlannelEndpoints } from '../../functions/config/flanneld.ts';
import { liveEndpointList } from '../../functions/cluster/liveEndpoints.ts';
import { joinEtcdGroup } from '../../functions/config/inventory.ts';

/** What a script answers (exit 0 by default), or the error the runner throws instead of running it. */
export type ScriptAnswer = { exitCode?: number; stdout?: string | object; stderr?: string } | Error;
export type Responder = ScriptAnswer | ((request: ScriptRequest) => ScriptAnswer | Promise<ScriptAnswer>);

export interface Where {
  /** The host's short name (`master-0`). */
  host?: string;
  /** The request's first arguments, e.g. `['wipe']`. */
  args?: string[];
  /** How many requests the rule answers; unlimited when absent. */
  times?: number;
}

interface Rule extends Where {
  script: string;
  answer: Responder;
  used: number;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

export class FakeRunner implements HostRunner {
  /** Every request, in the order the step sent them. */
  readonly requests: ScriptRequest[] = [];
  private rules: Rule[] = [];
  /** Files on the hosts, by `host:path`. */
  private files = new Map<string, string>();
  /** `host:path` of files written with `restart`, until the restart script takes the marker. */
  private restartPending = new Set<string>();
  /** Hosts whose edit on the host declines their file (a form only the workflow edits). */
  readonly declineHostEdits = new Set<string>();

  /** Answers requests of `script` (on `where.host`, with `where.args` first) with `answer`. */
  on(script: string, answer: Responder, where: Where = {}): this {
    this.rules.push({ script, answer, used: 0, ...where });
    return this;
  }

  /** Answers every request of `script` with exit `exitCode` and `stderr`. */
  exits(script: string, exitCode: number, stderr = `${script} says why`, where: Where = {}): this {
    return this.on(script, { exitCode, stderr }, where);
  }

  /** Puts a file on a host (null: removes it). */
  putFile(host: string, path: string, text: string | null): this {
    if (text === null) this.files.delete(`${host}:${path}`);
    else this.files.set(`${host}:${path}`, text);
    return this;
  }

  file(host: string, path: string): string | undefined {
    return this.files.get(`${host}:${path}`);
  }

  /** Whether a `restart` write left the marker for this file, taking it (as the restart script removes it). */
  takeRestartMarker(host: string, path: string): boolean {
    return this.restartPending.delete(`${host}:${path}`);
  }

  /** The requests as `script@host arg…` lines, in order; of one script when named. */
  sent(script?: string): string[] {
    return this.requests.filter((r) => script === undefined || r.script === script).map(describe);
  }

  /** The requests of one script. */
  of(script: string): ScriptRequest[] {
    return this.requests.filter((r) => r.script === script);
  }

  async run(request: ScriptRequest): Promise<ScriptOutput> {
    this.requests.push({ ...request, args: [...request.args], ...(request.secrets ? { secrets: { ...request.secrets } } : {}) });
    // A step's own script that edits its file on the host (lib/hostFile.sh host_file_edit): absent, or
    // declined, is the script's whole answer; else the write it made, as below.
    const edit = this.ownEdit(request);
    if (edit && 'final' in edit) return this.output(edit.final);
    // A step's own script that writes its file first (lib/hostFile.sh): the write as WriteHostFile does it.
    const written = edit?.written ?? this.ownWrite(request);
    if (written && (written instanceof Error || (written.exitCode ?? 0) !== 0)) return this.output(written);
    const rule = [...this.rules].reverse().find((r) => matches(r, request));
    let answer: ScriptAnswer;
    if (rule) {
      rule.used++;
      answer = typeof rule.answer === 'function' ? await rule.answer(request) : rule.answer;
    } else if (request.script === 'ReadHostFile') {
      answer = this.read(request);
    } else if (request.script === 'WriteHostFile') {
      answer = this.write(request);
    } else {
      throw new Error(`FakeRunner: no answer for ${describe(request)}`);
    }
    if (written && !(written instanceof Error) && typeof answer === 'object' && !(answer instanceof Error) && typeof answer.stdout === 'object') {
      answer = { ...answer, stdout: { ...answer.stdout, written: written.stdout } };
    }
    return this.output(answer);
  }

  private output(answer: ScriptAnswer): ScriptOutput {
    if (answer instanceof Error) throw answer;
    const stdout = typeof answer.stdout === 'object' ? `${JSON.stringify(answer.stdout)}\n` : (answer.stdout ?? '');
    return { exitCode: answer.exitCode ?? 0, stdout, stderr: answer.stderr ?? '' };
  }

  /** The write ConfigureNewMember.sh, RollMasters.sh and UpdateFlannel.sh do first when given its arguments. */
  private ownWrite(request: ScriptRequest): ScriptAnswer | null {
    const a = request.args;
    const as = (path: string, sha: string | undefined, base64: string | undefined, restart: boolean) =>
      this.write({ ...request, args: [path, sha ?? '', base64 ?? '', ...(restart ? ['restart'] : [])] });
    if (request.script === 'ConfigureNewMember' && a.length === 4) return as(`/etc/etcd/generated_certs/etcd-${a[0]}/etcd.conf`, a[2], a[3], false);
    if (request.script === 'RollMasters' && a.length === 3) return as('/etc/origin/master/master-config.yaml', a[1], a[2], true);
    if (request.script === 'UpdateFlannel' && a.length === 2 && a[0] !== 'live') return as('/etc/sysconfig/flanneld', a[0], a[1], true);
    return null;
  }

  /**
   * UpdateFlannel.sh live HOSTNAMES and WriteHostFile.sh join-etcd-group NEW [FAILED]: the edit made on the
   * host, here the workflow's own (the two give the same bytes: test/unit/flanneldHostEdit.test.ts,
   * inventoryHostEdit.test.ts); a file it cannot edit is declined, as the host's edit declines it. A test
   * sets `declineHostEdits` for the forms only the workflow edits.
   */
  private ownEdit(request: ScriptRequest): { final: ScriptAnswer } | { written: ScriptAnswer } | null {
    const a = request.args;
    const flannel = request.script === 'UpdateFlannel' && a[0] === 'live' && a.length === 2;
    const inventory = request.script === 'WriteHostFile' && a[0] === 'join-etcd-group';
    if (!flannel && !inventory) return null;
    // A test's own answer for WriteHostFile.sh (an exit, an unreachable host) is the script's, not the edit's.
    if (inventory && this.rules.some((r) => matches(r, request))) return null;
    const path = flannel ? '/etc/sysconfig/flanneld' : '/etc/ansible/hosts';
    const current = this.files.get(`${request.host.name}:${path}`);
    if (current === undefined) return { final: { stdout: { absent: true } } };
    let next: string;
    try {
      if (this.declineHostEdits.has(request.host.name)) throw new Error('a form the host edit leaves to the workflow');
      next = flannel
        ? setFlannelEndpoints(current, liveEndpointList(getFlannelEndpoints(current), (a[1] ?? '').split(',')))
        : joinEtcdGroup(current, { add: a[1] ?? '', remove: a.slice(2) });
    } catch (error) {
      return { final: { stdout: { unedited: (error as Error).message } } };
    }
    const written =
      next === current
        ? { stdout: { changed: false } }
        : this.write({ ...request, args: [path, sha256(current), Buffer.from(next, 'utf8').toString('base64'), ...(flannel ? ['restart'] : [])] });
    // WriteHostFile.sh's answer is the write's; UpdateFlannel.sh's goes on to the restart.
    return flannel ? { written } : { final: written };
  }

  private read(request: ScriptRequest): ScriptAnswer {
    const path = request.args[0] ?? '';
    const text = this.files.get(`${request.host.name}:${path}`);
    return { stdout: text === undefined ? 'absent\n' : `${sha256(text)}\n${text}` };
  }

  private write(request: ScriptRequest): ScriptAnswer {
    const [path = '', expected = '', base64 = '', restart = ''] = request.args;
    if (!/^[0-9a-f]{64}$/.test(expected) || !/^[A-Za-z0-9+/=]+$/.test(base64) || !/^(restart)?$/.test(restart)) return { exitCode: 2, stderr: 'bad arguments' };
    const key = `${request.host.name}:${path}`;
    const current = this.files.get(key);
    if (current === undefined) return { exitCode: 1, stderr: `sha256sum: ${path}: No such file or directory` };
    const next = Buffer.from(base64, 'base64').toString('utf8');
    if (next === current) return { stdout: { changed: false } };
    if (sha256(current) !== expected) return { exitCode: 3, stderr: `${path} changed since it was read; not overwriting` };
    if (restart) this.restartPending.add(key);
    this.files.set(key, next);
    return { stdout: { changed: true, sha256: sha256(next) } };
  }
}

function matches(rule: Rule, request: ScriptRequest): boolean {
  if (rule.script !== request.script) return false;
  if (rule.host !== undefined && rule.host !== request.host.name) return false;
  if (rule.args !== undefined && rule.args.some((arg, i) => request.args[i] !== arg)) return false;
  return rule.times === undefined || rule.used < rule.times;
}

function describe(request: ScriptRequest): string {
  return [`${request.script}@${request.host.name}`, ...request.args].join(' ');
}
