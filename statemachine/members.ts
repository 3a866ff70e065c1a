// Several failed members in one run: the per-member part of the workflow runs once per member, as a loop
// over the same states in both engines. The member being worked on is in the context's own per-member
// fields (MEMBER_FIELDS), so every step reads it as it reads the only member of a one-member run; the
// others wait in `members`. Three loops, in this order (spec.ts):
//   prepare: certificates, ports and package of each replacement, before any membership change;
//   remove:  member remove, stop and back up each failed member, each removal checked against quorum;
//   add:     configure, add, start (and promote) each new member, healthy before the next add.
// The first step of a loop's body enters the loop (enterLoop): it writes the member it left back into its
// slot, loads the next one and says whether another follows (`anotherMember`, read by the loop's choice).
// Deterministic on its input, so a retry or a resumed run that repeats the step loads the same member.
// Pure: no side effects.

import { clientUrl, peerUrl } from './cluster.ts';
import type { MemberPhase, MemberRef, MemberSlot, WorkflowContext } from './context.ts';

/** The context fields that belong to one member: loaded from its slot, written back to it. */
export const MEMBER_FIELDS = [
  'failedHost',
  'replacement',
  'replacementChoice',
  'failedMember',
  'failureConfirmation',
  'failedMemberRemoved',
  'failedHostReachable',
  'backupKey',
  'newMemberVersion',
  'initialCluster',
  'bundleKey',
  'newMemberId',
  'addedAsLearner',
  'memberAdded',
  'memberAddedAt',
  'newMemberStartedAt',
] as const satisfies ReadonlyArray<keyof MemberSlot & keyof WorkflowContext>;

/** The first step of each of the replacement's loops' bodies, per phase (the manual add method's; the scaleup playbook replaces one member only). */
export const LOOP_ENTRY: Readonly<Record<Exclude<MemberPhase, 'readd'>, string>> = {
  prepare: 'IssueCertificates',
  remove: 'RemoveFailedMember',
  add: 'ConfigureNewMember',
};

/** The tasks that work on one member (the loops' bodies, and the compensation of the member that did not join). */
export const PER_MEMBER_TASKS: readonly string[] = [
  'IssueCertificates',
  'VerifyCertificates',
  'OpenEtcdPorts',
  'InstallEtcd',
  'RemoveFailedMember',
  'StopFailedMember',
  'BackUpFailedMemberData',
  'ConfigureNewMember',
  'AddMember',
  'StartNewMember',
  'UpdateInventory',
  'AwaitSnapshot',
  'PromoteNewMember',
  'VerifyClusterHealth',
  'CompensateNewMember',
];

/** Whether the run replaces more than one member. */
export function replacesSeveral(context: Pick<WorkflowContext, 'members'>): boolean {
  return (context.members?.length ?? 0) > 1;
}

/** The member fields of the context as they stand (absent fields stay absent). */
function fieldsOf(context: Partial<WorkflowContext>): Partial<MemberSlot> {
  const out: Record<string, unknown> = {};
  for (const field of MEMBER_FIELDS) if (context[field] !== undefined) out[field] = context[field];
  return out as Partial<MemberSlot>;
}

/** The failed members of the run, each as its slot stands (the one member of a one-member run included). */
export function allSlots(context: WorkflowContext): MemberSlot[] {
  if (replacesSeveral(context)) return currentSlots(context);
  const asked = context.request.replacement;
  // Before ValidateInput has made a slot of each: the other members as the request names them.
  const others = (context.request.also ?? []).map((a) => ({ failed: a.failed, ...(a.replacement !== undefined ? { asked: a.replacement } : {}) }));
  return [{ failed: context.request.failed, ...(asked !== undefined ? { asked } : {}), ...fieldsOf(context) }, ...others];
}

/** Every member, the one being worked on written back into its slot from the context. */
export function currentSlots(context: WorkflowContext): MemberSlot[] {
  const members = context.members ?? [];
  const index = context.memberIndex ?? 0;
  return members.map((slot, i) =>
    i === index ? { failed: slot.failed, ...(slot.asked !== undefined ? { asked: slot.asked } : {}), ...fieldsOf(context) } : slot,
  );
}

/** The context fields that make `slot` the member being worked on: every member field, absent ones cleared. */
export function loadSlot(slot: MemberSlot): Partial<WorkflowContext> {
  const out: Record<string, unknown> = {};
  for (const field of MEMBER_FIELDS) out[field] = slot[field];
  return out as Partial<WorkflowContext>;
}

/** A new member this run added and started, as a survivor the next member's steps talk to and wait for. */
export function joinedAsSurvivor(slot: MemberSlot): MemberRef | null {
  if (slot.memberAdded !== true || !slot.newMemberId || !slot.replacement || !slot.newMemberStartedAt) return null;
  return { id: slot.newMemberId, name: slot.replacement.hostname, peerURL: peerUrl(slot.replacement), clientURL: clientUrl(slot.replacement) };
}

/**
 * What the first step of a loop's body adds to the context before it runs: entering the loop loads the first
 * member; coming round again (the phase is already this one) loads the next. In the add loop (and the
 * restore's re-add loop), the member that has just joined counts among the survivors from then on. Null
 * for a run that replaces one member; the re-add loop loads its members however many there are.
 */
