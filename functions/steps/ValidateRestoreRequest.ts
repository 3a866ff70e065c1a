// ValidateRestoreRequest: the restore-quorum run's first state. Every field of the request
// (schemas/restore-request.schema.json) is checked before anything is observed or changed, and a bad
// one fails the run with InvalidInputError naming it (exit 2): the cluster, who started it, `from` or
// `snapshot` (not both), the grace and approval windows, the waivers (named conditions only,
// restorePolicy.ts APPROVAL_WAIVERS), fenceUnreachable and the lock wait. Then the cluster's hosts are
// resolved (the request's inventory, or the target's discovery) and checked as the replacement's
// ValidateInput checks them: exactly one CA host and one installer host. `from` must name exactly one etcd
// host (by host name, hostname, IP, instance ID, or its member ID through a member list read through
// the etcd hosts); it is written back as that host's name, which ChooseRestorePoint matches exactly.
// Read-only; a rerun validates again and stamps validatedAt again, as ValidateInput does.

import { InvalidInputError } from '../errors.ts';
import type { EtcdMember, Host, Inventory } from '../ports.ts';
import * as validate from '../validate.ts';
import type { RestoreStep } from '../cluster/restoreFacts.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import { exactlyOne, findHost, validHost } from './ValidateInput.ts';
import { clientUrl, hostOfMember } from '../../statemachine/cluster.ts';
import type { ReplaceRequest } from '../../statemachine/context.ts';
import { APPROVAL_TIMEOUT_MAX_SECONDS, type RestoreRunOptions } from '../../statemachine/restoreContext.ts';
import { APPROVAL_WAIVERS, unknownWaivers, type WaiverCondition } from '../../statemachine/restorePolicy.ts';

/** How long AwaitApproval waits unless the request says otherwise. */
const APPROVAL_TIMEOUT_DEFAULT_SECONDS = 60 * 60;

/** The request's own keys (the schema's), and `failed`, which a restore context carries empty. */
const REQUEST_KEYS = ['cluster', 'startedBy', 'from', 'snapshot', 'options', 'inventory', 'failed'];
/** The options a restore request may set (the schema's); the run's other options come from the deployment. */
const REQUEST_OPTION_KEYS = ['graceSeconds', 'approvalTimeoutSeconds', 'approvalWaivers', 'fenceUnreachable', 'lockWaitSeconds'];

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function onlyKnownKeys(field: string, value: Record<string, unknown>, known: readonly string[]): void {
  const unknown = Object.keys(value).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new InvalidInputError(field, `unknown key(s) ${unknown.join(', ')}; allowed: ${known.join(', ')}`);
}

/** A text given in the request's top level or in the options (the CLI's `--from`, `--snapshot`): both only when they agree. */
function oneOf(field: 'from' | 'snapshot', request: Record<string, unknown>, options: RestoreRunOptions): unknown {
  const top = request[field];
  const option = options[field];
  if (top !== undefined && option !== undefined && top !== option) {
    throw new InvalidInputError(field, `the request names ${String(top)} and its options ${String(option)}: name one`);
  }
  return top ?? option;
}

/** `from` as given: an identity of a host or a member (host name, hostname, IP, instance ID, member ID). */
function validFromText(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw new InvalidInputError('from', 'name the member to restore from: host name, hostname, IP, instance ID or member ID');
  validate.assertNoControlChars('from', value);
  const text = value.trim();
  if (text.length > 253 || !/^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(text)) {
    throw new InvalidInputError('from', `${JSON.stringify(text.slice(0, 60))} is no host name, hostname, IP, instance ID or member ID`);
  }
  return text;
}

function validWaivers(value: unknown): WaiverCondition[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((w) => typeof w !== 'string'))
    throw new InvalidInputError('options.approvalWaivers', 'expected a list of condition names');
  const names = value as string[];
  const unknown = unknownWaivers(names);
  if (unknown.length > 0) {
    throw new InvalidInputError(
      'options.approvalWaivers',
      `${unknown.map((n) => JSON.stringify(n.slice(0, 60))).join(', ')} is no waiver condition; the conditions: ${Object.keys(APPROVAL_WAIVERS).join(', ')}`,
    );
  }
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new InvalidInputError('options.approvalWaivers', `${twice} is named twice`);
  return names as WaiverCondition[];
}

/** The options as the run works on them: each checked, approvalTimeoutSeconds defaulted, fenceUnreachable `none` left out. */
function validOptions(options: RestoreRunOptions): RestoreRunOptions {
  validate.positiveInt('options.graceSeconds', options.graceSeconds, { min: 0, max: 3600 });
  const approvalTimeoutSeconds = validate.positiveInt('options.approvalTimeoutSeconds', options.approvalTimeoutSeconds ?? APPROVAL_TIMEOUT_DEFAULT_SECONDS, {
    min: 1,
    max: APPROVAL_TIMEOUT_MAX_SECONDS,
  });
  if (options.lockWaitSeconds !== undefined) validate.positiveInt('options.lockWaitSeconds', options.lockWaitSeconds, { min: 0, max: 3600 });
  if (options.learner !== 'auto' && options.learner !== 'never') throw new InvalidInputError('options.learner', 'learner must be "auto" or "never"');
  const fence = options.fenceUnreachable as unknown;
  if (fence !== undefined && fence !== 'none' && fence !== 'stop-instance')
    throw new InvalidInputError('options.fenceUnreachable', 'expected none or stop-instance');
  const waivers = validWaivers(options.approvalWaivers);
  const { fenceUnreachable: _fence, approvalWaivers: _waivers, from: _from, snapshot: _snapshot, ...rest } = options;
  return {
    ...rest,
    approvalTimeoutSeconds,
    ...(fence === 'stop-instance' ? { fenceUnreachable: 'stop-instance' as const } : {}),
    ...(waivers && waivers.length > 0 ? { approvalWaivers: waivers } : {}),
  };
}

