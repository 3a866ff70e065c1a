import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { accepted } from '../support/accepted.ts';
import { ConfigEditError, InvalidInputError } from '../../functions/errors.ts';
import { checkEtcdConf, initialClusterString, newMemberEtcdConf, parseInitialCluster, readEtcdConf, setEtcdConfKeys } from '../../functions/config/etcdConf.ts';

const FIXTURES = new URL('../../sandbox/templates/', import.meta.url);
const FIXTURE = readFileSync(new URL('etcd.conf', FIXTURES), 'utf8');
const FIXTURE_LINES = FIXTURE.split('\n');

const NEW_CLUSTER =
  'master-0.example.com=https://198.51.100.10:2380,master-1.example.com=https://198.51.100.11:2380,master-3.example.com=https://198.51.100.13:2380';
const NEW = { name: 'master-3.example.com', ip: '198.51.100.13', initialCluster: NEW_CLUSTER };

/** Line numbers (1-based) whose text differs, for same-length texts. */
function changedLines(before: string, after: string): Array<[number, string]> {
  const a = before.split('\n');
  const b = after.split('\n');
  expect(b).toHaveLength(a.length);
  return b.flatMap((line, i) => (line === a[i] ? [] : [[i + 1, line] as [number, string]]));
}

describe('Function: readEtcdConf', () => {
  it('reads the active keys of the fixture, quotes stripped, comments ignored', () => {
    const conf = readEtcdConf(FIXTURE);
    expect(conf.get('ETCD_NAME')).toBe('master-0.example.com');
    expect(conf.get('ETCD_DEBUG')).toBe('False');
    expect(conf.get('ETCD_DATA_DIR')).toBe('/var/lib/etcd/');
    expect(conf.has('ETCD_WAL_DIR')).toBe(false);
    expect(conf.has('ETCD_PROXY')).toBe(false);
    expect([...conf.keys()]).toEqual([
      'ETCD_NAME',
      'ETCD_LISTEN_PEER_URLS',
      'ETCD_DATA_DIR',
      'ETCD_HEARTBEAT_INTERVAL',
      'ETCD_ELECTION_TIMEOUT',
      'ETCD_LISTEN_CLIENT_URLS',
      'ETCD_INITIAL_ADVERTISE_PEER_URLS',
      'ETCD_INITIAL_CLUSTER',
      'ETCD_INITIAL_CLUSTER_STATE',
      'ETCD_INITIAL_CLUSTER_TOKEN',
      'ETCD_ADVERTISE_CLIENT_URLS',
      'ETCD_QUOTA_BACKEND_BYTES',
      'ETCD_TRUSTED_CA_FILE',
      'ETCD_CLIENT_CERT_AUTH',
      'ETCD_CERT_FILE',
      'ETCD_KEY_FILE',
      'ETCD_PEER_TRUSTED_CA_FILE',
      'ETCD_PEER_CLIENT_CERT_AUTH',
      'ETCD_PEER_CERT_FILE',
      'ETCD_PEER_KEY_FILE',
      'ETCD_DEBUG',
    ]);
  });

  it('strips single quotes and keeps the last of a repeated key, as sh would', () => {
    expect(readEtcdConf("A='x y'\nB=1\nB=2\n")).toEqual(
      new Map([
        ['A', 'x y'],
        ['B', '2'],
      ]),
    );
  });
});

