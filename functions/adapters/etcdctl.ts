// etcd membership and health through etcdctl v3 (`-w json`), run by functions/scripts/etcdctl.sh on a
// surviving member host through the host runner (SSM on AWS, nsenter in the sandbox).
//
// This module is also the one place that reads etcd's error text: etcdErrorFromText() turns etcd's and
// etcdctl's messages into the named errors the workflow retries and catches on.

import {
  EtcdUnavailableError,
  EtcdUnhealthyClusterError,
  HostUnreachableError,
  InvalidInputError,
  LearnerNotReadyError,
  MemberAlreadyExistsError,
  MemberNotFoundError,
  MemberNotLearnerError,
  WorkflowError,
} from '../errors.ts';
import type {
  ClusterView,
  EndpointHealth,
  EndpointStatus,
  EndpointStatusResult,
  EtcdClusterFactory,
  EtcdClusterPort,
  EtcdMember,
  GuardedChangeResult,
  Host,
  HostRunner,
  MembershipChange,
  ScriptOutput,
  ViewGuard,
  ViewOptions,
} from '../ports.ts';
import { etcdUrl, memberId as validMemberId, memberIdFromDecimal, parseEtcdUrl } from '../validate.ts';
import { NO_LEADER } from '../ports.ts';
import { SCRIPT_EXIT, scriptExitError } from '../hosts/hostScript.ts';

/** Script under functions/scripts/ that this adapter runs. */
export const ETCDCTL_SCRIPT = 'etcdctl';
/** etcdctl.sh's exit code when etcdctl failed (etcd's message on stderr says why); 2 is bad arguments. */
export const ETCDCTL_FAILED_EXIT = SCRIPT_EXIT.failed;
/** Peer port every member listens on. */
export const ETCD_PEER_PORT = 2380;
/**
 * etcd's HealthInterval: with strict reconfiguration checks (the default) `member add` is refused as
 * "unhealthy cluster" until the leader has been connected to every voting member this long.
 */
export const ETCD_HEALTH_INTERVAL_MS = 5000;

// ---------------------------------------------------------------------------------------------
// Error text → named error. Most specific first: etcdctl's stderr also holds retry warnings of
// earlier attempts (e.g. "context deadline exceeded" from one dead endpoint) before the final error.

type ErrorClass = new (message: string, options?: { cause?: unknown }) => WorkflowError;

const ERROR_TEXT: ReadonlyArray<readonly [RegExp, ErrorClass]> = [
  [/can only promote a learner member which is in sync with leader/i, LearnerNotReadyError],
  [/can only promote a learner member/i, MemberNotLearnerError],
  [/member not found/i, MemberNotFoundError],
  [/peer URLs already exists/i, MemberAlreadyExistsError],
  [/etcdserver: unhealthy cluster/i, EtcdUnhealthyClusterError],
  [
    /context deadline exceeded|connection refused|no route to host|i\/o timeout|etcdserver: no leader|leader changed|too many requests|etcdserver: request timed out|all SubConns are in TransientFailure|transport is closing/i,
    EtcdUnavailableError,
  ],
];

/** The named error etcd's message text means, or null when it is none of the known ones. */
export function etcdErrorFromText(text: string, options?: { cause?: unknown }): WorkflowError | null {
  for (const [pattern, ErrorType] of ERROR_TEXT) {
    if (pattern.test(text)) return new ErrorType(summarizeEtcdctlError(text), options);
  }
  return null;
}

/** etcdctl's stderr without its JSON log lines (retry warnings); the last lines when nothing else is left. */
export function summarizeEtcdctlError(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const plain = lines.filter((line) => !line.startsWith('{'));
  const chosen = plain.length > 0 ? plain : lines.slice(-2);
  const text = chosen.join('; ');
  return text.length > 1000 ? `${text.slice(0, 1000)}...` : text;
}

// ---------------------------------------------------------------------------------------------
// JSON: etcdctl prints uint64 IDs as bare numbers, beyond JS number precision. Quote them first.

