// Exact member matching: by ID, name, or peer URL, never by substring. An IP `10.0.0.1` must not
// match `10.0.0.12`, `master-1` must not match `master-10`.

export interface MemberLike {
  id: string;
  name: string;
  peerURLs: string[];
}

export interface HostLike {
  name: string;
  hostname: string;
  ip: string;
}

/** The members that `wanted` names exactly: member ID, member name, peer URL, or a host's name/hostname/IP. */
export function matchMembers<M extends MemberLike>(members: M[], wanted: { text: string; host?: HostLike }): M[] {
  const text = wanted.text.trim().toLowerCase();
  const id = /^[0-9a-f]{1,16}$/.test(text) ? text.padStart(16, '0') : null;
  const host = wanted.host;
  return members.filter((m) => {
    if (id !== null && m.id === id) return true;
    if (m.name !== '' && m.name.toLowerCase() === text) return true;
    if (m.peerURLs.some((u) => u.toLowerCase() === text)) return true;
    if (!host) return false;
    if (m.name !== '' && (m.name === host.hostname || m.name === host.name)) return true;
    return m.peerURLs.some((u) => peerHost(u) === host.ip || peerHost(u) === host.hostname);
  });
}

/** The host part of `https://host:port`, or null. */
export function peerHost(url: string): string | null {
  const match = /^https?:\/\/([^/:]+):\d+\/?$/.exec(url);
  return match ? (match[1] ?? null) : null;
}