describe('Function: setEtcdConfKeys', () => {
  it('changes only the lines of the keys it sets, in place', () => {
    const out = setEtcdConfKeys(FIXTURE, { ETCD_NAME: 'master-3.example.com', ETCD_INITIAL_CLUSTER_STATE: 'existing' });
    expect(changedLines(FIXTURE, out)).toEqual([
      [1, 'ETCD_NAME=master-3.example.com'],
      [17, 'ETCD_INITIAL_CLUSTER_STATE=existing'],
    ]);
  });

  it('keeps the double quotes a line had', () => {
    const out = setEtcdConfKeys(FIXTURE, { ETCD_DEBUG: 'True' });
    expect(changedLines(FIXTURE, out)).toEqual([[50, 'ETCD_DEBUG="True"']]);
  });

  it('keeps single quotes, indentation and CRLF line ends', () => {
    expect(setEtcdConfKeys("A=1\r\n  B='x'\r\n", { B: 'y' })).toBe("A=1\r\n  B='y'\r\n");
  });

  it('adds a key that is only commented out right after its commented line', () => {
    const out = setEtcdConfKeys(FIXTURE, { ETCD_ENABLE_V2: 'true' });
    const lines = out.split('\n');
    expect(lines).toEqual([...FIXTURE_LINES.slice(0, 26), 'ETCD_ENABLE_V2=true', ...FIXTURE_LINES.slice(26)]);
    expect(lines[25]).toBe('#ETCD_ENABLE_V2=true');
  });

  it('appends a key that appears nowhere at the end, keeping the final newline', () => {
    const out = setEtcdConfKeys(FIXTURE, { ETCD_LOG_LEVEL: 'info' });
    expect(out).toBe(`${FIXTURE}ETCD_LOG_LEVEL=info\n`);
    expect(setEtcdConfKeys('A=1', { B: '2' })).toBe('A=1\nB=2');
    expect(setEtcdConfKeys('', { B: '2' })).toBe('B=2\n');
  });

  it('sets every active line of a repeated key', () => {
    expect(setEtcdConfKeys('B=1\n#c\nB=2\n', { B: '3' })).toBe('B=3\n#c\nB=3\n');
  });

  it('double-quotes a value that could not stand bare', () => {
    expect(setEtcdConfKeys('A=1\n', { A: 'x y' })).toBe('A="x y"\n');
  });

  it('is idempotent', () => {
    const updates = { ETCD_NAME: 'master-3.example.com', ETCD_ENABLE_V2: 'true', ETCD_LOG_LEVEL: 'info', ETCD_DEBUG: 'True' };
    const once = setEtcdConfKeys(FIXTURE, updates);
    expect(setEtcdConfKeys(once, updates)).toBe(once);
  });

  it('returns the text unchanged when asked to set the values it already has', () => {
    expect(setEtcdConfKeys(FIXTURE, { ETCD_NAME: 'master-0.example.com', ETCD_DEBUG: 'False' })).toBe(FIXTURE);
  });

  it('refuses values with newlines, NUL, quotes or shell expansions, and bad keys', () => {
    const rejected = ['a\nETCD_X=1', 'a\u0000', 'a"b', "a'b", '$(reboot)', '`reboot`', 'a\\b', 'a\rb'];
    expect(accepted(rejected, (value) => setEtcdConfKeys(FIXTURE, { ETCD_NAME: value }), ConfigEditError)).toEqual([]);
    expect(() => setEtcdConfKeys(FIXTURE, { 'ETCD NAME': 'x' })).toThrow(ConfigEditError);
    expect(() => setEtcdConfKeys(FIXTURE, { 'A=B': 'x' })).toThrow(new ConfigEditError('cannot write key "A=B": not a shell variable name'));
  });
});

describe('Function: initialClusterString', () => {
  it('joins name=peerURL pairs in order', () => {
    expect(
      initialClusterString([
        { name: 'master-0.example.com', peerURL: 'https://198.51.100.10:2380' },
        { name: 'master-3.example.com', peerURL: 'https://198.51.100.13:2380/' },
      ]),
    ).toBe('master-0.example.com=https://198.51.100.10:2380,master-3.example.com=https://198.51.100.13:2380');
  });

  it('rejects an empty list, duplicate names and invalid names or URLs', () => {
    expect(() => initialClusterString([])).toThrow(InvalidInputError);
    const m = { name: 'master-0.example.com', peerURL: 'https://198.51.100.10:2380' };
    expect(() => initialClusterString([m, m])).toThrow(new InvalidInputError('initialCluster', 'member name master-0.example.com appears twice'));
    expect(() => initialClusterString([{ name: 'a,b=c', peerURL: m.peerURL }])).toThrow(InvalidInputError);
    expect(() => initialClusterString([{ name: m.name, peerURL: 'https://198.51.100.10:2380,x=https://1.2.3.4:2380' }])).toThrow(InvalidInputError);
  });
});

