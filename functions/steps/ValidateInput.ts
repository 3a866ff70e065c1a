// ValidateInput: check every field of the request before anything changes, and resolve the hosts the
// run works on: the failed host, the replacement, the etcd CA host and the installer host.

import { InvalidInputError } from '../errors.ts';
import type { EtcdMember, Host, Inventory } from '../ports.ts';
import * as validate from '../validate.ts';
import { asMemberId, hostOfUrl, membersOfHost } from '../../statemachine/memberIdentity.ts';
import { describeEarlierReplacement, findEarlierReplacement, isEarlierReplacementHost, type EarlierReplacement } from '../../statemachine/earlierRun.ts';
import { clientUrl } from '../../statemachine/cluster.ts';
import type { FailureEvidence, MemberSlot, ReplaceRequest, ReplacementChoice, WorkflowContext } from '../../statemachine/context.ts';
import { loadSlot } from '../../statemachine/members.ts';
import { ADD_METHODS } from '../../statemachine/context.ts';
import { installerIsFailedHost } from '../cluster/scaleupChange.ts';
import { askKeyAhead } from '../hosts/keysAhead.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import type { Step, StepResult } from '../workflow/step.ts';

/** The host that `text` names exactly: short name, hostname, IP or instance ID. */
export function findHost(inventory: Inventory, text: string): Host | undefined {
  const t = text.trim().toLowerCase();
  return inventory.hosts.find((h) => h.name === t || h.hostname === t || h.ip === t || h.instanceId === t);
}

/** The one host of the inventory with `role`; InvalidInputError naming how many there are otherwise. */
export function exactlyOne(inventory: Inventory, role: 'ca' | 'installer'): Host {
  const hosts = inventory.hosts.filter((h) => h.roles.includes(role));
  if (hosts.length !== 1) {
    throw new InvalidInputError(
      'inventory',
      `expected exactly one host with role ${role}, found ${hosts.length}${hosts.length ? `: ${hosts.map((h) => h.name).join(', ')}` : ''}`,
    );
  }
  return hosts[0]!;
}

/** Validates a host entry of an inventory: every field that will reach a shell or a config file. */
export function validHost(host: Host, index: number): Host {
  const field = `inventory.hosts[${index}]`;
  return {
    ...host,
    name: validate.hostName(`${field}.name`, host.name),
    hostname: validate.hostname(`${field}.hostname`, host.hostname),
    ip: validate.ipv4(`${field}.ip`, host.ip),
    ...(host.instanceId !== undefined ? { instanceId: validate.instanceId(`${field}.instanceId`, host.instanceId) } : {}),
  };
}