export function enterLoop(context: WorkflowContext, phase: MemberPhase): Partial<WorkflowContext> | null {
  if (!replacesSeveral(context) && !(phase === 'readd' && (context.members?.length ?? 0) > 0)) return null;
  const slots = currentSlots(context);
  const again = context.memberPhase === phase;
  const index = again ? (context.memberIndex ?? 0) + 1 : 0;
  const slot = slots[index];
  if (!slot) throw new Error(`the ${phase} loop came round after its last member (${slots.length})`);
  let survivors = context.survivors;
  if ((phase === 'add' || phase === 'readd') && again) {
    const joined = joinedAsSurvivor(slots[index - 1]!);
    if (joined && !(survivors ?? []).some((s) => s.id === joined.id)) survivors = [...(survivors ?? []), joined];
  }
  return {
    members: slots,
    memberIndex: index,
    memberPhase: phase,
    anotherMember: index + 1 < slots.length,
    ...loadSlot(slot),
    ...(survivors ? { survivors } : {}),
  };
}

/** How a member of the run is named in its steps' details and records: `master-3 → etcd-spare-0 (1 of 2)`. */
export function slotLabel(slot: MemberSlot, index: number, count: number): string {
  return `${slot.failedHost?.name ?? slot.failed} → ${slot.replacement?.name ?? slot.asked ?? 'a spare'} (${index + 1} of ${count})`;
}

/** The label of the member being worked on (slotLabel). */
export function memberLabel(context: WorkflowContext): string {
  const index = context.memberIndex ?? 0;
  const slot = context.members?.[index] ?? { failed: context.request.failed };
  return slotLabel({ ...slot, ...fieldsOf(context) }, index, context.members?.length ?? 1);
}

/** Every failed member's ID the run knows of (all of them, for a run that replaces several). */
export function failedMemberIds(context: WorkflowContext): string[] {
  return allSlots(context).flatMap((s) => (s.failedMember ? [s.failedMember.id] : []));
}

/** Every failed host's name the run knows of. */
export function failedHostNames(context: WorkflowContext): string[] {
  return allSlots(context).flatMap((s) => (s.failedHost ? [s.failedHost.name] : []));
}

/** The member a per-member step worked on, for its record; null outside the loops or in a one-member run. */
export function memberOfStep(task: string, context: WorkflowContext): string | null {
  if (!replacesSeveral(context) || !PER_MEMBER_TASKS.includes(task)) return null;
  return memberLabel(context);
}

/**
 * The member a per-member step worked on when it failed before returning: the first step of a loop's body
 * had loaded the next member (enterLoop) when it failed, the others the member of their input.
 */
export function memberOfFailedStep(task: string, input: WorkflowContext): string | null {
  if (!replacesSeveral(input)) return null;
  const phase = (Object.keys(LOOP_ENTRY) as Array<keyof typeof LOOP_ENTRY>).find((p) => LOOP_ENTRY[p] === task);
  let entered: Partial<WorkflowContext> | null = null;
  if (phase) {
    try {
      entered = enterLoop(input, phase);
    } catch {
      entered = null; // the loop came round after its last member: the input's member
    }
  }
  return memberOfStep(task, { ...input, ...entered });
}

/**
 * The member of a per-member step recorded without one, in a run that replaces several now: the step ran
 * while the run still had one member, before it took others in (ConfirmMemberFailed), so it was the first
 * member's. Null otherwise.
 */
export function memberBeforeTakeIn(task: string, context: WorkflowContext): string | null {
  if (!replacesSeveral(context) || !PER_MEMBER_TASKS.includes(task)) return null;
  const slots = currentSlots(context);
  return slotLabel(slots[0]!, 0, slots.length);
}

// Many signals, one run ---------------------------------------------------------------------------

const identity = (text: string) => text.trim().toLowerCase();

/** Every identity of one failed member, lower case: as the request named it, its host's name, hostname and IP, and its member's ID once known. */
function identitiesOf(slot: MemberSlot): string[] {
  const out = new Set<string>();
  for (const value of [slot.failed, slot.failedHost?.name, slot.failedHost?.hostname, slot.failedHost?.ip, slot.failedMember?.id]) {
    if (typeof value === 'string' && value.trim() !== '') out.add(identity(value));
  }
  return [...out];
}

/** Every identity of every failed member the run replaces (identitiesOf): a signal naming any of them is covered. */
export function coveredIdentities(context: WorkflowContext): string[] {
  return [...new Set(allSlots(context).flatMap(identitiesOf))];
}

/** The failed members a run asks for, each by every identity it has (identitiesOf). */
export function askedIdentities(context: WorkflowContext): string[][] {
  return allSlots(context).map(identitiesOf);
}

/** Whether a run that covers `covers` replaces every member of `asked`: each by one identity at least. */
export function coversAll(covers: readonly string[] | undefined, asked: readonly (readonly string[])[]): boolean {
  const have = new Set((covers ?? []).map(identity));
  return asked.length > 0 && asked.every((ids) => ids.some((id) => have.has(identity(id))));
}

/** The failed members a run asks for, with the replacement asked for each: what it leaves on a holder's lock as a join request. */
export function askedMembers(context: WorkflowContext): Array<{ failed: string; replacement?: string }> {
  return allSlots(context).map((slot) => ({
    failed: slot.failedHost?.name ?? slot.failed,
    ...(slot.asked !== undefined ? { replacement: slot.asked } : {}),
  }));
}
