// ChooseRestorePoint: the restore-quorum run's choice of what the cluster is forced from (OpenShift 3.11
// "Restoring etcd quorum"). Read-only. DescribeRestorePoint.sh runs on every member host that answers
// (an answering etcd's endpoint status, or a stopped member's /var/lib/etcd); the cluster is observed
// through a host whose etcd answered; statemachine/restorePolicy.ts then refuses a cluster whose quorum
// is back (or that misses one member: `run` replaces it), and chooses the survivor: the best restore
// point, the member `--from` names, the snapshot `--snapshot` names, or the newest verified snapshot of a
// run when no member has usable data. It states what the choice loses against the newest data seen, and
// whether the approval is waived: only under a condition the cluster config names and that holds
// (restorePolicy.ts approvalNeeded); without the config's waivers, never.
//
// The waiver's facts are read here, the last look before the approval is asked or skipped, over the
// former members this step has just found (those on hosts outside the inventory's etcd group included):
// EC2's state of each one's instance (StepDeps.instances, DescribeInstances), kept in the context
// (instanceStates) and so in the run record. Where the target has no instances (the sandbox), an instance
// is not listed, or EC2 cannot be asked, the state is not known and the approval is required.

import { errorMessage, HostUnreachableError, InvalidInputError, RefusedError, ScriptFailedError } from '../errors.ts';
import { inventoryOf } from '../cluster/need.ts';
import { observe, type Observation } from '../cluster/observe.ts';
import type { RestoreStep } from '../cluster/restoreFacts.ts';
import { runScript } from '../hosts/hostScript.ts';
import type { Host, Inventory } from '../ports.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import { hostOfMember } from '../../statemachine/cluster.ts';
import type { MemberHealth } from '../../statemachine/quorum.ts';
import type { FormerMember, RestoreContext } from '../../statemachine/restoreContext.ts';
import {
  approvalNeeded,
  chooseSurvivor,
  expectedLoss,
  quorumLoss,
  verifiedSnapshots,
  type ApprovalVerdict,
  type DescribedRestorePoint,
  type FormerMemberState,
  type RestorePoint,
  type Survivor,
  type UnreadHost,
  type VerifiedSnapshot,
} from '../../statemachine/restorePolicy.ts';

/** DescribeRestorePoint.sh copies the backend before it reads it: a large one takes a while. */
const DESCRIBE_SECONDS = 300;

async function describeHost(deps: StepDeps, host: Host): Promise<RestorePoint | UnreadHost> {
  try {
    const out = await runScript<DescribedRestorePoint>(deps.runner, { host, script: 'DescribeRestorePoint', timeoutSeconds: DESCRIBE_SECONDS });
    return { ...out, host: host.name, hostname: host.hostname, ip: host.ip };
  } catch (error) {
    // A host that runs nothing, or whose backend etcdctl rejects, has no restore point; the loss names it.
    // Any other answer (not ready yet: an etcd that runs and answers nowhere) is the step's to retry.
    if (error instanceof HostUnreachableError) return { host: host.name, reason: `unreachable: ${error.message}` };
    if (error instanceof ScriptFailedError) return { host: host.name, reason: error.stderrTail || `DescribeRestorePoint exited ${error.scriptExitCode}` };
    throw error;
  }
}

const isPoint = (x: RestorePoint | UnreadHost): x is RestorePoint => 'etcd' in x;

/**
 * The cluster as its members see it, asked through the hosts whose etcd answered DescribeRestorePoint
 * first (the inventory reordered for this observation only); null when no etcd answers anywhere or the
 * view cannot be taken.
 */
async function observeThroughAnswering(context: RestoreContext, deps: StepDeps, points: readonly RestorePoint[]): Promise<Observation | null> {
  const inventory = inventoryOf(context);
  const answering = new Set(points.filter((p) => p.etcd === 'running').map((p) => p.host));
  if (answering.size === 0) return null;
  const hosts = [...inventory.hosts.filter((h) => answering.has(h.name)), ...inventory.hosts.filter((h) => !answering.has(h.name))];
  try {
    return await observe({ ...context, inventory: { ...inventory, hosts } }, deps);
  } catch (error) {
    deps.log(`no member list could be read through ${[...answering].join(', ')}: ${error instanceof Error ? error.message : String(error)}`);
    return null;
  }
}