const BIG_NUMBER_FIELDS = /"(ID|member_id|cluster_id|leader)":\s*(\d+)/g;

/** JSON.parse with etcdctl's uint64 ID fields kept as decimal strings. */
export function parseEtcdctlJson(text: string): unknown {
  return JSON.parse(text.replace(BIG_NUMBER_FIELDS, '"$1":"$2"'));
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new EtcdUnavailableError(`etcdctl printed no ${what} object`);
  }
  return value as Record<string, unknown>;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function num(value: unknown): number {
  return typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : 0;
}

function hexId(value: unknown, field: string): string {
  return memberIdFromDecimal(typeof value === 'number' ? String(value) : value, field);
}

/** An etcdctl `member` JSON object as the port's EtcdMember. */
export function memberFromEtcdctl(value: unknown): EtcdMember {
  const m = record(value, 'member');
  return {
    id: hexId(m['ID'], 'member.ID'),
    name: typeof m['name'] === 'string' ? m['name'] : '',
    peerURLs: strings(m['peerURLs']),
    clientURLs: strings(m['clientURLs']),
    isLearner: m['isLearner'] === true,
  };
}

/** One element of `endpoint status -w json` (`{"Endpoint", "Status": {...}}`) as the port's EndpointStatus. */
export function statusFromEtcdctl(endpoint: string, value: unknown): EndpointStatus {
  const entry = record(value, 'endpoint status');
  const status = record(entry['Status'], 'Status');
  const header = record(status['header'], 'header');
  return {
    endpoint,
    clusterId: hexId(header['cluster_id'], 'header.cluster_id'),
    memberId: hexId(header['member_id'], 'header.member_id'),
    // etcdctl omits zero fields: no `leader` means this member knows of no leader right now.
    leaderId: status['leader'] === undefined ? NO_LEADER : hexId(status['leader'], 'leader'),
    version: typeof status['version'] === 'string' ? status['version'] : '',
    dbSize: num(status['dbSize']),
    raftIndex: num(status['raftIndex']),
    raftTerm: num(status['raftTerm']),
    isLearner: status['isLearner'] === true,
  };
}

/** etcdctl's `member list -w json` response (`{"header", "members": [...]}`) as the port's members. */
export function membersFromEtcdctl(value: unknown): EtcdMember[] {
  const response = record(value, 'member list');
  const members = Array.isArray(response['members']) ? response['members'] : [];
  return members.map(memberFromEtcdctl);
}

interface EndpointLine {
  endpoint: string;
  ok: boolean;
  result?: unknown;
  error?: string;
  output?: string;
}

/** etcdctl.sh's endpoint-status lines as one entry per wanted endpoint, in that order. */
function statusesFromLines(wanted: string[], lines: Map<string, EndpointLine>): EndpointStatusResult[] {
  return wanted.map((endpoint) => {
    const line = lines.get(endpoint);
    if (!line) return { endpoint, error: 'etcdctl printed no answer for this endpoint' };
    if (!line.ok) return { endpoint, error: lineError(line) };
    const result = Array.isArray(line.result) ? line.result[0] : undefined;
    if (result === undefined) return { endpoint, error: 'etcdctl printed an empty status' };
    return statusFromEtcdctl(endpoint, result);
  });
}

function endpointLines(stdout: string): Map<string, EndpointLine> {
  const lines = new Map<string, EndpointLine>();
  for (const raw of stdout.split('\n')) {
    if (raw.trim() === '') continue;
    const line = record(parseEtcdctlJson(raw), 'endpoint line') as unknown as EndpointLine;
    if (typeof line.endpoint === 'string') lines.set(line.endpoint, line);
  }
  return lines;
}

