// The guarded membership change's fingerprint (statemachine/viewFingerprint.ts) and etcdctl.sh's
// guarded verbs, which compute the same string from what the host observes: here etcdctl.sh runs
// against a stand-in etcdctl on PATH that prints etcdctl's JSON (uint64 IDs as bare numbers, one above
// 2^63) and logs each change it is asked for. Real etcd: test/sandbox/etcdMembership.test.ts.

import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { guardedFromOutput } from '../../functions/adapters/etcdctl.ts';
import { viewFingerprint } from '../../statemachine/viewFingerprint.ts';

const SCRIPT = path.join(import.meta.dirname, '../../functions/scripts/etcdctl.sh');
const dir = mkdtempSync(path.join(tmpdir(), 'guarded-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// etcdctl as the script calls it: `member list`, `endpoint status` (one endpoint), `member remove|add`,
// `version`. Statuses come from $FAKE/status-<host>.json; a missing file is an endpoint that does not answer.
const FAKE_ETCDCTL = `#!/usr/bin/env bash
endpoint=''
for arg in "$@"; do case $arg in --endpoints=*) endpoint=\${arg#--endpoints=} ;; esac; done
case " $* " in
  *" version "*) echo 'etcdctl version: 3.2.22' ;;
  *" member list "*) cat "$FAKE/members.json" ;;
  *" endpoint status "*)
    file="$FAKE/status-\${endpoint#https://}.json"
    if [[ -f $file ]]; then cat "$file"; else echo 'context deadline exceeded' >&2; exit 1; fi ;;
  *" member remove "*) echo "$*" >>"$FAKE/changes"; echo '{"header":{"cluster_id":1}}' ;;
  *" member add "*) echo "$*" >>"$FAKE/changes"; echo '{"header":{"cluster_id":1},"member":{"ID":183,"peerURLs":["https://m9.invalid:2380"]}}' ;;
esac
`;

const CLUSTER_DEC = '17237436991929493444';
const CLUSTER = 'ef37ad9dc622a7c4';
const BIG_DEC = '18446744073709551615'; // ffffffffffffffff: beyond 2^63
const hex = (decimal: string) => BigInt(decimal).toString(16).padStart(16, '0');
const url = (host: string) => `https://${host}.invalid:2379`;

interface Listed {
  id: string; // decimal, as etcdctl prints it
  host: string;
  learner?: boolean;
  started?: boolean;
}

function world(name: string, members: Listed[], answering: Array<{ host: string; id: string; cluster?: string }>): Record<string, string> {
  const fake = path.join(dir, name);
  const bin = path.join(fake, 'bin');
  const list = members.map((m) => {
    const started = m.started !== false;
    const fields = [
      `"ID":${m.id}`,
      `"name":"${started ? `${m.host}.invalid` : ''}"`,
      `"peerURLs":["https://${m.host}.invalid:2380"]`,
      ...(started ? [`"clientURLs":["${url(m.host)}"]`] : []),
      ...(m.learner ? ['"isLearner":true'] : []),
    ];
    return `{${fields.join(',')}}`;
  });
  mkdirSync(bin, { recursive: true });
  writeFileSync(path.join(bin, 'etcdctl'), FAKE_ETCDCTL);
  chmodSync(path.join(bin, 'etcdctl'), 0o755);
  writeFileSync(path.join(fake, 'members.json'), `{"header":{"cluster_id":${CLUSTER_DEC},"member_id":1,"raft_term":2},"members":[${list.join(',')}]}\n`);
  for (const a of answering) {
    const status = `[{"Endpoint":"${url(a.host)}","Status":{"header":{"cluster_id":${a.cluster ?? CLUSTER_DEC},"member_id":${a.id},"revision":5,"raft_term":2},"version":"3.2.22","dbSize":20480,"leader":${a.id},"raftIndex":9,"raftTerm":2}}]`;
    writeFileSync(path.join(fake, `status-${a.host}.invalid:2379.json`), `${status}\n`);
  }
  return { FAKE: fake, PATH: `${bin}:${process.env['PATH'] ?? ''}` };
}

function run(env: Record<string, string>, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', [SCRIPT, ...args], { env: { ...process.env, ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

const changes = (env: Record<string, string>) => {
  const file = path.join(env['FAKE']!, 'changes');
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : [];
};

const M0 = { id: '160', host: 'm0' };
const M1 = { id: BIG_DEC, host: 'm1' };
const M2 = { id: '162', host: 'm2' };
const ENDPOINTS = `${url('m0')},${url('m1')}`;
/** The prediction of a removal of m2: m0 and m1 answer, m2 is listed and not asked. */
const EXPECT = `${hex(M0.id)}:v:${url('m0')},${hex(M1.id)}:v:${url('m1')},${hex(M2.id)}:v:-`;
const FINGERPRINT = '00000000000000a0:v:1,00000000000000a2:v:0,ffffffffffffffff:v:1';
let refusedCase = 0;

describe('viewFingerprint', () => {
  it('sorts the members by ID and names each voter or learner, answering or not', () => {
    const members = [
      { id: 'ffffffffffffffff', isLearner: false },
      { id: '00000000000000b0', isLearner: true },
      { id: '00000000000000a0', isLearner: false },
    ];
    expect(viewFingerprint(members, new Set(['00000000000000a0', 'ffffffffffffffff']))).toBe('00000000000000a0:v:1,00000000000000b0:l:0,ffffffffffffffff:v:1');
    expect(viewFingerprint([], new Set())).toBe('');
  });
});

describe('etcdctl.sh guarded verbs (a stand-in etcdctl)', () => {
  it('the view as predicted: prints the observation and the verdict, removes, and both sides compute the same fingerprint', async () => {
    const env = world('accepted', [M0, M1, M2], [M0, M1]);
    const out = await run(env, ['guarded-remove', ENDPOINTS, ENDPOINTS, CLUSTER, EXPECT, hex(M2.id)]);
    expect(out.code).toBe(0);
    expect(changes(env)).toHaveLength(1);
    expect(changes(env)[0]).toMatch(/member remove 00000000000000a2$/);
    const result = guardedFromOutput([url('m0'), url('m1')], out.stdout, { remove: hex(M2.id) });
    expect(result).toMatchObject({ accepted: true, expected: FINGERPRINT, seen: FINGERPRINT });
    const answering = new Set(result.view.statuses.flatMap((s) => ('error' in s ? [] : [s.memberId])));
    expect(viewFingerprint(result.view.members, answering)).toBe(FINGERPRINT);
    expect(result.view.members.map((m) => m.id)).toEqual([hex(M0.id), hex(M1.id), hex(M2.id)]);
  });

  it.each([
    [
      'a member the prediction lacks (an unstarted learner)',
      [M0, M1, M2, { id: '183', host: 'm9', learner: true, started: false }],
      [M0, M1],
      '00000000000000a0:v:1,00000000000000a2:v:0,00000000000000b7:l:0,ffffffffffffffff:v:1',
    ],
    ['a predicted-answering member that does not answer', [M0, M1, M2], [M0], `00000000000000a0:v:1,00000000000000a2:v:0,ffffffffffffffff:v:0`],
    ['a member answering for another cluster', [M0, M1, M2], [M0, { ...M1, cluster: '1' }], `00000000000000a0:v:1,00000000000000a2:v:0,ffffffffffffffff:v:0`],
    [
      'a learner where the prediction has a voter',
      [M0, { ...M1, learner: true }, M2],
      [M0, M1],
      `00000000000000a0:v:1,00000000000000a2:v:0,ffffffffffffffff:l:1`,
    ],
    ['the member to remove already gone', [M0, M1], [M0, M1], `00000000000000a0:v:1,ffffffffffffffff:v:1`],
  ])('another view (%s): refused, nothing changed, exit 0', async (_what, members, answering, seen) => {
    const env = world(`refused-${refusedCase++}`, members, answering);
    const out = await run(env, ['guarded-remove', ENDPOINTS, ENDPOINTS, CLUSTER, EXPECT, hex(M2.id)]);
    expect(out.code).toBe(0);
    expect(changes(env)).toEqual([]);
    const result = guardedFromOutput([url('m0'), url('m1')], out.stdout, { remove: hex(M2.id) });
    expect(result).toMatchObject({ accepted: false, expected: FINGERPRINT, seen });
  });

  it('an add as predicted: the new member, then the member list after it', async () => {
    const env = world('add', [M0, M1], [M0, M1]);
    const expect2 = `${hex(M0.id)}:v:${url('m0')},${hex(M1.id)}:v:${url('m1')}`;
    const out = await run(env, ['guarded-add-learner', ENDPOINTS, ENDPOINTS, CLUSTER, expect2, 'https://m9.invalid:2380']);
    expect(out.code).toBe(0);
    expect(changes(env)[0]).toMatch(/member add m9\.invalid --peer-urls=https:\/\/m9\.invalid:2380 --learner$/);
    const result = guardedFromOutput([url('m0'), url('m1')], out.stdout, { add: 'https://m9.invalid:2380', learner: true });
    expect(result.accepted).toBe(true);
    expect(result.added).toEqual({ id: '00000000000000b7', name: '', peerURLs: ['https://m9.invalid:2380'], clientURLs: [], isLearner: true });
    expect(result.membersAfter?.map((m) => m.id)).toEqual([hex(M0.id), hex(M1.id)]);
  });

  it('refuses bad guard arguments before etcdctl runs (exit 2)', async () => {
    const env = world('bad', [M0, M1, M2], [M0, M1]);
    for (const [cluster, expectArg] of [
      ['not-hex', EXPECT],
      [CLUSTER, `${hex(M0.id)}:x:-`],
      [CLUSTER, `${hex(M0.id)}:v:http://m0.invalid:2379`],
      [CLUSTER, `${hex(M0.id)}:v:$(reboot)`],
      [CLUSTER, ''],
    ] as const) {
      const out = await run(env, ['guarded-remove', ENDPOINTS, ENDPOINTS, cluster, expectArg, hex(M2.id)]);
      expect(out.code).toBe(2);
    }
    expect(changes(env)).toEqual([]);
  });
});
