import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { accepted } from '../support/accepted.ts';
import { ConfigEditError, InvalidInputError } from '../../functions/errors.ts';
import { joinEtcdGroup, getGroupHosts, prepareScaleupInventory, replaceGroupHost, scaleupInventoryProblems } from '../../functions/config/inventory.ts';

const FIXTURE = readFileSync(new URL('../../sandbox/templates/hosts.ini', import.meta.url), 'utf8');

const CHANGE = { remove: ['master-1.example.com'], add: 'master-3.example.com' };

describe('Function: getGroupHosts', () => {
  it('lists the first token of each host line of a group', () => {
    expect(getGroupHosts(FIXTURE, 'etcd')).toEqual(['master-0.example.com', 'master-1.example.com', 'master-2.example.com']);
    expect(getGroupHosts(FIXTURE, 'nodes')).toEqual([
      'master-0.example.com',
      'master-1.example.com',
      'master-2.example.com',
      'infra-0.example.com',
      'node-0.example.com',
      'node-1.example.com',
    ]);
    expect(getGroupHosts(FIXTURE, 'OSEv3:children')).toEqual(['masters', 'nodes', 'etcd']);
  });

  it('skips comments and blank lines and reads every section of the group', () => {
    const text = '[etcd]\n# old: master-9\n; also old\n\n  a.example.com  x=1\n[other]\nb\n[etcd]\nc.example.com\n';
    expect(getGroupHosts(text, 'etcd')).toEqual(['a.example.com', 'c.example.com']);
  });

  it('throws ConfigEditError for a missing group and InvalidInputError for a bad name', () => {
    expect(() => getGroupHosts(FIXTURE, 'new_etcd')).toThrow(new ConfigEditError('the inventory has no [new_etcd] group'));
    expect(() => getGroupHosts(FIXTURE, 'etcd]\n[x')).toThrow(InvalidInputError);
  });
});

describe('Function: replaceGroupHost', () => {
  it('swaps the failed host for the new one in [etcd] only', () => {
    const out = replaceGroupHost(FIXTURE, 'etcd', CHANGE);
    expect(out).toBe(
      FIXTURE.replace(
        '[etcd]\nmaster-0.example.com\nmaster-1.example.com\nmaster-2.example.com\n\n',
        '[etcd]\nmaster-0.example.com\nmaster-2.example.com\nmaster-3.example.com\n\n',
      ),
    );
    expect(out).not.toBe(FIXTURE);
    expect(getGroupHosts(out, 'masters')).toEqual(['master-0.example.com', 'master-1.example.com', 'master-2.example.com']);
    expect(out).toContain("master-1.example.com openshift_node_group_name='node-config-master'\n");
  });

  it('is idempotent', () => {
    const once = replaceGroupHost(FIXTURE, 'etcd', CHANGE);
    expect(replaceGroupHost(once, 'etcd', CHANGE)).toBe(once);
  });

  it('never removes by substring', () => {
    const text = '[etcd]\nmaster-1.example.com\nmaster-10.example.com\nmaster-1.example.com.old\n';
    expect(replaceGroupHost(text, 'etcd', CHANGE)).toBe('[etcd]\nmaster-10.example.com\nmaster-1.example.com.old\nmaster-3.example.com\n');
  });

  it('removes a host line with its vars and adds where the last host line was, before trailing blanks and comments', () => {
    const text = "[etcd]\nm0 etcd_ip=1.2.3.4\n# note\nm1 x='y'\n\n# about nodes\n[nodes]\nm1 x='y'\n";
    expect(replaceGroupHost(text, 'etcd', { remove: ['m1'], add: 'm3' })).toBe("[etcd]\nm0 etcd_ip=1.2.3.4\n# note\nm3\n\n# about nodes\n[nodes]\nm1 x='y'\n");
  });

  it('adds after the last remaining host line when the removed one was not last', () => {
    const text = '[etcd]\nm1\n# note\nm0\n# trailing\n\n[nodes]\n';
    expect(replaceGroupHost(text, 'etcd', { remove: ['m1'], add: 'm3' })).toBe('[etcd]\n# note\nm0\nm3\n# trailing\n\n[nodes]\n');
  });

  it('adds to an empty group right after its header, and to a group at the end of a file without a final newline', () => {
    expect(replaceGroupHost('[etcd]\n\n[nodes]\nn\n', 'etcd', CHANGE)).toBe('[etcd]\nmaster-3.example.com\n\n[nodes]\nn\n');
    expect(replaceGroupHost('[etcd]\nmaster-1.example.com', 'etcd', CHANGE)).toBe('[etcd]\nmaster-3.example.com');
  });

  it('does not add a host that is already there', () => {
    const text = '[etcd]\nmaster-3.example.com etcd_ip=198.51.100.13\nmaster-0.example.com\n';
    expect(replaceGroupHost(text, 'etcd', CHANGE)).toBe(text);
  });

  it('keeps CRLF line ends', () => {
    expect(replaceGroupHost('[etcd]\r\nmaster-1.example.com\r\n', 'etcd', CHANGE)).toBe('[etcd]\r\nmaster-3.example.com\r\n');
  });

  it('throws ConfigEditError when the group is missing', () => {
    expect(() => replaceGroupHost(FIXTURE, 'new_etcd', CHANGE)).toThrow(ConfigEditError);
  });

  it('refuses a hostile host to add', () => {
    const rejected = ['master-3.example.com ansible_host=evil', 'master-3\n[masters]\nevil', '-x', '$(reboot)', ''];
    expect(accepted(rejected, (add) => replaceGroupHost(FIXTURE, 'etcd', { remove: [], add }), InvalidInputError)).toEqual([]);
  });

  it('accepts an IPv4 address as the host', () => {
    expect(replaceGroupHost('[etcd]\n198.51.100.11\n', 'etcd', { remove: ['198.51.100.11'], add: '198.51.100.13' })).toBe('[etcd]\n198.51.100.13\n');
  });
});