describe('Function: parseInitialCluster', () => {
  it('splits the fixture value', () => {
    expect(parseInitialCluster(readEtcdConf(FIXTURE).get('ETCD_INITIAL_CLUSTER') ?? '')).toEqual([
      { name: 'master-0.example.com', peerURL: 'https://198.51.100.10:2380' },
      { name: 'master-1.example.com', peerURL: 'https://198.51.100.11:2380' },
      { name: 'master-2.example.com', peerURL: 'https://198.51.100.12:2380' },
    ]);
  });

  it('rejects malformed entries', () => {
    expect(() => parseInitialCluster('')).toThrow(InvalidInputError);
    expect(() => parseInitialCluster('master-0.example.com')).toThrow(
      new InvalidInputError('initialCluster', 'entry 1 "master-0.example.com" is not name=url'),
    );
    expect(() => parseInitialCluster('a=http://1.2.3.4:2380')).toThrow(InvalidInputError);
  });
});

describe('Function: newMemberEtcdConf', () => {
  it('rewrites exactly the seven keys and keeps everything else', () => {
    const out = newMemberEtcdConf(FIXTURE, NEW);
    expect(changedLines(FIXTURE, out)).toEqual([
      [1, 'ETCD_NAME=master-3.example.com'],
      [2, 'ETCD_LISTEN_PEER_URLS=https://198.51.100.13:2380'],
      [8, 'ETCD_LISTEN_CLIENT_URLS=https://198.51.100.13:2379'],
      [15, 'ETCD_INITIAL_ADVERTISE_PEER_URLS=https://198.51.100.13:2380'],
      [16, `ETCD_INITIAL_CLUSTER=${NEW_CLUSTER}`],
      [17, 'ETCD_INITIAL_CLUSTER_STATE=existing'],
      [23, 'ETCD_ADVERTISE_CLIENT_URLS=https://198.51.100.13:2379'],
    ]);
    const conf = readEtcdConf(out);
    expect(conf.get('ETCD_HEARTBEAT_INTERVAL')).toBe('500');
    expect(conf.get('ETCD_ELECTION_TIMEOUT')).toBe('2500');
    expect(conf.get('ETCD_QUOTA_BACKEND_BYTES')).toBe('4294967296');
    expect(conf.get('ETCD_PEER_CERT_FILE')).toBe('/etc/etcd/peer.crt');
  });

  it('is idempotent and passes its own check', () => {
    const once = newMemberEtcdConf(FIXTURE, NEW);
    expect(newMemberEtcdConf(once, NEW)).toBe(once);
    expect(checkEtcdConf(once, { name: NEW.name, ip: NEW.ip })).toEqual([]);
  });

  it('validates the name, address and cluster before writing anything', () => {
    expect(() => newMemberEtcdConf(FIXTURE, { ...NEW, name: '$(reboot)' })).toThrow(InvalidInputError);
    expect(() => newMemberEtcdConf(FIXTURE, { ...NEW, ip: '198.51.100.13\nETCD_X=1' })).toThrow(InvalidInputError);
    expect(() => newMemberEtcdConf(FIXTURE, { ...NEW, initialCluster: `${NEW_CLUSTER}"; reboot; "` })).toThrow(InvalidInputError);
  });
});

