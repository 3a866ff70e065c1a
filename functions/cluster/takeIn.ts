// Many signals, one run: at its second observation (ConfirmMemberFailed) a run closes the join requests
// left on its lock by runs waiting for it (AcquireLock) and takes in every failed member they ask for
// that it does not cover yet and that does not answer now. Each becomes a member slot of this run
// (statemachine/members.ts), with its replacement: the one the waiting run named, or the spare pool's
// next free host. The run then prepares the new replacements (the prepare loop) and observes every
// member again, a grace window after a member that still answered at the first observation, before any
// removal (IsMemberTakenIn). The waiting runs then find themselves covered and end Covered.
//
// Nothing is taken in where the run cannot carry it: the scaleup playbook and a launched host replace one
// member per run, a CA host needs a run of its own, and at most MAX_FAILED_MEMBERS members go in one run.
// A request declined stays a waiting run: it starts once the lock is free.

import type { JoinRequest } from '../ports.ts';
import type { MemberSlot, WorkflowContext } from '../../statemachine/context.ts';
import { allSlots, coveredIdentities, coversAll, loadSlot } from '../../statemachine/members.ts';
import { matchMembers } from '../../statemachine/matchMember.ts';
import { membersOfHost } from '../../statemachine/memberIdentity.ts';
import { chooseReplacement, findHost, MAX_FAILED_MEMBERS } from '../steps/ValidateInput.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import type { StepResult } from '../workflow/step.ts';
import { inventoryOf } from './need.ts';
import { observe } from './observe.ts';

/** Why the run takes nothing in, whatever is asked; null when it may. */
export function whyTakesNoneIn(context: WorkflowContext): string | null {
  if (context.addByPlaybook) return 'the scaleup playbook replaces one member per run';
  const slots = allSlots(context);
  if (slots.some((s) => s.replacementChoice === 'launched')) return 'a run that launches its replacement replaces one member';
  if (slots.some((s) => s.failedHost?.roles.includes('ca'))) return 'a run that replaces the CA host replaces it alone';
  if (context.alreadyReplaced) return 'this run only finishes what an earlier run left';
  return null;
}

/**
 * The output that takes the waiting runs' members in, or null when none is taken (the run goes on to its
 * own second observation). `detail` says what was taken in and what declined, and why.
 */
export async function takeIn(context: WorkflowContext, deps: StepDeps): Promise<StepResult | null> {
  const joins = await deps.lock.closeJoins(context.request.cluster, context.runId);
  const covered = coveredIdentities(context);
  const wanted = joins.flatMap((join) => join.failed.map((asked) => ({ join, asked })).filter(({ asked }) => !coversAll(covered, [[asked.failed]])));
  if (wanted.length === 0) return null;
  const blocked = whyTakesNoneIn(context);
  const declined: string[] = [];
  const decline = (join: JoinRequest, failed: string, why: string) => declined.push(`${failed} (run ${join.runId}): ${why}`);
  if (blocked) {
    for (const { join, asked } of wanted) decline(join, asked.failed, blocked);
    deps.log(`join requests declined: ${declined.join('; ')}`);
    return null;
  }

  const inventory = inventoryOf(context);
  const seen = await observe(context, deps);
  const slots = allSlots(context);
  const added: Array<{ slot: MemberSlot; join: JoinRequest; silentBefore: boolean }> = [];
  const hostsInRun = () => [...slots, ...added.map((a) => a.slot)].flatMap((s) => [s.failedHost?.name, s.replacement?.name].filter((n): n is string => !!n));
  for (const { join, asked } of wanted) {
    if (slots.length + added.length >= MAX_FAILED_MEMBERS) {
      decline(join, asked.failed, `at most ${MAX_FAILED_MEMBERS} failed members in one run`);
      continue;
    }
    const host = findHost(inventory, asked.failed);
    if (!host) {
      decline(join, asked.failed, 'no host of the cluster by that name');
      continue;
    }
    if (added.some((a) => a.slot.failedHost?.name === host.name)) continue; // two runs asked for the same member
    if (host.roles.includes('ca')) {
      decline(join, asked.failed, 'the CA host is replaced in a run of its own');
      continue;
    }
    const matches = matchMembers(seen.members, { text: host.name, host });
    if (matches.length !== 1) {
      decline(join, asked.failed, matches.length === 0 ? 'not a member' : `matches ${matches.length} members`);
      continue;
    }
    const member = matches[0]!;
    if (seen.health.find((h) => h.id === member.id)?.healthy) {
      decline(join, asked.failed, 'it answers at this observation');
      continue;
    }
    let choice;
    try {
      choice = await chooseReplacement(inventory, asked.replacement ?? null, host, deps, async () => seen.members, hostsInRun());
    } catch (error) {
      decline(join, asked.failed, error instanceof Error ? error.message : String(error));
      continue;
    }
    const replacement = choice.host;
    if (!replacement || choice.choice === 'launched') {
      decline(join, asked.failed, 'no free host of the spare pool is left for it, and this run launches none');
      continue;
    }
    if (hostsInRun().includes(replacement.name) || membersOfHost(seen.members, replacement).length > 0) {
      decline(join, asked.failed, `its replacement ${replacement.name} is a member, or another member's replacement in this run`);
      continue;
    }
    added.push({
      slot: {
        failed: host.name,
        ...(asked.replacement !== undefined ? { asked: asked.replacement } : {}),
        failedHost: host,
        replacement,
        replacementChoice: choice.choice,
      },
      join,
      silentBefore: (context.silentVoters ?? []).includes(member.id),
    });
  }
  if (declined.length > 0) deps.log(`join requests declined: ${declined.join('; ')}`);
  if (added.length === 0) return null;

  // The prepare loop comes round again for the new slots: the last slot prepared stays loaded, the loop's
  // entry (enterLoop) loads the next.
  const members = [...slots, ...added.map((a) => a.slot)];
  const last = slots.length - 1;
  // A member that still answered at the first observation is confirmed by two observations a grace window apart too.
  const again = added.some((a) => !a.silentBefore);
  const after = again ? new Date(deps.now().getTime() + context.options.graceSeconds * 1000).toISOString() : context.confirmFailureAfter;
  const words = added.map((a) => `${a.slot.failedHost!.name} → ${a.slot.replacement!.name} (asked by run ${a.join.runId}, started by ${a.join.startedBy})`);
  return {
    output: {
      members,
      memberIndex: last,
      memberPhase: 'prepare',
      ...loadSlot(slots[last]!),
      takenIn: true,
      ...(after ? { confirmFailureAfter: after } : {}),
    },
    detail:
      `took in ${words.join(', ')}: ${added.length === 1 ? 'its replacement is' : 'their replacements are'} prepared, then every member is observed again` +
      `${again ? ' after the grace window' : ''}, before any removal${declined.length > 0 ? `; declined ${declined.join('; ')}` : ''}`,
  };
}