/** The reason an endpoint line failed: etcdctl's own JSON `error` field when it printed one, else stderr. */
function lineError(line: EndpointLine): string {
  if (line.output) {
    try {
      const parsed = parseEtcdctlJson(line.output);
      const first: unknown = Array.isArray(parsed) ? parsed[0] : undefined;
      if (typeof first === 'object' && first !== null) {
        const error = (first as Record<string, unknown>)['error'];
        if (typeof error === 'string' && error !== '') return error;
      }
    } catch {
      // not JSON: fall back to stderr
    }
  }
  const summary = summarizeEtcdctlError(line.error ?? '');
  return summary === '' ? `etcdctl exited without an answer from ${line.endpoint}` : summary;
}

// ---------------------------------------------------------------------------------------------

export interface EtcdctlOptions {
  /** Host runner time limit for membership verbs (seconds). Default 45. */
  timeoutSeconds?: number;
}

export class EtcdctlMembership implements EtcdClusterPort {
  private readonly endpoints: string[];
  private readonly timeoutSeconds: number;

  /**
   * @param runner runs functions/scripts/etcdctl.sh on a host
   * @param via surviving member hosts to run etcdctl on, tried in order; unreachable ones are skipped
   * @param endpoints client URLs of the members believed alive, for membership verbs
   */
  constructor(
    private readonly runner: HostRunner,
    private readonly via: Host[],
    endpoints: string[],
    options: EtcdctlOptions = {},
  ) {
    if (endpoints.length === 0) throw new InvalidInputError('endpoints', 'at least one etcd endpoint is needed');
    this.endpoints = endpoints.map((e, i) => etcdUrl(`endpoints[${i}]`, e));
    this.timeoutSeconds = options.timeoutSeconds ?? 45;
  }

  async memberList(): Promise<EtcdMember[]> {
    const out = await this.etcdctl(['member-list', this.endpoints.join(',')]);
    return membersFromEtcdctl(parseEtcdctlJson(out.stdout));
  }

  async status(endpoints: string[]): Promise<EndpointStatusResult[]> {
    const wanted = validEndpoints(endpoints);
    if (wanted.length === 0) return [];
    const out = await this.etcdctl(['endpoint-status', wanted.join(',')], endpointTimeout(wanted.length));
    return statusesFromLines(wanted, endpointLines(out.stdout));
  }

  /** One run of etcdctl.sh's `observe` verb: `{"members": <member list>}`, then the endpoint-status lines. */
  async view(statusEndpoints: string[], options: ViewOptions = {}): Promise<ClusterView> {
    const wanted = validEndpoints(statusEndpoints);
    if (wanted.length === 0) return { members: await this.memberList(), statuses: [] };
    const quick = validEndpoints(options.quick ?? []).filter((e) => wanted.includes(e));
    const args = ['observe', this.endpoints.join(','), wanted.join(','), ...(quick.length > 0 ? [quick.join(',')] : [])];
    const out = await this.etcdctl(args, Math.max(this.timeoutSeconds, endpointTimeout(wanted.length)));
    const [first = '', ...rest] = out.stdout.split('\n');
    const head = record(parseEtcdctlJson(first), 'observe');
    const etcdctl = typeof head['etcdctl'] === 'string' && head['etcdctl'] !== '' ? { etcdctlVersion: head['etcdctl'] } : {};
    return { members: membersFromEtcdctl(head['members']), statuses: statusesFromLines(wanted, endpointLines(rest.join('\n'))), ...etcdctl };
  }

