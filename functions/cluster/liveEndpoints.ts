// The etcd client URL lists masters and flanneld use must name exactly the live members, by hostname:
// keep the existing order and entries that are live, drop the rest, append live ones that are missing.

import { etcdUrl, parseEtcdUrl } from '../validate.ts';
import { clientUrlByHostname, hostOfMember, type EtcdMember, type Inventory } from '../../statemachine/cluster.ts';
import { etcdOf } from './etcdPort.ts';
import { inventoryOf } from './need.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';

export function liveEndpointList(current: string[], liveHostnames: string[]): string[] {
  const live = new Set(liveHostnames.map((h) => h.toLowerCase()));
  const kept = current.filter((url, i) => live.has(parseEtcdUrl(`urls[${i}]`, url).host.toLowerCase()));
  const keptHosts = new Set(kept.map((url, i) => parseEtcdUrl(`urls[${i}]`, url).host.toLowerCase()));
  const added = liveHostnames.filter((h) => !keptHosts.has(h.toLowerCase())).map((h) => etcdUrl('url', clientUrlByHostname(h)));
  return [...new Set([...kept, ...added])];
}

/** Hostnames of the members that have started (a member added but never started has no name yet). */
export function startedMemberHostnames(inventory: Inventory, members: EtcdMember[]): string[] {
  return members.filter((m) => m.name !== '').map((m) => hostOfMember(inventory, m)?.hostname ?? m.name);
}

/**
 * Hostnames of the started members as they stand now (after VerifyClusterHealth every member is started;
 * on compensation a member added but never started is no endpoint of anyone's). The list VerifyClusterHealth
 * verified is that answer as long as no membership change followed it: it was verified for the new member
 * the context still names, and every change of a run (a remove, an add, a compensation) belongs to a new
 * member that either has another id or none yet. Anything else asks etcd.
 */
export async function liveMemberHostnames(context: WorkflowContext, deps: StepDeps): Promise<string[]> {
  const verified = context.verifiedMembers;
  if (verified && context.newMemberId !== undefined && verified.newMemberId === context.newMemberId) return verified.hostnames;
  return startedMemberHostnames(inventoryOf(context), await etcdOf(context, deps, { includeReplacement: true }).memberList());
}