/** Every member with the host it runs on; RefusedError for a member on no known host, which could never be fenced. */
function membersOn(inventory: Inventory, observation: Observation): Array<FormerMember & { hostObject: Host }> {
  return observation.members.map((m) => {
    const host = hostOfMember(inventory, m);
    if (!host) {
      throw new RefusedError(
        `member ${m.id} (${m.name || 'not started'}, ${m.peerURLs.join(',')}) runs on no host of the inventory: it could not be fenced, so the cluster is not forced; nothing was changed`,
      );
    }
    return { host: host.name, memberId: m.id, name: m.name, isLearner: m.isLearner, hostObject: host };
  });
}

/** Verified snapshots of earlier runs of the cluster that the store still holds whole. */
async function storedSnapshots(context: RestoreContext, deps: StepDeps): Promise<VerifiedSnapshot[]> {
  if (!deps.pastRuns) return [];
  const found = verifiedSnapshots(await deps.pastRuns(), context.request.cluster);
  const held = await Promise.all(found.map(async (s) => ((await deps.artifacts.head(s.key))?.size === s.bytes ? s : null)));
  return held.filter((s): s is VerifiedSnapshot => s !== null);
}

function describeSurvivor(survivor: Survivor, ranked: number): string {
  if (survivor.kind === 'snapshot') {
    const how = survivor.chosenBy === 'snapshot' ? 'named by --snapshot' : 'the newest verified snapshot: no member has usable data';
    return `snapshot ${survivor.key} of run ${survivor.runId} at revision ${survivor.revision} (${how})`;
  }
  const how = survivor.chosenBy === 'from' ? 'named by --from' : `ranked first of ${ranked} usable restore point(s)`;
  const index = survivor.raftIndex === null ? '' : `, raft index ${survivor.raftIndex}`;
  return `${survivor.host} at revision ${survivor.revision}${index}, etcd ${survivor.etcd === 'running' ? 'answering' : 'stopped'} (${how})`;
}

/**
 * Each former member's host with its instance and EC2's state of it, read now, where the config names a
 * waiver (none: nothing to ask). A host with no instance (the sandbox), an instance EC2 does not list, or
 * a read that fails leaves the state out: not known, so no waiver that needs it holds.
 */
async function instanceStatesOf(context: RestoreContext, deps: StepDeps, formerMembers: readonly FormerMember[]): Promise<FormerMemberState[]> {
  const inventory = inventoryOf(context);
  const members = formerMembers.map(({ host }) => {
    const instanceId = inventory.hosts.find((h) => h.name === host)?.instanceId;
    return { host, ...(instanceId ? { instanceId } : {}) };
  });
  const ids = members.flatMap((m) => (m.instanceId ? [m.instanceId] : []));
  if (ids.length === 0 || !deps.instances) return members;
  let states: Map<string, string>;
  try {
    states = await deps.instances.states(ids);
  } catch (error) {
    deps.log(`the former members' instance states could not be read (${errorMessage(error)}): not known, so no approval waiver can hold`);
    return members;
  }
  return members.map((m) => {
    const instanceState = m.instanceId ? states.get(m.instanceId) : undefined;
    return { ...m, ...(instanceState ? { instanceState } : {}) };
  });
}

/**
 * Whether the approval is waived: restorePolicy's approvalNeeded over the config's waivers and each former
 * member's instance state as read now. No waiver in the config: required, and the policy is not asked.
 */
function approval(context: RestoreContext, survivor: Survivor, members: readonly FormerMemberState[]): ApprovalVerdict {
  const waivers = context.options.approvalWaivers ?? [];
  if (waivers.length === 0) return { required: true, reason: 'approval is required: the cluster config waives it under no condition' };
  return approvalNeeded(waivers, survivor, members);
}

