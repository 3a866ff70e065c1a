// Other voting members that do not answer either, besides the failed members a run names. etcd adds a
// member only while every voting member answers, so a run cannot replace its members while another is
// silent. At the first observation the run still goes on when it could take that member in (quorum holds
// with every silent member removed, one at a time, and the run can carry them: takeIn.ts): a signal for it
// may join the run before its second observation (ConfirmMemberFailed takes it in). The second observation
// refuses any it has not taken in; so does the first when nothing could be taken in.

import { RefusedError } from '../errors.ts';
import type { EtcdMember } from '../ports.ts';
import type { MemberHealth } from '../../statemachine/quorum.ts';
import { quorumForRemovals } from './assessSeveral.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import { hostOfMember } from '../../statemachine/cluster.ts';
import { MAX_FAILED_MEMBERS } from '../steps/ValidateInput.ts';
import { inventoryOf } from './need.ts';
import { whyTakesNoneIn } from './takeIn.ts';

/**
 * The silent members' IDs the run goes on with at the first observation; `refusal` (thrown) at the second,
 * when the run cannot take them in (`canTakeIn` false: see takeIn.ts), or when removing `failedIds` and
 * every silent member, one at a time, would cost quorum.
 */
export function silentVoters(
  observation: 'first' | 'second',
  silent: readonly EtcdMember[],
  failedIds: readonly string[],
  health: MemberHealth[],
  canTakeIn: boolean,
  refusal: () => RefusedError,
): string[] {
  if (silent.length === 0) return [];
  if (observation === 'second' || !canTakeIn || !quorumForRemovals(health, [...failedIds, ...silent.map((m) => m.id)]).ok) throw refusal();
  return silent.map((m) => m.id);
}

/**
 * Whether the run could take in every silent member: it can carry more members (whyTakesNoneIn), none of
 * them is the CA host (replaced in a run of its own), and the run stays within MAX_FAILED_MEMBERS.
 */
export function canTakeIn(context: WorkflowContext, silent: readonly EtcdMember[], failedCount: number): boolean {
  const inventory = inventoryOf(context);
  return (
    whyTakesNoneIn(context) === null &&
    failedCount + silent.length <= MAX_FAILED_MEMBERS &&
    silent.every((m) => !hostOfMember(inventory, m)?.roles.includes('ca'))
  );
}

/** How a detail names the silent members the first observation goes on with. */
export function describeSilentVoters(silent: readonly EtcdMember[]): string {
  if (silent.length === 0) return '';
  return (
    `; member(s) ${silent.map((m) => `${m.name || 'unstarted'} (${m.id})`).join(', ')} do not answer either: ` +
    'the run goes on so that a run for them may join it, and its second observation refuses them unless taken in'
  );
}
