// Exact member matching: by ID, name, peer URL or the failed host, never by substring or prefix.

import { describe, expect, it } from 'vitest';
import { matchMembers, peerHost, type MemberLike } from '../../statemachine/matchMember.ts';

const mem = (id: string, name: string, ip: string): MemberLike => ({ id: id.padStart(16, '0'), name, peerURLs: [`https://${ip}:2380`] });
const members = [
  mem('a1', 'master-1.example.test', '198.51.100.3'),
  mem('a10', 'master-10.example.test', '198.51.100.34'),
  mem('b1', 'master-11', '198.51.100.30'),
  mem('c', '', '198.51.100.35'),
];
const ids = (found: MemberLike[]) => found.map((m) => m.id.replace(/^0+/, ''));

describe('matchMembers', () => {
  it('matches by member ID, with or without leading zeros, in any case', () => {
    expect(ids(matchMembers(members, { text: 'a1' }))).toEqual(['a1']);
    expect(ids(matchMembers(members, { text: '00000000000000A1' }))).toEqual(['a1']);
    expect(ids(matchMembers(members, { text: 'a' }))).toEqual([]);
  });

  it('matches by exact name, never by prefix or substring', () => {
    expect(ids(matchMembers(members, { text: 'master-1.example.test' }))).toEqual(['a1']);
    expect(ids(matchMembers(members, { text: 'master-11' }))).toEqual(['b1']);
    expect(ids(matchMembers(members, { text: 'master-1' }))).toEqual([]);
    expect(ids(matchMembers(members, { text: 'master' }))).toEqual([]);
    expect(ids(matchMembers(members, { text: 'example.test' }))).toEqual([]);
  });

  it('matches by exact peer URL only', () => {
    expect(ids(matchMembers(members, { text: 'https://198.51.100.3:2380' }))).toEqual(['a1']);
    expect(ids(matchMembers(members, { text: 'https://198.51.100.3:238' }))).toEqual([]);
    expect(ids(matchMembers(members, { text: '198.51.100.3' }))).toEqual([]); // a bare IP needs its host
  });

  it('matches an IP through its host exactly: .3 is not .34, .30 or .35', () => {
    const host = { name: 'master-1', hostname: 'master-1.example.test', ip: '198.51.100.3' };
    expect(ids(matchMembers(members, { text: '198.51.100.3', host }))).toEqual(['a1']);
    const h34 = { name: 'master-10', hostname: 'master-10.example.test', ip: '198.51.100.34' };
    expect(ids(matchMembers(members, { text: '198.51.100.34', host: h34 }))).toEqual(['a10']);
  });

  it('matches by the host short name only when a member carries it as its name', () => {
    const host = { name: 'master-11', hostname: 'master-11.example.test', ip: '198.51.100.99' };
    expect(ids(matchMembers(members, { text: 'master-11', host }))).toEqual(['b1']);
    const m1 = { name: 'master-1', hostname: 'master-1.example.test', ip: '198.51.100.99' };
    expect(ids(matchMembers(members, { text: 'master-1', host: m1 }))).toEqual(['a1']);
  });

  it('an unstarted member (empty name) matches by peer URL, never by an empty name', () => {
    expect(ids(matchMembers(members, { text: '' }))).toEqual([]);
    const host = { name: 'new', hostname: 'new.example.test', ip: '198.51.100.35' };
    expect(ids(matchMembers(members, { text: 'new', host }))).toEqual(['c']);
  });

  it('returns every exact match, so the caller can refuse ambiguity', () => {
    const dup = [...members, mem('d1', 'master-1.example.test', '198.51.100.40')];
    expect(ids(matchMembers(dup, { text: 'master-1.example.test' }))).toEqual(['a1', 'd1']);
  });
});

describe('peerHost', () => {
  it('takes the host of https://host:port and nothing else', () => {
    expect(peerHost('https://198.51.100.3:2380')).toBe('198.51.100.3');
    expect(peerHost('https://master-1.example.test:2380/')).toBe('master-1.example.test');
    expect(peerHost('https://198.51.100.3')).toBeNull();
    expect(peerHost('unix://x:1')).toBeNull();
  });
});