  /**
   * One run of etcdctl.sh's guarded verbs: the observation `observe` prints, the guard's verdict line,
   * and once accepted the change's JSON (and, after an add, the member list then).
   */
  async guardedChange(statusEndpoints: string[], guard: ViewGuard, change: MembershipChange): Promise<GuardedChangeResult> {
    const wanted = validEndpoints(statusEndpoints);
    if (wanted.length === 0) throw new InvalidInputError('statusEndpoints', 'a guarded change asks at least one endpoint');
    const clusterId = validMemberId('guard.clusterId', guard.clusterId);
    if (guard.members.length === 0) throw new InvalidInputError('guard.members', 'a guarded change predicts at least one member');
    const expect = guard.members
      .map(
        (m, i) =>
          `${validMemberId(`guard.members[${i}].id`, m.id)}:${m.isLearner ? 'l' : 'v'}:${m.answersAt === null ? '-' : etcdUrl(`guard.members[${i}].answersAt`, m.answersAt)}`,
      )
      .join(',');
    const head = [this.endpoints.join(','), wanted.join(','), clusterId, expect];
    const args =
      'remove' in change
        ? ['guarded-remove', ...head, validMemberId('memberId', change.remove)]
        : [change.learner ? 'guarded-add-learner' : 'guarded-add', ...head, peerUrl('peerURL', change.add)];
    const out = await this.etcdctl(args, Math.max(this.timeoutSeconds, endpointTimeout(wanted.length)) + this.timeoutSeconds);
    return guardedFromOutput(wanted, out.stdout, change);
  }

  async health(endpoints: string[]): Promise<EndpointHealth[]> {
    const wanted = validEndpoints(endpoints);
    if (wanted.length === 0) return [];
    const out = await this.etcdctl(['endpoint-health', wanted.join(',')], endpointTimeout(wanted.length));
    const lines = endpointLines(out.stdout);
    return wanted.map((endpoint): EndpointHealth => {
      const line = lines.get(endpoint);
      if (!line) return { endpoint, healthy: false, error: 'etcdctl printed no answer for this endpoint' };
      if (!line.ok) return { endpoint, healthy: false, error: lineError(line) };
      const result: unknown = Array.isArray(line.result) ? line.result[0] : undefined;
      const entry = typeof result === 'object' && result !== null ? (result as Record<string, unknown>) : {};
      if (entry['health'] === true) return { endpoint, healthy: true };
      const error = typeof entry['error'] === 'string' && entry['error'] !== '' ? entry['error'] : 'unhealthy';
      return { endpoint, healthy: false, error };
    });
  }

  async addMember(peerURL: string, options: { learner: boolean }): Promise<EtcdMember> {
    const url = peerUrl('peerURL', peerURL);
    const verb = options.learner ? 'member-add-learner' : 'member-add';
    const out = await this.etcdctl([verb, this.endpoints.join(','), url]);
    const response = record(parseEtcdctlJson(out.stdout), 'member add');
    const member = memberFromEtcdctl(response['member']);
    // etcdctl's `member` omits isLearner on a plain add; the request says what it is.
    return { ...member, name: '', clientURLs: [], isLearner: options.learner || member.isLearner };
  }

  async removeMember(memberId: string): Promise<void> {
    await this.etcdctl(['member-remove', this.endpoints.join(','), validMemberId('memberId', memberId)]);
  }

  async promoteMember(memberId: string): Promise<void> {
    await this.etcdctl(['member-promote', this.endpoints.join(','), validMemberId('memberId', memberId)]);
  }

  async updateMember(memberId: string, peerURLs: string[]): Promise<void> {
    if (peerURLs.length === 0) throw new InvalidInputError('peerURLs', 'at least one peer URL is needed');
    const urls = peerURLs.map((u, i) => peerUrl(`peerURLs[${i}]`, u));
    await this.etcdctl(['member-update', this.endpoints.join(','), validMemberId('memberId', memberId), urls.join(',')]);
  }

  /** Runs etcdctl.sh on the first reachable via host; a non-zero exit becomes the named error it means. */
  private async etcdctl(args: string[], timeoutSeconds = this.timeoutSeconds): Promise<ScriptOutput> {
    const unreachable: string[] = [];
    let lastError: unknown;
    for (const host of this.via) {
      let out: ScriptOutput;
      try {
        out = await this.runner.run({ host, script: ETCDCTL_SCRIPT, args, timeoutSeconds });
      } catch (error) {
        if (error instanceof HostUnreachableError) {
          unreachable.push(host.name);
          lastError = error;
          continue;
        }
        throw error;
      }
      if (out.exitCode === 0) return out;
      throw failure(host, args[0] ?? '', out);
    }
    const tried = unreachable.length > 0 ? unreachable.join(', ') : 'none given';
    throw new HostUnreachableError(`no member host could run etcdctl (unreachable: ${tried})`, { cause: lastError });
  }
}