/** The failed member as given: a host, a member ID or a peer URL. Anything else is refused here. */
export function validFailedText(text: unknown): string {
  if (typeof text !== 'string' || text.trim() === '')
    throw new InvalidInputError('failed', 'name the failed member: host name, hostname, IP, member ID or peer URL');
  validate.assertNoControlChars('failed', text);
  const t = text.trim();
  if (/^https:\/\//.test(t)) return validate.etcdUrl('failed', t);
  if (/^[0-9]{1,3}(\.[0-9]{1,3}){3}$/.test(t)) return validate.ipv4('failed', t);
  if (/^i-[0-9a-f]+$/.test(t)) return validate.instanceId('failed', t);
  return validate.hostname('failed', t);
}

/** The replacement as given: a host (name, hostname, IP) or, to be refused precisely, a member's URL or ID. */
export function validReplacementText(text: string): string {
  const t = text.trim();
  if (/^https:\/\//.test(t)) return validate.etcdUrl('replacement', t);
  if (/^[0-9]{1,3}(\.[0-9]{1,3}){3}$/.test(t)) return validate.ipv4('replacement', t);
  return validate.hostname('replacement', t);
}

/**
 * Why `text` names no host: when it is a member's ID or URL, say so (read-only member list through the
 * etcd hosts); otherwise, or when etcd cannot be asked, that no host has that name.
 */
async function unknownReplacement(inventory: Inventory, text: string, deps: StepDeps): Promise<string> {
  const plain = `no host named ${text} in cluster ${inventory.cluster}`;
  const etcdHosts = inventory.hosts.filter((h) => h.roles.includes('etcd'));
  if (etcdHosts.length === 0) return plain;
  try {
    const members = await deps.etcd(etcdHosts, etcdHosts.map(clientUrl)).memberList();
    const id = asMemberId(text);
    const member = members.find((m) => m.id === id || m.peerURLs.includes(text) || m.clientURLs.includes(text) || (m.name !== '' && m.name === text));
    if (member) {
      return `${text} is member ${member.id} (${member.name || 'added, not started'}) of the cluster: the replacement must be a host that is no member. Nothing was changed.`;
    }
  } catch {
    return plain;
  }
  return plain;
}

/** `--replacement new`: launch a host for this run (ProvisionReplacement), even when the pool has a spare. */
export const NEW_HOST = 'new';

/**
 * The member list, read through the etcd hosts (read-only), or null when it cannot be read: the
 * observations under the lock then decide (CheckClusterHealth refuses a replacement that is a member).
 * Any etcd host answers the same list. It is asked first through the hosts the run's snapshot is taken
 * on (neither the failed host nor the CA host: functions/cluster/snapshot.ts), whose command also makes
 * the one-time key SnapshotCluster's upload needs there on SSM (functions/hosts/keysAhead.ts); then
 * through the CA host, the failed host last.
 */
async function memberListOrNull(inventory: Inventory, deps: StepDeps, avoid: { failedHost?: Host | undefined; caHost: Host }): Promise<EtcdMember[] | null> {
  const rank = (h: Host) => (h.name === avoid.failedHost?.name ? 2 : h.name === avoid.caHost.name ? 1 : 0);
  const via = inventory.hosts.filter((h) => h.roles.includes('etcd')).sort((a, b) => rank(a) - rank(b));
  if (via.length === 0) return null;
  for (const host of via) if (rank(host) === 0) askKeyAhead(deps.runner, host, 'SnapshotCluster');
  try {
    return await deps.etcd(via, via.map(clientUrl)).memberList();
  } catch {
    return null;
  }
}

/**
 * The replacement: the named host; `new`, or none named and no free host in the pool: one to be
 * launched for this run (ProvisionReplacement); none named: the first host of the spare pool, in the
 * order the target lists it, that is no member by any identity (a spare an earlier run made a member
 * is skipped, whatever the target still calls it).
 */
export async function chooseReplacement(
  inventory: Inventory,
  text: string | null,
  failedHost: Host | undefined,
  deps: StepDeps,
  members: () => Promise<EtcdMember[] | null>,
  taken: readonly string[] = [],
): Promise<{ choice: ReplacementChoice; host?: Host; skipped?: string[] }> {
  if (text === NEW_HOST) return { choice: 'launched' };
  if (text === null) {
    const pool = inventory.hosts.filter((h) => h.roles.includes('spare') && h.name !== failedHost?.name && !taken.includes(h.name));
    const listed = pool.length > 0 ? await members() : null;
    const skipped = pool.filter((h) => listed !== null && membersOfHost(listed, h).length > 0);
    const spare = pool.find((h) => !skipped.includes(h));
    const names = skipped.map((h) => h.name);
    return spare ? { choice: 'spare', host: spare, skipped: names } : { choice: 'launched', skipped: names };
  }
  const named = findHost(inventory, hostOfUrl(text) ?? text);
  if (!named) throw new InvalidInputError('replacement', await unknownReplacement(inventory, text, deps));
  if (failedHost && failedHost.name === named.name) throw new InvalidInputError('replacement', 'the replacement must be another host than the failed one');
  return { choice: 'named', host: named };
}

/**
 * The earlier succeeded run that already did what the request asks (statemachine/earlierRun.ts): the
 * failed member is no member, and the replacement named (or, none named, that run's own) is the member
 * it added, still started. Read from the run record first; the member list only when there is such a run.
 */
async function earlierReplacement(
  context: WorkflowContext,
  inventory: Inventory,
  failedText: string,
  failedHost: Host | undefined,
  replacementText: string | null,
  deps: StepDeps,
  members: () => Promise<EtcdMember[] | null>,
): Promise<{ done: EarlierReplacement; host: Host } | null> {
  if (replacementText === NEW_HOST || !deps.pastRuns) return null;
  let runs;
  try {
    runs = await deps.pastRuns();
  } catch {
    return null; // the record cannot be read: the run goes on as a replacement, and its checks decide
  }
  if (!runs.some((r) => r.outcome === 'succeeded')) return null;
  const listed = await members();
  if (listed === null) return null;
  const done = findEarlierReplacement(runs, { text: failedText, ...(failedHost ? { host: failedHost } : {}) }, listed, context.runId);
  if (!done) return null;
  const asked = replacementText === null ? undefined : findHost(inventory, hostOfUrl(replacementText) ?? replacementText);
  if (replacementText !== null && (!asked || !isEarlierReplacementHost(done, asked))) return null;
  const host = asked ?? inventory.hosts.find((h) => isEarlierReplacementHost(done, h)) ?? done.replacement;
  return { done, host };
}

const EVIDENCE_SIGNALS: ReadonlyArray<FailureEvidence['signal']> = ['ec2-state-change', 'alarm'];

/**
 * The request's evidence, checked field by field (it travels into the run record). Its instance, when
 * named, must be the failed host's: a final signal about another instance confirms nothing.
 */
export function validEvidence(evidence: unknown, failedHost: Host | undefined): FailureEvidence | undefined {
  if (evidence === undefined) return undefined;
  if (typeof evidence !== 'object' || evidence === null || Array.isArray(evidence)) throw new InvalidInputError('evidence', 'expected {signal, state, at}');
  const e = evidence as Record<string, unknown>;
  const known = new Set(['signal', 'state', 'at', 'instanceId', 'final']);
  const unknown = Object.keys(e).filter((k) => !known.has(k));
  if (unknown.length > 0) throw new InvalidInputError('evidence', `unknown key(s) ${unknown.join(', ')}; allowed: ${[...known].join(', ')}`);
  if (!EVIDENCE_SIGNALS.includes(e['signal'] as FailureEvidence['signal']))
    throw new InvalidInputError('evidence.signal', `expected ${EVIDENCE_SIGNALS.join(' or ')}`);
  if (typeof e['state'] !== 'string' || !/^[A-Za-z][A-Za-z_-]{0,31}$/.test(e['state'])) throw new InvalidInputError('evidence.state', 'expected a state name');
  const at = e['at'];
  if (typeof at !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/.test(at) || Number.isNaN(Date.parse(at)))
    throw new InvalidInputError('evidence.at', 'expected an ISO time in UTC (2030-01-01T00:00:00Z)');
  if (e['final'] !== undefined && typeof e['final'] !== 'boolean') throw new InvalidInputError('evidence.final', 'expected true or false');
  const instanceId = e['instanceId'] === undefined ? undefined : validate.instanceId('evidence.instanceId', e['instanceId']);
  if (instanceId && failedHost?.instanceId && failedHost.instanceId !== instanceId) {
    throw new InvalidInputError(
      'evidence.instanceId',
      `the evidence names instance ${instanceId}, but the failed host ${failedHost.name} is ${failedHost.instanceId}. Nothing was changed.`,
    );
  }
  return {
    signal: e['signal'] as FailureEvidence['signal'],
    state: e['state'],
    at,
    ...(instanceId ? { instanceId } : {}),
    ...(e['final'] === true ? { final: true } : {}),
  };
}

/** At most this many failed members in one run (a seven-member cluster keeps quorum with three down). */
export const MAX_FAILED_MEMBERS = 3;

/** A text of the request that may be one value or a list (console and alarm input: `failed`, `replacement`). */
function oneOrList(field: string, value: unknown): unknown[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) return [value];
  if (value.length === 0)
    throw new InvalidInputError(field, `an empty list names nothing: name at least one ${field === 'failed' ? 'failed member' : 'replacement'}`);
  return value;
}

/**
 * The failed members the request names, each with the replacement named for it, in order: `failed` one or a
 * list (or one plus `also`), `replacement` absent, one per failed member, or `new`. Checked field by field.
 */
export function requestedMembers(request: ReplaceRequest): Array<{ failed: string; replacement?: string }> {
  const failedList = oneOrList('failed', request.failed as unknown) ?? [undefined];
  const replacementList = oneOrList('replacement', request.replacement as unknown);
  const also = request.also as unknown;
  if (also !== undefined && (!Array.isArray(also) || failedList.length > 1 || (replacementList?.length ?? 1) !== 1)) {
    throw new InvalidInputError('also', 'also lists the other failed members of a request whose failed (and replacement, when given) names one');
  }
  const pairs: Array<{ failed: unknown; replacement?: unknown }> = [
    ...failedList.map((failed, i) => ({ failed, ...(replacementList?.[i] !== undefined ? { replacement: replacementList[i] } : {}) })),
    ...((also as unknown[] | undefined) ?? []).map((entry) => {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new InvalidInputError('also', 'expected {failed, replacement?} entries');
      return entry as { failed: unknown; replacement?: unknown };
    }),
  ];
  if (replacementList && failedList.length > 1 && replacementList.length !== failedList.length) {
    throw new InvalidInputError(
      'replacement',
      `${failedList.length} failed members and ${replacementList.length} replacement(s): name one replacement per failed member, in the same order, or none (the spare pool's next free hosts)`,
    );
  }
  if (replacementList && failedList.length === 1 && replacementList.length > 1)
    throw new InvalidInputError('replacement', 'one failed member takes one replacement');
  if (pairs.length > MAX_FAILED_MEMBERS) throw new InvalidInputError('failed', `at most ${MAX_FAILED_MEMBERS} failed members in one run, got ${pairs.length}`);
  const out = pairs.map((pair) => {
    const failed = validFailedText(pair.failed);
    if (pair.replacement === undefined) return { failed };
    if (typeof pair.replacement !== 'string') throw new InvalidInputError('replacement', 'name the replacement host');
    validate.assertNoControlChars('replacement', pair.replacement);
    return pair.replacement.trim() ? { failed, replacement: pair.replacement } : { failed };
  });
  const twice = (values: string[]) => values.find((v, i) => values.indexOf(v) !== i);
  const failedTwice = twice(out.map((p) => p.failed.toLowerCase()));
  if (failedTwice) throw new InvalidInputError('failed', `${failedTwice} is named twice: name each failed member once`);
  const replacementTwice = twice(out.flatMap((p) => (p.replacement ? [p.replacement.trim().toLowerCase()] : [])));
  if (replacementTwice) throw new InvalidInputError('replacement', `${replacementTwice} is named twice: each failed member needs its own replacement`);
  return out;
}

/** Validates the request, then stamps when: AcquireLock measures its wait for the lock from it. */
export const ValidateInput: Step = async (context, deps) => {
  const wait = context.options.lockWaitSeconds;
  if (wait !== undefined) validate.positiveInt('options.lockWaitSeconds', wait, { min: 0, max: 3600 });
  const result = await validateRequest(context, deps);
  return { ...result, output: { ...result.output, validatedAt: deps.now().toISOString() } };
};

const validateRequest: Step = async (context, deps) => {
  validate.runId('runId', context.runId);
  validate.clusterName('cluster', context.request.cluster);
  const asked = requestedMembers(context.request);
  // The request as the run works on it: the first failed member and its replacement, the others in `also`.
  const { replacement: _replacements, also: _also, ...rest } = context.request;
  const request: ReplaceRequest = {
    ...rest,
    failed: asked[0]!.failed,
    ...(asked[0]!.replacement !== undefined ? { replacement: asked[0]!.replacement } : {}),
    ...(asked.length > 1 ? { also: asked.slice(1) } : {}),
  };
  if (asked.length > 1) return validateSeveral({ ...context, request }, asked, deps);
  const failedText = validFailedText(request.failed);
  if (request.replacement !== undefined && typeof request.replacement !== 'string') throw new InvalidInputError('replacement', 'name the replacement host');
  if (request.replacement !== undefined) validate.assertNoControlChars('replacement', request.replacement);
  const replacementText = request.replacement?.trim() ? validReplacementText(request.replacement) : null;
  if (typeof request.startedBy !== 'string' || !/^[A-Za-z0-9:@._/-]{1,128}$/.test(request.startedBy)) {
    throw new InvalidInputError('startedBy', 'startedBy must be 1-128 characters of letters, digits and :@._/-');
  }
  const { graceSeconds, learner } = context.options;
  validate.positiveInt('options.graceSeconds', String(graceSeconds), { min: 0, max: 3600 });
  if (learner !== 'auto' && learner !== 'never') throw new InvalidInputError('options.learner', 'learner must be "auto" or "never"');
  if (context.options.etcdVersion !== undefined) validate.etcdVersion('options.etcdVersion', context.options.etcdVersion);
  const { addMethod, openshiftAnsibleDir } = context.options;
  if (addMethod !== undefined && !ADD_METHODS.includes(addMethod))
    throw new InvalidInputError('options.addMethod', `addMethod must be one of ${ADD_METHODS.join(', ')}`);
  if (
    openshiftAnsibleDir !== undefined &&
    (typeof openshiftAnsibleDir !== 'string' || !/^\/[A-Za-z0-9._/-]{1,200}$/.test(openshiftAnsibleDir) || openshiftAnsibleDir.includes('..'))
  ) {
    throw new InvalidInputError('options.openshiftAnsibleDir', 'openshiftAnsibleDir must be an absolute path of letters, digits and ._/-');
  }

  const resolved = await deps.resolveInventory(request);
  const inventory: Inventory = { cluster: resolved.cluster, hosts: resolved.hosts.map(validHost) };
  const failedHost = findHost(inventory, failedText);
  validEvidence(request.evidence, failedHost);
  const caHost = exactlyOne(inventory, 'ca');
  const installerHost = exactlyOne(inventory, 'installer');
  const onInstaller = addMethod === 'ansible' ? installerIsFailedHost({ installerHost, inventory, ...(failedHost ? { failedHost } : {}) }) : null;
  if (onInstaller) throw new InvalidInputError('options.addMethod', onInstaller);
  const installerId =
    context.options.installerInstanceId === undefined ? undefined : validate.instanceId('options.installerInstanceId', context.options.installerInstanceId);
  if (addMethod === 'ansible' && installerId !== undefined && installerHost.instanceId !== installerId) {
    throw new InvalidInputError(
      'options.addMethod',
      `the installer host ${installerHost.name} (${installerHost.instanceId ?? 'no instance'}) is not the deployment's installer instance ${installerId}, the one host the scaleup playbook may run on; nothing was changed`,
    );
  }
  // The member list is read at most once, and only when the choice needs it.
  let listed: Promise<EtcdMember[] | null> | undefined;
  const members = () => (listed ??= memberListOrNull(inventory, deps, { failedHost, caHost }));

  const earlier = await earlierReplacement(context, inventory, failedText, failedHost, replacementText, deps, members);
  if (earlier) {
    const { done, host } = earlier;
    const failedName = failedHost?.name ?? failedText;
    const left = done.remaining.length > 0 ? `; what it left: ${done.remaining.join(' | ')}` : '';
    return {
      output: {
        request,
        inventory,
        caHost,
        installerHost,
        replacement: host,
        replacementChoice: replacementText === null ? done.choice : 'named',
        failedMember: { ...done.failedMember, clientURL: '' },
        ...(failedHost ? { failedHost } : {}),
        alreadyReplaced: true,
        replacedBy: done,
        newMemberId: done.newMemberId,
      },
      detail: `${failedName} is no member and ${host.name} is member ${done.newMemberId}, added for it: ${describeEarlierReplacement(done)}; finishing under the lock what has become possible since${left}`,
    };
  }

  const chosen = await chooseReplacement(inventory, replacementText, failedHost, deps, members);
  const failedName = failedHost?.name ?? failedText;
  const skipped = chosen.skipped?.length
    ? `; ${chosen.skipped.join(', ')} of the pool ${chosen.skipped.length === 1 ? 'is a member' : 'are members'} already`
    : '';
  const how = chosen.host
    ? `${chosen.host.name} (${chosen.host.ip}, ${chosen.choice === 'spare' ? 'from the spare pool' : 'named'})`
    : `to be launched (${replacementText === NEW_HOST ? 'asked for' : chosen.skipped?.length ? 'no host of the spare pool is free' : 'the spare pool is empty'})`;
  return {
    output: {
      request,
      inventory,
      replacementChoice: chosen.choice,
      addByPlaybook: addMethod === 'ansible',
      caHost,
      installerHost,
      ...(chosen.host ? { replacement: chosen.host } : {}),
      ...(failedHost ? { failedHost } : {}),
    },
    detail: `failed ${failedName}, replacement ${how}${skipped}, CA ${caHost.name}${addMethod === 'ansible' ? `, added by the scaleup playbook on ${installerHost.name}` : ''}`,
  };
};

/**
 * A request naming several failed members: each is resolved as a one-member request is (its host, its
 * replacement: named, or the spare pool's next free host), and the run works on them in the order named
 * (statemachine/members.ts). Launching hosts and the scaleup playbook replace one member per run.
 */
async function validateSeveral(context: WorkflowContext, asked: Array<{ failed: string; replacement?: string }>, deps: StepDeps): Promise<StepResult> {
  const { request, options } = context;
  if (typeof request.startedBy !== 'string' || !/^[A-Za-z0-9:@._/-]{1,128}$/.test(request.startedBy)) {
    throw new InvalidInputError('startedBy', 'startedBy must be 1-128 characters of letters, digits and :@._/-');
  }
  validate.positiveInt('options.graceSeconds', String(options.graceSeconds), { min: 0, max: 3600 });
  if (options.learner !== 'auto' && options.learner !== 'never') throw new InvalidInputError('options.learner', 'learner must be "auto" or "never"');
  if (options.etcdVersion !== undefined) validate.etcdVersion('options.etcdVersion', options.etcdVersion);
  if (options.addMethod !== undefined && options.addMethod !== 'manual') {
    throw new InvalidInputError(
      'options.addMethod',
      `the scaleup playbook adds one member per run, and this request names ${asked.length} failed members: use the manual add method (the default), or one run per member once the others are replaced; nothing was changed`,
    );
  }
  if (request.evidence !== undefined && asked.length > 1) validEvidence(request.evidence, undefined);
  const resolved = await deps.resolveInventory(request);
  const inventory: Inventory = { cluster: resolved.cluster, hosts: resolved.hosts.map(validHost) };
  const caHost = exactlyOne(inventory, 'ca');
  const installerHost = exactlyOne(inventory, 'installer');
  let listed: Promise<EtcdMember[] | null> | undefined;
  const members = () => (listed ??= memberListOrNull(inventory, deps, { caHost }));
  // The same request again after a run that replaced some of them and ended without the others (or an
  // alarm for one of them delivered again): a member whose replacement an earlier run added and started
  // is done; the run works on the others, as a one-member run when one is left.
  const done = await alreadyReplaced(context, inventory, asked, deps, members);
  if (done.size > 0) {
    const left = asked.filter((_, i) => !done.has(i));
    const words = [...done.entries()].map(([i, d]) => `${asked[i]!.failed}: ${describeEarlierReplacement(d)} (${d.replacement.name})`).join('; ');
    if (left.length === 1) {
      const { also: _done, replacement: _first, ...rest } = request;
      const one: ReplaceRequest = { ...rest, failed: left[0]!.failed, ...(left[0]!.replacement !== undefined ? { replacement: left[0]!.replacement } : {}) };
      const result = await ValidateInput({ ...context, request: one }, deps);
      return { ...result, detail: `${words}; ${result.detail}` };
    }
    if (left.length > 1) {
      const [first, ...others] = left;
      const { also: _done, replacement: _first, ...rest } = request;
      const fewer: ReplaceRequest = {
        ...rest,
        failed: first!.failed,
        ...(first!.replacement !== undefined ? { replacement: first!.replacement } : {}),
        also: others,
      };
      const result = await validateSeveral({ ...context, request: fewer }, left, deps);
      return { ...result, detail: `${words}; ${result.detail}` };
    }
  }
  const failedHosts = asked.map((a) => findHost(inventory, a.failed));
  const slots: MemberSlot[] = [];
  for (const [i, a] of asked.entries()) {
    const replacementText = a.replacement === undefined ? null : a.replacement.trim() === NEW_HOST ? NEW_HOST : validReplacementText(a.replacement);
    if (replacementText === NEW_HOST) {
      throw new InvalidInputError(
        'replacement',
        `launching a host (new) replaces one member per run; name a replacement for each of the ${asked.length} failed members, or leave them to the spare pool`,
      );
    }
    const failedHost = failedHosts[i];
    const taken = [...slots.flatMap((s) => (s.replacement ? [s.replacement.name] : [])), ...failedHosts.flatMap((h) => (h ? [h.name] : []))];
    const chosen = await chooseReplacement(inventory, replacementText, failedHost, deps, members, taken);
    if (!chosen.host) {
      throw new InvalidInputError(
        'replacement',
        `no free host of the spare pool is left for ${failedHost?.name ?? a.failed} (${i + 1} of ${asked.length}): name a replacement for each failed member, or add spares to the pool; nothing was changed`,
      );
    }
    if (failedHosts.some((h) => h?.name === chosen.host!.name))
      throw new InvalidInputError('replacement', `${chosen.host.name} is named as failed: it cannot replace another member`);
    if (slots.some((s) => s.replacement?.name === chosen.host!.name))
      throw new InvalidInputError('replacement', `${chosen.host.name} is named twice: each failed member needs its own replacement`);
    slots.push({
      failed: a.failed,
      ...(a.replacement !== undefined ? { asked: a.replacement } : {}),
      ...(failedHost ? { failedHost } : {}),
      replacement: chosen.host,
      replacementChoice: chosen.choice,
    });
  }
  const words = slots.map(
    (s) => `${s.failedHost?.name ?? s.failed} → ${s.replacement!.name} (${s.replacementChoice === 'spare' ? 'from the spare pool' : 'named'})`,
  );
  return {
    output: {
      request,
      inventory,
      addByPlaybook: false,
      caHost,
      installerHost,
      members: slots,
      memberIndex: 0,
      ...loadSlot(slots[0]!),
    },
    detail: `${slots.length} failed members, replaced one at a time: ${words.join(', ')}; CA ${caHost.name}`,
  };
}

/** The failed members of `asked` an earlier run (succeeded or not) replaced already, its replacement a started member now. */
async function alreadyReplaced(
  context: WorkflowContext,
  inventory: Inventory,
  asked: Array<{ failed: string; replacement?: string }>,
  deps: StepDeps,
  members: () => Promise<EtcdMember[] | null>,
): Promise<Map<number, EarlierReplacement>> {
  const found = new Map<number, EarlierReplacement>();
  if (!deps.pastRuns) return found;
  let runs;
  try {
    runs = await deps.pastRuns();
  } catch {
    return found; // the record cannot be read: the observations decide
  }
  if (runs.length === 0) return found;
  const listed = await members();
  if (listed === null) return found;
  for (const [i, a] of asked.entries()) {
    const host = findHost(inventory, a.failed);
    const done = findEarlierReplacement(runs, { text: a.failed, ...(host ? { host } : {}) }, listed, context.runId, { anyOutcome: true });
    if (!done) continue;
    const wanted = a.replacement === undefined ? undefined : findHost(inventory, hostOfUrl(a.replacement) ?? a.replacement);
    if (a.replacement !== undefined && (!wanted || !isEarlierReplacementHost(done, wanted))) continue;
    found.set(i, done);
  }
  return found;
}
