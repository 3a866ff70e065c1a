// The etcd port a step talks to the cluster through: over the survivors, never through the failed host.

import type { EtcdClusterPort, Host } from '../ports.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { clientUrl, hostOfMember } from '../../statemachine/cluster.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import { inventoryOf } from './need.ts';
import { failedHostNames } from '../../statemachine/members.ts';

/** Hosts to run etcdctl on: etcd hosts that are not the failed one, then the replacement once it has joined. */
export function viaHosts(context: WorkflowContext): Host[] {
  const inventory = inventoryOf(context);
  // Every failed host of the run: the one being worked on, and the others of a run that replaces several.
  const failed = new Set([...(context.failedHost ? [context.failedHost.name] : []), ...failedHostNames(context)]);
  const fromSurvivors = (context.survivors ?? []).map((s) => hostOfMember(inventory, s)).filter((h): h is Host => h !== undefined);
  const etcdHosts = inventory.hosts.filter((h) => h.roles.includes('etcd'));
  const ordered = [...fromSurvivors, ...etcdHosts].filter((h) => !failed.has(h.name));
  return [...new Map(ordered.map((h) => [h.name, h])).values()];
}

/** A port over the survivors (and the replacement, when asked), never through the failed host. */
export function etcdOf(context: WorkflowContext, deps: StepDeps, options: { includeReplacement?: boolean; via?: Host[] } = {}): EtcdClusterPort {
  const via = viaHosts(context);
  const endpoints = context.survivors && context.survivors.length > 0 ? context.survivors.map((s) => s.clientURL) : via.map(clientUrl);
  if (options.includeReplacement && context.replacement) endpoints.push(clientUrl(context.replacement));
  return deps.etcd(options.via ?? via, endpoints);
}
