// What the workflow knows of a cluster, in one place: its hosts and members, and the lookups every
// step, the plan and the adapters share (a member by ID or by peer URL, the client URL of a member,
// the host a member runs on, started or not). Pure: no port, no side effect.

import { peerHost } from './matchMember.ts';

export type Role = 'master' | 'etcd' | 'ca' | 'installer' | 'spare' | 'node';

/** A host of the cluster, as discovery (EC2 tags) or the sandbox describes it. */
export interface Host {
  /** Short name, e.g. `master-0` or `etcd-spare-0`. */
  name: string;
  /** Fully qualified hostname, e.g. `master-0.sandbox.test`. Certificates and configs name this. */
  hostname: string;
  /** IPv4 address the host's etcd listens on. */
  ip: string;
  roles: Role[];
  /** EC2 instance ID on AWS; absent in the sandbox. */
  instanceId?: string;
}

export interface Inventory {
  cluster: string;
  hosts: Host[];
}

/** A member as `member list` shows it. */
export interface EtcdMember {
  /** 16 lowercase hex digits, as etcdctl prints it. */
  id: string;
  /** Empty while the member is added but not started. */
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export const clientUrl = (host: Pick<Host, 'ip'>): string => `https://${host.ip}:2379`;
export const peerUrl = (host: Pick<Host, 'ip'>): string => `https://${host.ip}:2380`;
/** Masters and flanneld name etcd by hostname, as the installer writes them. */
export const clientUrlByHostname = (hostname: string): string => `https://${hostname}:2379`;

/** A member that has started (it has a name); an added member that never started has none. */
export const isStarted = (member: Pick<EtcdMember, 'name'>): boolean => member.name !== '';

export const memberById = <M extends Pick<EtcdMember, 'id'>>(members: readonly M[], id: string): M | undefined => members.find((m) => m.id === id);

/** The member that advertises `peerURL`. */
export const memberByPeerUrl = <M extends Pick<EtcdMember, 'peerURLs'>>(members: readonly M[], peerURL: string): M | undefined =>
  members.find((m) => m.peerURLs.includes(peerURL));

/** The inventory host a member runs on: by peer URL address, or by name. */
export function hostOfMember(inventory: Inventory, member: { name: string; peerURLs?: string[]; peerURL?: string }): Host | undefined {
  const urls = member.peerURLs ?? (member.peerURL ? [member.peerURL] : []);
  const addresses = urls.map(peerHost).filter((a): a is string => a !== null);
  return inventory.hosts.find((h) => addresses.includes(h.ip) || addresses.includes(h.hostname) || (isStarted(member) && member.name === h.hostname));
}

/** Where a member answers clients: its advertised client URL, else (not started yet) its host's; null when neither is known. */
export function clientUrlOfMember(inventory: Inventory, member: Pick<EtcdMember, 'name' | 'peerURLs' | 'clientURLs'>): string | null {
  const advertised = member.clientURLs[0];
  if (advertised) return advertised;
  const host = hostOfMember(inventory, member);
  return host ? clientUrl(host) : null;
}
