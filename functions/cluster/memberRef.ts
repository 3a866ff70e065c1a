// How the run state refers to an etcd member: its ID, name and URLs.

import type { EtcdMember, Inventory } from '../ports.ts';
import type { MemberRef } from '../../statemachine/context.ts';
import { clientUrlOfMember } from '../../statemachine/cluster.ts';

export function memberRef(member: EtcdMember, inventory: Inventory): MemberRef {
  return { id: member.id, name: member.name, peerURL: member.peerURLs[0] ?? '', clientURL: clientUrlOfMember(inventory, member) ?? '' };
}