/** A guarded verb's stdout (etcdctl.sh's header): the observation, the verdict, then what the change printed. */
export function guardedFromOutput(wanted: string[], stdout: string, change: MembershipChange): GuardedChangeResult {
  const [first = '', ...rest] = stdout.split('\n');
  const head = record(parseEtcdctlJson(first), 'observe');
  const etcdctl = typeof head['etcdctl'] === 'string' && head['etcdctl'] !== '' ? { etcdctlVersion: head['etcdctl'] } : {};
  const statusLines: string[] = [];
  let verdict: Record<string, unknown> | undefined;
  let changed: Record<string, unknown> | undefined;
  let after: unknown;
  for (const raw of rest) {
    if (raw.trim() === '') continue;
    const line = record(parseEtcdctlJson(raw), 'guarded change line');
    if ('guard' in line) verdict = line;
    else if ('change' in line) changed = record(line['change'], 'change');
    else if ('membersAfter' in line) after = line['membersAfter'];
    else statusLines.push(raw);
  }
  if (!verdict) throw new EtcdUnavailableError('etcdctl.sh printed no guard verdict');
  const view: ClusterView = {
    members: membersFromEtcdctl(head['members']),
    statuses: statusesFromLines(wanted, endpointLines(statusLines.join('\n'))),
    ...etcdctl,
  };
  const text = (value: unknown) => (typeof value === 'string' ? value : '');
  const result: GuardedChangeResult = { view, accepted: verdict['guard'] === 'accepted', expected: text(verdict['expected']), seen: text(verdict['seen']) };
  if (!result.accepted || 'remove' in change) return result;
  if (!changed) throw new EtcdUnavailableError('etcdctl.sh accepted the guard but printed no answer of the add');
  const member = memberFromEtcdctl(changed['member']);
  // etcdctl's `member` omits isLearner on a plain add; the request says what it is.
  result.added = { ...member, name: '', clientURLs: [], isLearner: change.learner || member.isLearner };
  if (after !== null && after !== undefined) result.membersAfter = membersFromEtcdctl(after);
  return result;
}

/** etcdctl.sh's exit by the scripts' convention (2 bad arguments); etcdctl's failure (1) by etcd's message. */
function failure(host: Host, verb: string, out: ScriptOutput): WorkflowError {
  const error = scriptExitError(host, `${ETCDCTL_SCRIPT} ${verb}`, out.exitCode, summarizeEtcdctlError(out.stderr));
  if (out.exitCode !== ETCDCTL_FAILED_EXIT) return error;
  return etcdErrorFromText(out.stderr, { cause: error }) ?? error;
}

function validEndpoints(endpoints: string[]): string[] {
  return endpoints.map((e, i) => etcdUrl(`endpoints[${i}]`, e));
}

/** Each endpoint is asked on its own, within etcdctl.sh's 3 s dial and 5 s command timeouts. */
function endpointTimeout(count: number): number {
  return 15 + 10 * count;
}

/** A peer URL: `https://<host>:2380`. */
export function peerUrl(field: string, value: unknown): string {
  const parts = parseEtcdUrl(field, value);
  if (parts.port !== ETCD_PEER_PORT) throw new InvalidInputError(field, `${parts.url} is not on the peer port ${ETCD_PEER_PORT}`);
  return parts.url;
}

/** Ports over etcdctl on the given surviving member hosts, for the endpoints the caller names. */
export function etcdctlFactory(runner: HostRunner, viaHosts: Host[], options: EtcdctlOptions = {}): EtcdClusterFactory {
  return (endpoints) => new EtcdctlMembership(runner, viaHosts, endpoints, options);
}
