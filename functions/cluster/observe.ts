// One observation of the cluster: membership, who answers and who leads, seen through the survivors
// (and, when that view is partial, through each member host on its own).

import { NO_LEADER, type ClusterView, type EndpointStatusResult, type EtcdClusterPort, type EtcdMember } from '../ports.ts';
import type { MemberRef, WorkflowContext } from '../../statemachine/context.ts';
import { clientUrl, clientUrlOfMember, hostOfMember } from '../../statemachine/cluster.ts';
import { quorumOf, type MemberHealth } from '../../statemachine/quorum.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import { etcdOf, viaHosts } from './etcdPort.ts';
import { compareEtcdVersions } from './etcdVersion.ts';
import { inventoryOf } from './need.ts';
import { replacesSeveral } from '../../statemachine/members.ts';

export interface Observation {
  members: EtcdMember[];
  statuses: Map<string, EndpointStatusResult>;
  health: MemberHealth[];
  leaderIds: string[];
  /** The release of the etcdctl that took the view, where one did. */
  etcdctlVersion?: string;
}

/**
 * Member list plus one status request per member: who answers, who leads, asked together (one host
 * command through etcdctl) for the endpoints known before the list. Members in `assumeDown`
 * (the failed one, already observed down twice) are not asked again and count as not answering.
 *
 * Asked through the first member host that runs etcdctl; when that view shows no quorum or no single
 * leader, each member host is asked on its own and the view in which the most voting members answer
 * wins. A host cut off from the others (a network partition) reaches only its own etcd: its view alone
 * would report a healthy cluster as one that lost quorum.
 */
export async function observe(context: WorkflowContext, deps: StepDeps, options: { assumeDown?: string[] } = {}): Promise<Observation> {
  const first = await observeThrough(context, deps, etcdOf(context, deps), options);
  if (hasQuorumAndLeader(first)) return first;
  let best = first;
  // The other views are taken through the hosts of the members the first view lists, and ask those
  // members only: an inventory host that is no member (a former member after a restore of quorum,
  // fenced) has no view to give, and asking it or its endpoint costs a dial timeout per view.
  const inventory = inventoryOf(context);
  const memberHosts = new Set(first.members.flatMap((m) => hostOfMember(inventory, m)?.name ?? []));
  const via = viaHosts(context).filter((h) => memberHosts.size === 0 || memberHosts.has(h.name));
  const assumedDown = new Set(options.assumeDown ?? []);
  const endpoints = first.members.filter((m) => !assumedDown.has(m.id)).flatMap((m) => clientUrlOfMember(inventory, m) ?? []);
  for (const host of via) {
    let view: Observation;
    try {
      view = await observeThrough(context, deps, etcdOf(context, deps, { via: [host] }), { ...options, ...(endpoints.length > 0 ? { known: endpoints } : {}) });
    } catch {
      continue; // this host cannot answer at all: the other views decide
    }
    if (answeringVoters(view) > answeringVoters(best)) best = view;
    if (hasQuorumAndLeader(best)) break;
  }
  return best;
}

/** An observation once the failure is confirmed: the failed member (observed down twice) is not asked again. */
export function observeWithoutFailed(context: WorkflowContext, deps: StepDeps): Promise<Observation> {
  return observe(context, deps, { assumeDown: context.failedMember ? [context.failedMember.id] : [] });
}

function answeringVoters(observation: Observation): number {
  return observation.health.filter((h) => h.healthy && !h.isLearner).length;
}

function hasQuorumAndLeader(observation: Observation): boolean {
  const voters = observation.health.filter((h) => !h.isLearner).length;
  return answeringVoters(observation) >= quorumOf(voters) && observation.leaderIds.length === 1;
}

async function observeThrough(
  context: WorkflowContext,
  deps: StepDeps,
  etcd: EtcdClusterPort,
  options: { assumeDown?: string[]; known?: string[] },
): Promise<Observation> {
  const down = new Set(options.assumeDown ?? []);
  const statusEndpoints = options.known ?? endpointsKnownBefore(context, down);
  const quick = finallyGone(context).filter((e) => statusEndpoints.includes(e));
  const view = await (quick.length > 0 ? etcd.view(statusEndpoints, { quick }) : etcd.view(statusEndpoints));
  return observationOf(context, view, down, etcd);
}