/** An inventory host as a replace request's is checked, with at least one role. */
function validRestoreHost(host: Host, index: number): Host {
  if (!Array.isArray(host.roles) || host.roles.length === 0) throw new InvalidInputError(`inventory.hosts[${index}].roles`, 'expected a list of roles');
  return validHost(host, index);
}

/** The member list through the etcd hosts (read-only), or the reason it could not be read. */
async function memberList(etcdHosts: Host[], deps: StepDeps): Promise<EtcdMember[] | string> {
  try {
    return await deps.etcd(etcdHosts, etcdHosts.map(clientUrl)).memberList();
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** The one etcd host `from` names: by an identity of the host, or by its member ID; InvalidInputError otherwise. */
async function fromHost(inventory: Inventory, etcdHosts: Host[], text: string, deps: StepDeps): Promise<Host> {
  const known = `the etcd hosts of cluster ${inventory.cluster}: ${etcdHosts.map((h) => h.name).join(', ')}`;
  const host = findHost(inventory, text);
  if (host) {
    if (!host.roles.includes('etcd')) throw new InvalidInputError('from', `${host.name} is no etcd host; ${known}`);
    return host;
  }
  if (!/^[0-9a-fA-F]{1,16}$/.test(text)) throw new InvalidInputError('from', `${text} names no host; ${known}`);
  const id = validate.memberId('from', text);
  const members = await memberList(etcdHosts, deps);
  if (typeof members === 'string') {
    throw new InvalidInputError(
      'from',
      `${text} names no host, and no member list could be read to find member ${id} (${members}): name its host instead; ${known}`,
    );
  }
  const member = members.find((m) => m.id === id);
  if (!member) throw new InvalidInputError('from', `${text} is no member of the cluster and names no host; ${known}`);
  const on = hostOfMember(inventory, member);
  if (!on?.roles.includes('etcd')) {
    throw new InvalidInputError(
      'from',
      `member ${id} (${member.name || 'not started'}) runs on ${on ? `${on.name}, no etcd host` : 'no host of the inventory'}; ${known}`,
    );
  }
  return on;
}

export const ValidateRestoreRequest: RestoreStep = async (context, deps) => {
  validate.runId('runId', context.runId);
  if (!isObject(context.request)) throw new InvalidInputError('request', 'expected {cluster, startedBy, ...}');
  const request = context.request as unknown as Record<string, unknown>;
  onlyKnownKeys('request', request, REQUEST_KEYS);
  const cluster = validate.clusterName('cluster', request['cluster']);
  const startedBy = validate.startedBy('startedBy', request['startedBy']);
  if (request['failed'] !== undefined && request['failed'] !== '') {
    throw new InvalidInputError('failed', 'a restore names no failed member (`run --failed` replaces one); name the member to restore from with `from`');
  }
  if (request['options'] !== undefined) {
    if (!isObject(request['options'])) throw new InvalidInputError('options', 'expected an object');
    onlyKnownKeys('options', request['options'], REQUEST_OPTION_KEYS);
  }
  const fromGiven = oneOf('from', request, context.options);
  const snapshotGiven = oneOf('snapshot', request, context.options);
  if (fromGiven !== undefined && snapshotGiven !== undefined) {
    throw new InvalidInputError('from', 'from and snapshot exclude each other: name a member to restore from, or a snapshot');
  }
  const fromText = fromGiven === undefined ? undefined : validFromText(fromGiven);
  const snapshot = snapshotGiven === undefined ? undefined : validate.artifactKey('snapshot', snapshotGiven);
  const options = validOptions(context.options);

  const normalized: ReplaceRequest = { ...context.request, cluster, startedBy, failed: '' };
  const resolved = await deps.resolveInventory(normalized);
  if (!isObject(resolved) || !Array.isArray(resolved.hosts)) throw new InvalidInputError('inventory', 'expected {cluster, hosts}');
  const inventory: Inventory = { cluster: validate.clusterName('inventory.cluster', resolved.cluster), hosts: resolved.hosts.map(validRestoreHost) };
  const caHost = exactlyOne(inventory, 'ca');
  const installerHost = exactlyOne(inventory, 'installer');
  const etcdHosts = inventory.hosts.filter((h) => h.roles.includes('etcd'));
  if (etcdHosts.length === 0) throw new InvalidInputError('inventory', `cluster ${inventory.cluster} has no etcd host: there is nothing to restore`);
  const from = fromText === undefined ? undefined : await fromHost(inventory, etcdHosts, fromText, deps);

  const source = from ? `from ${from.name} (--from ${fromText})` : snapshot ? `from snapshot ${snapshot}` : 'from the best restore point';
  const waived = options.approvalWaivers ? `waivable by ${options.approvalWaivers.join(', ')}` : 'never waived';
  return {
    output: {
      request: normalized,
      options: { ...options, ...(from ? { from: from.name } : {}), ...(snapshot !== undefined ? { snapshot } : {}) },
      inventory,
      caHost,
      installerHost,
      validatedAt: deps.now().toISOString(),
    },
    detail: `restore cluster ${inventory.cluster} ${source}; former members (its etcd hosts): ${etcdHosts.map((h) => h.name).join(', ')}; CA ${caHost.name}, installer ${installerHost.name}; grace ${options.graceSeconds}s, approval within ${options.approvalTimeoutSeconds}s (${waived})${options.fenceUnreachable ? ', an unreachable member is stopped' : ''}`,
  };
};
