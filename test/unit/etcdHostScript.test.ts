// lib/etcdHost.sh, the lock before a host script stops or empties etcd (InstallEtcd prepare,
// StartNewMember, CompensateNewMember; StopFailedMember's on the failed host): the host's etcd is asked at every client URL etcd.conf and the
// static pod name, whatever the port, and an etcd that serves another running cluster, or that runs and
// cannot be asked, is refused with exit 3. Run against real etcd and etcdctl (3.2.22 where its build is
// found, Debian's 3.4.23 always), each case in a network namespace of its own (root, as `npm test` runs)
// so that no other etcd on the machine is seen and ports never collide.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { availableEtcdBuilds } from '../../sandbox/etcdBuilds.ts';

const SCRIPTS = path.join(import.meta.dirname, '../../functions/scripts');
const FIXTURES = path.join(import.meta.dirname, '../fixtures/scripts/etcdHost');
const dir = mkdtempSync(path.join(tmpdir(), 'etcd-host-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

function bash(argv: string[], env: Record<string, string> = {}): Promise<Out> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { env: { ...process.env, ...env }, timeout: 50_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Runs `body` in a fresh network namespace with lib/etcdHost.sh sourced and pointed at `files`
 * (etcd.conf, etcd.yaml, tls/) in a directory of its own. `etcd_start NAME ARGS…` starts a real etcd
 * there (killed when the body ends, whatever its exit); `etcd_wait_leader URL` waits until it answers
 * with a leader; `cluster_of URL` prints its cluster ID as 16 hex digits.
 */
async function onHost(etcdDir: string, files: { conf?: string; pod?: string }, body: string): Promise<Out> {
  const work = mkdtempSync(path.join(dir, 'host-'));
  if (files.conf !== undefined) writeFileSync(path.join(work, 'etcd.conf'), files.conf);
  if (files.pod !== undefined) writeFileSync(path.join(work, 'etcd.yaml'), files.pod);
  const script = path.join(work, 'run.sh');
  writeFileSync(
    script,
    `set -o errexit -o nounset -o pipefail
source ${JSON.stringify(path.join(SCRIPTS, 'lib/exitCodes.sh'))}
source ${JSON.stringify(path.join(SCRIPTS, 'lib/etcdHost.sh'))}
WORK=${JSON.stringify(work)}
ETCD_HOST_CONF=$WORK/etcd.conf ETCD_HOST_POD=$WORK/etcd.yaml ETCD_HOST_TLS_DIR=$WORK/tls
ip link set lo up
pids=()
trap 'kill -9 "\${pids[@]}" 2>/dev/null || true; wait' EXIT
etcd_start() {
  local name=$1
  shift
  etcd --name "$name" --data-dir "$WORK/$name.etcd" "$@" >"$WORK/$name.log" 2>&1 &
  pids+=($!)
}
etcd_wait_leader() {
  for _ in $(seq 1 150); do
    if ETCDCTL_API=3 etcdctl --endpoints="$1" --dial-timeout=1s endpoint status -w json 2>/dev/null | grep -qE '"leader":[1-9]'; then return 0; fi
    sleep 0.2
  done
  echo "no leader at $1" >&2
  exit 9
}
cluster_of() {
  [[ $(ETCDCTL_API=3 etcdctl --endpoints="$1" endpoint status -w json) =~ \\"cluster_id\\":([0-9]+) ]]
  etcd_host_hex "\${BASH_REMATCH[1]}"
}
${body}
`,
  );
  return bash(['unshare', '--net', 'bash', script], { PATH: `${etcdDir}:${process.env.PATH ?? ''}` });
}

/** A single member serving clients at `client` (peers at `peer`). */
const lone = (client: string, peer: string, extra = '') =>
  `etcd_start lone ${extra} --listen-client-urls ${client} --advertise-client-urls ${client} --listen-peer-urls ${peer} --initial-advertise-peer-urls ${peer} --initial-cluster lone=${peer}`;

describe('lib/etcdHost.sh: the client URLs to ask', () => {
  it('every client URL of etcd.conf and the static pod, whatever the port; peer URLs and malformed ones left out; a wildcard asked at 127.0.0.1', async () => {
    const out = await bash([
      'bash',
      '-c',
      `source "$1/lib/exitCodes.sh"; source "$1/lib/etcdHost.sh"; etcd_host_client_urls "$2/etcd.conf" "$2/etcd.yaml"; echo ---; etcd_host_client_urls "$2/absent.conf" "$2/absent.yaml"`,
      'bash',
      SCRIPTS,
      FIXTURES,
    ]);
    expect(out.code).toBe(0);
    expect(out.stdout.split('\n')).toEqual([
      'https://192.0.2.20:12379',
      'https://other-0.example.com:12379',
      'https://127.0.0.1:12379',
      'http://127.0.0.1:4001',
      'https://192.0.2.20:22379',
      'https://127.0.0.1:22379',
      'https://192.0.2.20:2379',
      'https://127.0.0.1:32379',
      '---',
      '',
    ]);
  });

  it("a command line is logged without the value of a flag that names a token, password or key, nor a URL's credentials", async () => {
    const out = await bash([
      'bash',
      '-c',
      `source "$1/lib/exitCodes.sh"; source "$1/lib/etcdHost.sh"; printf 'etcd\\0--name\\0a\\0--initial-cluster-token\\0s3cret\\0--peer-key-file=/k/peer.key\\0--endpoints=https://u:pw@h:1\\0' | etcd_host_redact`,
      'bash',
      SCRIPTS,
    ]);
    expect(out.stdout.trim()).toBe('etcd --name a --initial-cluster-token <redacted> --peer-key-file=<redacted> --endpoints=https://<redacted>@h:1');
  });
});

const builds = availableEtcdBuilds().filter((b) => ['3.2.22', '3.4.23'].includes(b.version));

describe.each(builds)('lib/etcdHost.sh refuse_if_started_member on etcd $version', (build) => {
  const etcdDir = path.dirname(build.etcd);
  const facts =
    'echo "answers=$ETCD_HOST_ANSWERS cluster=${ETCD_HOST_CLUSTER:-} member=${ETCD_HOST_MEMBER:-} members=${ETCD_HOST_MEMBERS:-} version=${ETCD_HOST_VERSION:-}"';

  it('a lone member on another port (etcd.conf): asked there; stopped only as an earlier life, refused as a member of this cluster', async () => {
    const conf = 'ETCD_LISTEN_CLIENT_URLS="http://0.0.0.0:12379"\nETCD_ADVERTISE_CLIENT_URLS="http://127.0.0.1:12379"\n';
    const out = await onHost(
      etcdDir,
      { conf },
      `${lone('http://0.0.0.0:12379', 'http://127.0.0.1:12380').replace('--advertise-client-urls http://0.0.0.0:12379', '--advertise-client-urls http://127.0.0.1:12379')}
etcd_wait_leader http://127.0.0.1:12379
own=$(cluster_of http://127.0.0.1:12379)
echo "own=$own"
refuse_if_started_member 00000000000000aa
${facts}
refuse_if_running_cluster_member
echo "the failed host's lock lets a lone member be stopped"
(refuse_if_started_member "$own" "$ETCD_HOST_MEMBER"; echo "allowed: answers=$ETCD_HOST_ANSWERS")
refuse_if_started_member "$own"
echo not reached`,
    );
    const own = /own=([0-9a-f]{16})/.exec(out.stdout)?.[1];
    expect({ own, stderr: own ? '' : out.stderr }).toEqual({ own: expect.stringMatching(/^[0-9a-f]{16}$/), stderr: '' });
    const member = new RegExp(`answers=1 cluster=${own} member=([0-9a-f]{16}) members=1 version=${build.version.replace(/\./g, '\\.')}`).exec(out.stdout)?.[1];
    expect({ member, stdout: member ? '' : out.stdout }).toEqual({ member: expect.stringMatching(/^[0-9a-f]{16}$/), stdout: '' });
    expect(out.stdout).toContain('allowed: answers=1');
    expect(out.stdout).toContain("the failed host's lock lets a lone member be stopped");
    expect(out.stdout).not.toContain('not reached');
    expect(out.code).toBe(3);
    expect(out.stderr).toContain(
      `refusing: this host runs member ${member} of this cluster (${own}): member ${member} (lone) answering at http://127.0.0.1:12379`,
    );
  });

  it('a member of another running 3-member cluster, named only by the static pod: refused, naming the cluster, the member and its URL', async () => {
    const peers = 'a=http://127.0.0.1:12380,b=http://127.0.0.1:22380,c=http://127.0.0.1:32380';
    const pod = `spec:\n  containers:\n  - name: etcd\n    command: ["/usr/bin/etcd", "--listen-client-urls=http://127.0.0.1:22379", "--listen-peer-urls=http://127.0.0.1:22380"]\n`;
    const start = ['a', 'b', 'c']
      .map((name, i) => {
        const port = 12379 + 10000 * i;
        return `etcd_start ${name} --listen-client-urls http://127.0.0.1:${port} --advertise-client-urls http://127.0.0.1:${port} --listen-peer-urls http://127.0.0.1:${port + 1} --initial-advertise-peer-urls http://127.0.0.1:${port + 1} --initial-cluster ${peers}`;
      })
      .join('\n');
    const out = await onHost(
      etcdDir,
      { pod },
      `${start}
etcd_wait_leader http://127.0.0.1:22379
echo "theirs=$(cluster_of http://127.0.0.1:22379)"
(refuse_if_running_cluster_member) 2>&1 || echo "the failed host's lock: exit $?"
refuse_if_started_member 00000000000000aa
echo not reached`,
    );
    const theirs = /theirs=([0-9a-f]{16})/.exec(out.stdout)?.[1];
    expect({ theirs, stderr: theirs ? '' : out.stderr }).toEqual({ theirs: expect.stringMatching(/^[0-9a-f]{16}$/), stderr: '' });
    expect(out.stdout).not.toContain('not reached');
    expect(out.stdout).toMatch(
      new RegExp(
        `refusing: this host runs member [0-9a-f]{16} \\(b\\) answering at http://127\\.0\\.0\\.1:22379 of an etcd cluster that is still running: cluster ${theirs} with 3 members .*\nthe failed host's lock: exit 3`,
      ),
    );
    expect(out.code).toBe(3);
    expect(out.stderr).toMatch(
      new RegExp(
        `refusing: this host runs member [0-9a-f]{16} \\(b\\) answering at http://127\\.0\\.0\\.1:22379 of another etcd cluster that is still running: cluster ${theirs} with 3 members and leader [0-9a-f]{16}; nothing was stopped or emptied`,
      ),
    );
  });

  it("an etcd that runs where no configured URL answers: refused, naming its pid and command line without secrets; the caller's own etcd.service exempt", async () => {
    const conf = 'ETCD_ADVERTISE_CLIENT_URLS=http://127.0.0.1:19999\n';
    const out = await onHost(
      etcdDir,
      { conf },
      `${lone('http://127.0.0.1:12379', 'http://127.0.0.1:12380', '--initial-cluster-token s3cret')}
etcd_wait_leader http://127.0.0.1:12379
echo "pid=\${pids[0]}"
# etcd.service as systemd reports it: this etcd is the unit's main process.
systemctl() { if [[ $1 == status ]]; then echo " Main PID: \${pids[0]} (etcd)"; fi; }
(refuse_if_started_member 00000000000000aa 00000000000000bb unit; echo "ours: answers=$ETCD_HOST_ANSWERS")
unset -f systemctl
refuse_if_started_member 00000000000000aa
echo not reached`,
    );
    const pid = /pid=(\d+)/.exec(out.stdout)?.[1];
    expect({ pid, stderr: pid ? '' : out.stderr }).toEqual({ pid: expect.stringMatching(/^\d+$/), stderr: '' });
    expect(out.stdout).toContain('ours: answers=0');
    expect(out.stdout).not.toContain('not reached');
    expect(out.code).toBe(3);
    expect(out.stderr).toContain(`refusing: etcd runs on this host and cannot be asked which cluster it serves (pid ${pid}: etcd --name lone --data-dir`);
    expect(out.stderr).toContain('--initial-cluster-token <redacted>');
    expect(out.stderr).toContain('asked at http://127.0.0.1:19999 (nothing listens on port 19999)');
    expect(out.stderr).not.toContain('s3cret');
  });

  it('an https URL and no certificate to ask it with: refused, naming what runs', async () => {
    const conf = 'ETCD_LISTEN_CLIENT_URLS=https://127.0.0.1:12379\n';
    const out = await onHost(
      etcdDir,
      { conf },
      `${lone('https://127.0.0.1:12379', 'http://127.0.0.1:12380', '--auto-tls')}
for _ in $(seq 1 100); do etcd_host_port_open 12379 && break; sleep 0.2; done
echo "pid=\${pids[0]}"
refuse_if_started_member 00000000000000aa
echo not reached`,
    );
    const pid = /pid=(\d+)/.exec(out.stdout)?.[1];
    expect({ pid, stderr: pid ? '' : out.stderr }).toEqual({ pid: expect.stringMatching(/^\d+$/), stderr: '' });
    expect(out.code).toBe(3);
    expect(out.stderr).toContain(`(pid ${pid}: etcd --name lone --data-dir`);
    expect(out.stderr).toMatch(/asked at https:\/\/127\.0\.0\.1:12379 \(no \S+\/tls\/ca\.crt, peer\.crt and peer\.key to ask it with\)/);
  });

  it('nothing runs: nothing refused, nothing answers', async () => {
    const out = await onHost(etcdDir, { conf: 'ETCD_ADVERTISE_CLIENT_URLS=https://127.0.0.1:2379\n' }, `refuse_if_started_member 00000000000000aa\n${facts}`);
    expect({ code: out.code, stderr: out.stderr }).toEqual({ code: 0, stderr: '' });
    expect(out.stdout).toContain('answers=0');
  });
});

describe('lib/etcdHost.sh: the etcd builds these cases run on', () => {
  it("include Debian's 3.4.23", () => {
    expect(builds.map((b) => b.version)).toContain('3.4.23');
  });
});
