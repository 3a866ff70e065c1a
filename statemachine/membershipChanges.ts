// What a succeeded run changed in the cluster's membership, host by host, read from its final context: the
// hosts whose member left (a failed member removed and replaced elsewhere) and the hosts that hold a member
// the run added. What a target records after the run, as the inventory reads it later: on AWS the tags
// (functions/adapters/aws/ec2Signals.ts onRunSucceeded), on the sandbox the run records
// (sandbox/adapters/deps.ts, when no etcd answers a member list). The same for a run that replaces one member,
// several (every slot of `members`), and a restore (the host it forced or restored the cluster on, and each
// former member re-added on its own host or on a spare). Pure.

import type { Host } from '../functions/ports.ts';
import type { MemberSlot, WorkflowContext } from './context.ts';
import { currentSlots } from './members.ts';

export interface MembershipChanges {
  /** Hosts that hold no member any more: each failed member's host the run removed it from, re-added nowhere on it. */
  left: Host[];
  /** Hosts that hold a member the run added (or the restore's cluster of one). */
  joined: Host[];
}

const isHost = (value: unknown): value is Host =>
  typeof value === 'object' && value !== null && typeof (value as Host).name === 'string' && Array.isArray((value as Host).roles);

/** The run's member slots: every slot of a run over several members, else its only member's fields. */
function slotsOf(context: WorkflowContext): MemberSlot[] {
  if (Array.isArray(context.members) && context.members.length > 0) return currentSlots(context);
  return [context as unknown as MemberSlot];
}

export function membershipChanges(context: WorkflowContext): MembershipChanges {
  const joined = new Map<string, Host>();
  const left = new Map<string, Host>();
  const restored = (context as { restoredMember?: { host?: unknown } }).restoredMember?.host;
  const restoredOn = typeof restored === 'string' ? context.inventory?.hosts.find((h) => h.name === restored) : undefined;
  if (restoredOn) joined.set(restoredOn.name, restoredOn);
  for (const slot of slotsOf(context)) {
    const added = slot.memberAdded === true || typeof slot.newMemberId === 'string';
    if (added && isHost(slot.replacement)) joined.set(slot.replacement.name, slot.replacement);
    if (slot.failedMemberRemoved === true && isHost(slot.failedHost)) left.set(slot.failedHost.name, slot.failedHost);
  }
  for (const name of joined.keys()) left.delete(name);
  return { left: [...left.values()], joined: [...joined.values()] };
}
