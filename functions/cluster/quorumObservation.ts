// One observation of a cluster that may have lost quorum (the restore's ObserveQuorumLoss and
// ConfirmQuorumLost): the member list and each member's health, seen through each host as observe.ts
// sees them (the view in which the most voting members answer wins), judged by restorePolicy's
// quorumLoss. When no host can take a view at all (no etcd answers anywhere, no host runs etcdctl),
// every etcd host of the inventory counts as a voting member that does not answer. Read-only.

import { EtcdUnavailableError, HostUnreachableError, RefusedError } from '../errors.ts';
import type { MemberHealth } from '../../statemachine/quorum.ts';
import type { QuorumObservation, RestoreContext } from '../../statemachine/restoreContext.ts';
import { quorumLoss } from '../../statemachine/restorePolicy.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import { inventoryOf } from './need.ts';
import { observe } from './observe.ts';

/** The members' health as one observation sees it; through no host at all, every etcd host silent. */
async function memberHealth(context: RestoreContext, deps: StepDeps): Promise<{ health: MemberHealth[]; through: string }> {
  try {
    const observation = await observe(context, deps);
    return { health: observation.health, through: 'the member list' };
  } catch (error) {
    if (!(error instanceof EtcdUnavailableError) && !(error instanceof HostUnreachableError)) throw error;
    const etcdHosts = inventoryOf(context).hosts.filter((h) => h.roles.includes('etcd'));
    deps.log(
      `no member list could be read through any host (${error.message}): each of the ${etcdHosts.length} etcd hosts counts as a member that does not answer`,
    );
    return { health: etcdHosts.map((h) => ({ id: h.name, name: h.name, isLearner: false, healthy: false })), through: 'no member list (no etcd answers)' };
  }
}

/** One observation: quorum lost (with when it was seen), or RefusedError naming why not, with nothing changed. */
export async function observeQuorumLoss(context: RestoreContext, deps: StepDeps): Promise<QuorumObservation & { through: string }> {
  const { health, through } = await memberHealth(context, deps);
  const verdict = quorumLoss(health);
  if (!verdict.lost) throw new RefusedError(`restore-quorum refused: ${verdict.reason}`);
  return { at: deps.now().toISOString(), verdict, through };
}
