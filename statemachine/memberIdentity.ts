// Which members of the cluster a host is, by any identity etcd knows it by: member name (etcd names a
// member after its host's hostname), peer URL, client URL. Pure: the steps feed it what they observed.
// A replacement that is a member by any of these is refused before anything changes (issue 15).

import { peerHost } from './matchMember.ts';

export interface IdentifiableMember {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
}

export interface IdentifiableHost {
  name: string;
  hostname: string;
  ip: string;
}

/** How a member is tied to a host: the first identity that matches, for the refusal message. */
export interface MemberIdentityMatch<M> {
  member: M;
  by: 'name' | 'peer URL' | 'client URL';
  value: string;
}

/** The members `host` is, by name, peer URL or client URL (exact, case-insensitive host parts). */
export function membersOfHost<M extends IdentifiableMember>(members: M[], host: IdentifiableHost): Array<MemberIdentityMatch<M>> {
  const names = new Set([host.name, host.hostname, host.ip].map((n) => n.toLowerCase()));
  const matches: Array<MemberIdentityMatch<M>> = [];
  for (const member of members) {
    const urlHit = (urls: string[]) => urls.find((u) => names.has((peerHost(u) ?? '').toLowerCase()));
    const peer = urlHit(member.peerURLs);
    const client = urlHit(member.clientURLs);
    if (member.name !== '' && names.has(member.name.toLowerCase())) matches.push({ member, by: 'name', value: member.name });
    else if (peer) matches.push({ member, by: 'peer URL', value: peer });
    else if (client) matches.push({ member, by: 'client URL', value: client });
  }
  return matches;
}

/** A member ID as an operator may type it: 1-16 hex digits, normalised to etcd's 16. */
export function asMemberId(text: string): string | null {
  const t = text.trim().toLowerCase();
  return /^[0-9a-f]{1,16}$/.test(t) ? t.padStart(16, '0') : null;
}

/** The host part of an etcd URL an operator typed (`https://10.0.0.5:2380`), or null when it is no URL. */
export function hostOfUrl(text: string): string | null {
  return peerHost(text.trim().toLowerCase());
}