describe('Function: checkEtcdConf', () => {
  const good = newMemberEtcdConf(FIXTURE, NEW);
  const expected = { name: NEW.name, ip: NEW.ip };

  it('finds the surviving member template wrong for the new member', () => {
    expect(checkEtcdConf(FIXTURE, expected)).toEqual([
      'ETCD_NAME is master-0.example.com, expected master-3.example.com',
      'ETCD_LISTEN_PEER_URLS is https://198.51.100.10:2380, expected https://198.51.100.13:2380',
      'ETCD_LISTEN_CLIENT_URLS is https://198.51.100.10:2379, expected https://198.51.100.13:2379',
      'ETCD_INITIAL_ADVERTISE_PEER_URLS is https://198.51.100.10:2380, expected https://198.51.100.13:2380',
      'ETCD_ADVERTISE_CLIENT_URLS is https://198.51.100.10:2379, expected https://198.51.100.13:2379',
      'ETCD_INITIAL_CLUSTER does not contain master-3.example.com=https://198.51.100.13:2380',
      'ETCD_INITIAL_CLUSTER_STATE is new, expected existing',
    ]);
  });

  it('reports syntax errors with their line numbers', () => {
    const broken = good
      .replace('ETCD_HEARTBEAT_INTERVAL=500', 'ETCD_HEARTBEAT_INTERVAL 500')
      .replace('ETCD_ELECTION_TIMEOUT=2500', 'etcd_election_timeout=2500')
      .replace('ETCD_DEBUG="False"', 'ETCD_DEBUG="False')
      .replace('ETCD_QUOTA_BACKEND_BYTES=4294967296', 'ETCD_QUOTA_BACKEND_BYTES=4294967296 # 4G');
    expect(checkEtcdConf(broken, expected)).toEqual([
      'line 6: "ETCD_HEARTBEAT_INTERVAL 500" is not ETCD_<KEY>=<value>',
      'line 7: "etcd_election_timeout=2500" is not ETCD_<KEY>=<value>',
      'line 27: "ETCD_QUOTA_BACKEND_BYTES=4294967296 # 4G" has an unquoted value with spaces, quotes or shell characters',
      'line 50: "ETCD_DEBUG=\\"False" has an unquoted value with spaces, quotes or shell characters',
    ]);
  });

  it('reports missing and empty required keys', () => {
    const out = good.replace(/^ETCD_PEER_KEY_FILE=.*$/m, '#ETCD_PEER_KEY_FILE=').replace(/^ETCD_DATA_DIR=.*$/m, 'ETCD_DATA_DIR=""');
    expect(checkEtcdConf(out, expected)).toEqual(['ETCD_DATA_DIR is missing or empty', 'ETCD_PEER_KEY_FILE is missing or empty']);
  });

  it('reports wrong ports, localhost URLs and duplicate keys', () => {
    const out = `${good
      .replace('ETCD_LISTEN_CLIENT_URLS=https://198.51.100.13:2379', 'ETCD_LISTEN_CLIENT_URLS=https://198.51.100.13:2380')
      .replace('ETCD_ADVERTISE_CLIENT_URLS=https://198.51.100.13:2379', 'ETCD_ADVERTISE_CLIENT_URLS=https://localhost:2379')}ETCD_NAME=master-3.example.com\n`;
    expect(checkEtcdConf(out, expected)).toEqual([
      'line 58: ETCD_NAME is set more than once',
      'ETCD_LISTEN_CLIENT_URLS is https://198.51.100.13:2380, expected https://198.51.100.13:2379',
      'ETCD_ADVERTISE_CLIENT_URLS is https://localhost:2379, expected https://198.51.100.13:2379',
      'ETCD_ADVERTISE_CLIENT_URLS points at a loopback or wildcard address: https://localhost:2379',
    ]);
  });

  it('reports a malformed or repetitive ETCD_INITIAL_CLUSTER and loopback peers in it', () => {
    const cluster = `master-0.example.com=https://127.0.0.1:2380,master-0.example.com=https://198.51.100.11:2380,garbage,master-3.example.com=https://198.51.100.13:2380`;
    const out = setEtcdConfKeys(good, { ETCD_INITIAL_CLUSTER: cluster });
    expect(checkEtcdConf(out, expected)).toEqual([
      'ETCD_INITIAL_CLUSTER names master-0.example.com more than once',
      'ETCD_INITIAL_CLUSTER entry 3 "garbage" is not name=https://host:port',
      `ETCD_INITIAL_CLUSTER points at a loopback or wildcard address: ${cluster}`,
    ]);
  });

  it('reports relative TLS file paths', () => {
    const out = setEtcdConfKeys(good, { ETCD_CERT_FILE: 'server.crt' });
    expect(checkEtcdConf(out, expected)).toEqual(['ETCD_CERT_FILE=server.crt is not an absolute path']);
  });
});