/**
 * Client URLs of the failed member when final evidence reports it gone (EC2: its instance terminated):
 * the observations still ask it, within a short timeout. The evidence is the request's until
 * CheckClusterHealth records it; it names the one failed member of a run that replaces one.
 */
export function finallyGone(context: WorkflowContext): string[] {
  const final = context.failureEvidence ? context.failureEvidence.final : context.request.evidence?.final === true;
  if (!final || replacesSeveral(context)) return [];
  const urls = [context.failedMember?.clientURL ?? '', context.failedHost ? clientUrl(context.failedHost) : ''];
  return [...new Set(urls.filter((url) => url !== ''))];
}

/**
 * The observation a view makes, as observe() reads it: each member healthy when the status at its client
 * URL answers as that member. Members in `down` are not asked. A member whose URL the view did not ask
 * is asked now through `etcd`; without `etcd` (a view a guarded change took) it counts as not answering.
 */
export async function observationOf(context: WorkflowContext, view: ClusterView, down: ReadonlySet<string>, etcd?: EtcdClusterPort): Promise<Observation> {
  const inventory = inventoryOf(context);
  const members = view.members;
  const endpointOf = (m: EtcdMember) => clientUrlOfMember(inventory, m);
  const endpoints = members
    .filter((m) => !down.has(m.id))
    .map(endpointOf)
    .filter((e): e is string => e !== null);
  const statuses = await statusesOf(etcd, endpoints, view.statuses);
  const health = members.map((m) => {
    const endpoint = endpointOf(m);
    const status = endpoint ? statuses.get(endpoint) : undefined;
    const healthy = status !== undefined && !('error' in status) && status.memberId === m.id;
    return { id: m.id, name: m.name, isLearner: m.isLearner, healthy };
  });
  const leaderIds = [...new Set([...statuses.values()].flatMap((s) => ('error' in s || s.leaderId === NO_LEADER ? [] : [s.leaderId])))];
  return { members, statuses, health, leaderIds, ...(view.etcdctlVersion ? { etcdctlVersion: view.etcdctlVersion } : {}) };
}

/**
 * Client URLs of the members, as far as the run knows them before the member list: the survivors, the
 * failed member, every host of the inventory's [etcd] group, and the replacement once it was added.
 * Never those of members assumed down; when one of those is not known by URL, only the members the run
 * knows by ID are asked.
 */
export function endpointsKnownBefore(context: WorkflowContext, down: ReadonlySet<string>): string[] {
  const inventory = inventoryOf(context);
  const refs = [...(context.survivors ?? []), ...(context.failedMember ? [context.failedMember] : [])];
  const urlsOf = (ref: MemberRef) => {
    const host = hostOfMember(inventory, ref);
    return [ref.clientURL, ...(host ? [clientUrl(host)] : [])].filter((url) => url !== '');
  };
  const known = refs.filter((r) => !down.has(r.id)).flatMap(urlsOf);
  const excluded = new Set(refs.filter((r) => down.has(r.id)).flatMap(urlsOf));
  const etcdHosts = inventory.hosts.filter((h) => h.roles.includes('etcd'));
  const added = context.memberAdded && context.replacement ? [context.replacement] : [];
  // A member assumed down whose URL the run does not know could be on any of these hosts: ask none first.
  const downAllKnown = [...down].every((id) => refs.some((r) => r.id === id));
  const guessed = downAllKnown ? [...etcdHosts, ...added].map(clientUrl) : [];
  return [...new Set([...known, ...guessed])].filter((url) => !excluded.has(url));
}

/** The status of each endpoint, in that order: from the view, else asked now (a member the run did not know of). */
async function statusesOf(etcd: EtcdClusterPort | undefined, endpoints: string[], viewed: EndpointStatusResult[]): Promise<Map<string, EndpointStatusResult>> {
  const answers = new Map(viewed.map((s) => [s.endpoint, s]));
  const missing = [...new Set(endpoints.filter((e) => !answers.has(e)))];
  const late = missing.length > 0 && etcd ? await etcd.status(missing) : [];
  for (const s of late) answers.set(s.endpoint, s);
  return new Map(endpoints.flatMap((e) => (answers.has(e) ? [[e, answers.get(e)!] as const] : [])));
}

/** The version string of the oldest member that answered. */
export function oldestVersion(observation: Observation): string | null {
  const versions = [...observation.statuses.values()].flatMap((s) => ('error' in s ? [] : [s.version]));
  return versions.sort(compareEtcdVersions)[0] ?? null;
}