export const ChooseRestorePoint: RestoreStep = async (context, deps) => {
  const inventory = inventoryOf(context);
  const etcdHosts = inventory.hosts.filter((h) => h.roles.includes('etcd'));
  const read = await Promise.all(etcdHosts.map((h) => describeHost(deps, h)));
  const observation = await observeThroughAnswering(context, deps, read.filter(isPoint));

  let formerMembers: FormerMember[];
  let health: MemberHealth[];
  if (observation) {
    const members = membersOn(inventory, observation);
    // A member on a host outside the inventory's etcd group (a spare an earlier run made one): read it too.
    const described = new Set(etcdHosts.map((h) => h.name));
    const extra = members.filter((m) => !described.has(m.host)).map((m) => m.hostObject);
    read.push(...(await Promise.all([...new Map(extra.map((h) => [h.name, h])).values()].map((h) => describeHost(deps, h)))));
    formerMembers = members.map(({ hostObject: _, ...m }) => m);
    health = observation.health;
  } else {
    // No etcd answers a member list: every etcd host is a member as far as the run can tell, and one
    // answers only where DescribeRestorePoint found its etcd answering.
    formerMembers = etcdHosts.map((h) => {
      const p = read.filter(isPoint).find((x) => x.host === h.name);
      return { host: h.name, memberId: p?.memberId ?? null, name: p?.name ?? h.hostname, isLearner: false };
    });
    health = etcdHosts.map((h) => ({
      id: h.name,
      name: h.name,
      isLearner: false,
      healthy: read.some((x) => isPoint(x) && x.host === h.name && x.etcd === 'running'),
    }));
  }

  const verdict = quorumLoss(health);
  if (!verdict.lost) throw new RefusedError(`restore-quorum refused: ${verdict.reason}`);

  const restorePoints = read.filter(isPoint);
  const unread = read.filter((x): x is UnreadHost => !isPoint(x));
  const clusterId = observation ? [...observation.statuses.values()].flatMap((s) => ('error' in s ? [] : [s.clusterId]))[0] : undefined;
  const choice = chooseSurvivor({
    points: restorePoints,
    unread,
    ...(clusterId ? { clusterId } : {}),
    ...(observation ? { memberIds: observation.members.map((m) => m.id), learnerIds: observation.members.filter((m) => m.isLearner).map((m) => m.id) } : {}),
    snapshots: await storedSnapshots(context, deps),
    ...(context.options.from !== undefined ? { from: context.options.from } : {}),
    ...(context.options.snapshot !== undefined ? { snapshot: context.options.snapshot } : {}),
  });
  if (!choice.ok) {
    if ('invalid' in choice) throw new InvalidInputError(choice.invalid, choice.reason);
    throw new RefusedError(choice.reason);
  }
  const loss = expectedLoss(choice.survivor, choice.candidates, unread);
  const waivable = (context.options.approvalWaivers ?? []).length > 0;
  const instanceStates = waivable ? await instanceStatesOf(context, deps, formerMembers) : [];
  const approvalVerdict = approval(context, choice.survivor, instanceStates);
  const rejected = choice.rejected.length > 0 ? `; not usable: ${choice.rejected.map((r) => `${r.host} (${r.reason})`).join(', ')}` : '';
  return {
    output: {
      quorumLoss: verdict,
      formerMembers,
      restorePoints,
      unread,
      survivor: choice.survivor,
      fromSnapshot: choice.survivor.kind === 'snapshot',
      expectedLoss: loss,
      ...(waivable ? { instanceStates } : {}),
      approvalWaived: !approvalVerdict.required,
      ...(approvalVerdict.waivedBy ? { approvalWaivedBy: approvalVerdict.waivedBy } : {}),
      ...(clusterId ? { clusterId } : {}),
    },
    detail: `${verdict.reason}; survivor: ${describeSurvivor(choice.survivor, choice.candidates.length)}; ${loss.text}${rejected}; ${approvalVerdict.reason}`,
  };
};