describe('Functions: the scaleup inventory (runbook 37.2.1)', () => {
  const change = { failed: ['master-2.example.com'], add: 'etcd-0.example.com', first: 'master-0.example.com' };

  it('adds new_etcd under [OSEv3:children] and [new_etcd] with the new host after [etcd], dropping the failed host, every other line kept', () => {
    const next = prepareScaleupInventory(FIXTURE, change);
    expect(getGroupHosts(next, 'OSEv3:children')).toEqual(['masters', 'nodes', 'etcd', 'new_etcd']);
    expect(getGroupHosts(next, 'etcd')).toEqual(['master-0.example.com', 'master-1.example.com']);
    expect(getGroupHosts(next, 'new_etcd')).toEqual(['etcd-0.example.com']);
    expect(next).toMatch(/\[etcd\]\nmaster-0\.example\.com\nmaster-1\.example\.com\n\n\[new_etcd\]\netcd-0\.example\.com\n\n\[nodes\]/);
    const removed = FIXTURE.split('\n').filter((l) => !next.split('\n').includes(l));
    expect(removed).toEqual([]);
    expect(prepareScaleupInventory(next, change)).toBe(next);
  });

  it('puts the live CA holder first in [etcd] when the failed host was first', () => {
    const next = prepareScaleupInventory(FIXTURE, { failed: ['master-0.example.com'], add: 'etcd-0.example.com', first: 'master-2.example.com' });
    expect(getGroupHosts(next, 'etcd')).toEqual(['master-2.example.com', 'master-1.example.com']);
  });

  it('replaces a host an earlier scaleup left in [new_etcd]', () => {
    const earlier = prepareScaleupInventory(FIXTURE, { ...change, add: 'etcd-9.example.com' });
    expect(getGroupHosts(prepareScaleupInventory(earlier, change), 'new_etcd')).toEqual(['etcd-0.example.com']);
  });

  it('moves the new host from [new_etcd] to [etcd] afterwards, leaving new_etcd empty and under [OSEv3:children]', () => {
    const done = joinEtcdGroup(prepareScaleupInventory(FIXTURE, change), { remove: change.failed, add: change.add });
    expect(getGroupHosts(done, 'etcd')).toEqual(['master-0.example.com', 'master-1.example.com', 'etcd-0.example.com']);
    expect(getGroupHosts(done, 'new_etcd')).toEqual([]);
    expect(getGroupHosts(done, 'OSEv3:children')).toContain('new_etcd');
    expect(joinEtcdGroup(done, { remove: change.failed, add: change.add })).toBe(done);
    expect(joinEtcdGroup(FIXTURE, { remove: change.failed, add: change.add })).toBe(
      replaceGroupHost(FIXTURE, 'etcd', { remove: change.failed, add: change.add }),
    );
  });

  it('keeps CRLF line ends', () => {
    const crlf = FIXTURE.replace(/\n/g, '\r\n');
    const next = prepareScaleupInventory(crlf, change);
    expect(next.split('\n').every((l, i, all) => i === all.length - 1 || l.endsWith('\r'))).toBe(true);
  });

  it('names what stops the scaleup: missing groups, the CA holder not in [etcd], an overlap with new_nodes', () => {
    expect(scaleupInventoryProblems(FIXTURE, change)).toEqual([]);
    expect(scaleupInventoryProblems('[masters]\na\n', change)).toEqual(['the inventory has no [OSEv3:children] group', 'the inventory has no [etcd] group']);
    expect(scaleupInventoryProblems(FIXTURE, { ...change, first: 'node-0.example.com' })).toEqual([
      '[etcd] does not list node-0.example.com, the live member holding /etc/etcd/ca that must come first',
    ]);
    expect(scaleupInventoryProblems(`${FIXTURE}\n[new_nodes]\netcd-0.example.com\n`, change)[0]).toMatch(/also in \[new_nodes\]/);
  });

  it('refuses a new host name that is no hostname', () => {
    expect(() => prepareScaleupInventory(FIXTURE, { ...change, add: 'a b' })).toThrow(InvalidInputError);
  });
});
