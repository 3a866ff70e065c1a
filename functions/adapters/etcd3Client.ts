// etcd membership and health over the etcd3 client (gRPC over TLS with a client certificate).
// One client per call (and per endpoint for status and health), closed when the call ends, so no
// handle outlives it and the CLI process can exit. No automatic retries: a membership change is
// sent once, and the workflow's retry policy decides what happens after a failure.

import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';

import {
  Etcd3,
  GRPCDeadlineExceededError,
  GRPCFailedPreconditionError,
  GRPCNotFoundError,
  GRPCUnavailableError,
  type IMember,
  type IOptions,
  type IStatusResponse,
} from 'etcd3';

import { EtcdUnavailableError, InvalidInputError, LearnerNotReadyError, MemberAlreadyExistsError, MemberNotFoundError, WorkflowError } from '../errors.ts';
import {
  NO_LEADER,
  type ClusterView,
  type EndpointHealth,
  type EndpointStatus,
  type EndpointStatusResult,
  type EtcdClusterFactory,
  type EtcdClusterPort,
  type EtcdMember,
} from '../ports.ts';
import { etcdUrl, memberId as validMemberId, memberIdFromDecimal, parseEtcdUrl } from '../validate.ts';
import { etcdErrorFromText, peerUrl } from './etcdctl.ts';

/** Client TLS identity: PEM file paths. */
export interface Etcd3Identity {
  cacert: string;
  cert: string;
  key: string;
}

export interface Etcd3Options {
  /** Connection timeout per endpoint (ms). Default 3000, like etcdctl.sh's endpoint verbs. */
  dialTimeoutMs?: number;
  /** Deadline of a membership call (ms). Default 15000. */
  callTimeoutMs?: number;
  /** Deadline of one endpoint's status or health call (ms). Default 5000. */
  endpointTimeoutMs?: number;
}

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

/** A fault-handling policy that just runs the call once. */
const ONCE = {
  execute: <T>(fn: (context: { signal: AbortSignal; attempt: number }) => PromiseLike<T> | T) =>
    Promise.resolve(fn({ signal: new AbortController().signal, attempt: 1 })),
  onSuccess: () => ({ dispose: () => undefined }),
  onFailure: () => ({ dispose: () => undefined }),
} as unknown as Policy;

interface Tls {
  rootCertificate: Buffer;
  certChain: Buffer;
  privateKey: Buffer;
}

/**
 * Resolves with null when a TCP connection to the endpoint opens within the timeout, else with why not.
 * grpc-js does not abort a TCP connect in progress when its client closes, so a client pointed at an
 * address that drops packets would keep the process alive for minutes (the kernel's SYN retries); the
 * adapter therefore only hands grpc endpoints that just accepted a connection.
 */
export function tcpProbe(endpoint: string, timeoutMs: number): Promise<string | null> {
  const { host, port } = parseEtcdUrl('endpoint', endpoint);
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (result: string | null) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done(`cannot connect to ${host}:${port}: context deadline exceeded (no answer within ${timeoutMs} ms)`), timeoutMs);
    socket.once('connect', () => done(null));
    socket.once('error', (error) => done(`cannot connect to ${host}:${port}: ${error.message}`));
  });
}

function hexToDecimal(hexId: string): string {
  return BigInt(`0x${hexId}`).toString(10);
}

function memberFromEtcd3(member: IMember | undefined): EtcdMember {
  if (!member) throw new EtcdUnavailableError('etcd returned no member');
  return {
    id: memberIdFromDecimal(String(member.ID), 'member.ID'),
    name: member.name ?? '',
    peerURLs: [...(member.peerURLs ?? [])],
    clientURLs: [...(member.clientURLs ?? [])],
    isLearner: member.isLearner === true,
  };
}

/** etcd3's error as the named error it means; the original is kept as `cause`. */
export function fromEtcd3Error(error: unknown): unknown {
  if (error instanceof WorkflowError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const named = etcdErrorFromText(message, { cause: error });
  if (named) return named;
  if (error instanceof GRPCNotFoundError) return new MemberNotFoundError(message, { cause: error });
  if (error instanceof GRPCUnavailableError || error instanceof GRPCDeadlineExceededError) {
    return new EtcdUnavailableError(message, { cause: error });
  }
  if (error instanceof GRPCFailedPreconditionError && /learner/i.test(message)) {
    return new LearnerNotReadyError(message, { cause: error });
  }
  if (error instanceof GRPCFailedPreconditionError && /exists/i.test(message)) {
    return new MemberAlreadyExistsError(message, { cause: error });
  }
  return error;
}

function describe(error: unknown): string {
  const named = fromEtcd3Error(error);
  return named instanceof Error ? named.message : String(named);
}

/** An etcd3 `Status` answer as the port's EndpointStatus; leader 0 (an election under way) is NO_LEADER, as etcdctl's omitted field is. */
export function statusFromEtcd3(endpoint: string, s: IStatusResponse): EndpointStatus {
  const leader = String(s.leader);
  return {
    endpoint,
    clusterId: memberIdFromDecimal(String(s.header.cluster_id), 'header.cluster_id'),
    memberId: memberIdFromDecimal(String(s.header.member_id), 'header.member_id'),
    leaderId: leader === '0' ? NO_LEADER : memberIdFromDecimal(leader, 'leader'),
    version: s.version,
    dbSize: Number(s.dbSize),
    raftIndex: Number(s.raftIndex),
    raftTerm: Number(s.raftTerm),
    // etcd 3.4 sends isLearner (field 10); the client's typings predate it.
    isLearner: (s as { isLearner?: boolean }).isLearner === true,
  };
}

export class Etcd3Membership implements EtcdClusterPort {
  private readonly endpoints: string[];
  private readonly dialTimeoutMs: number;
  private readonly callTimeoutMs: number;
  private readonly endpointTimeoutMs: number;
  private tls: Promise<Tls> | null = null;

  /**
   * @param identity client certificate, key and CA (file paths)
   * @param endpoints client URLs of the members believed alive, for membership calls
   */
  constructor(
    private readonly identity: Etcd3Identity,
    endpoints: string[],
    options: Etcd3Options = {},
  ) {
    if (endpoints.length === 0) throw new InvalidInputError('endpoints', 'at least one etcd endpoint is needed');
    this.endpoints = endpoints.map((e, i) => etcdUrl(`endpoints[${i}]`, e));
    this.dialTimeoutMs = options.dialTimeoutMs ?? 3000;
    this.callTimeoutMs = options.callTimeoutMs ?? 15000;
    this.endpointTimeoutMs = options.endpointTimeoutMs ?? 5000;
  }

  async memberList(): Promise<EtcdMember[]> {
    const response = await this.call(this.endpoints, this.callTimeoutMs, (client, deadline) => client.cluster.memberList({}, { deadline }));
    return (response.members ?? []).map(memberFromEtcd3);
  }

  async status(endpoints: string[]): Promise<EndpointStatusResult[]> {
    const wanted = endpoints.map((e, i) => etcdUrl(`endpoints[${i}]`, e));
    return Promise.all(
      wanted.map(async (endpoint): Promise<EndpointStatusResult> => {
        try {
          return statusFromEtcd3(endpoint, await this.call([endpoint], this.endpointTimeoutMs, (client, deadline) => client.maintenance.status({ deadline })));
        } catch (error) {
          return { endpoint, error: describe(error) };
        }
      }),
    );
  }

  async view(statusEndpoints: string[]): Promise<ClusterView> {
    const [members, statuses] = await Promise.all([this.memberList(), this.status(statusEndpoints)]);
    return { members, statuses };
  }

  async health(endpoints: string[]): Promise<EndpointHealth[]> {
    const wanted = endpoints.map((e, i) => etcdUrl(`endpoints[${i}]`, e));
    return Promise.all(
      wanted.map(async (endpoint): Promise<EndpointHealth> => {
        try {
          // Like `etcdctl endpoint health`: a linearizable read needs a leader and a quorum.
          await this.call([endpoint], this.endpointTimeoutMs, async (client, deadline) => {
            await client.kv.range({ key: Buffer.from('health') }, { deadline });
            const alarms = await client.maintenance.alarm({ action: 'Get', memberID: '0', alarm: 'None' }, { deadline });
            if ((alarms.alarms ?? []).length > 0) {
              throw new EtcdUnavailableError(`active alarm(s): ${alarms.alarms.map((a) => String(a.alarm)).join(', ')}`);
            }
          });
          return { endpoint, healthy: true };
        } catch (error) {
          return { endpoint, healthy: false, error: describe(error) };
        }
      }),
    );
  }

  async addMember(peerURL: string, options: { learner: boolean }): Promise<EtcdMember> {
    const url = peerUrl('peerURL', peerURL);
    const response = await this.call(this.endpoints, this.callTimeoutMs, (client, deadline) =>
      client.cluster.memberAdd({ peerURLs: [url], isLearner: options.learner }, { deadline }),
    );
    const member = memberFromEtcd3(response.member);
    return { ...member, name: '', clientURLs: [], isLearner: options.learner || member.isLearner };
  }

  async removeMember(memberId: string): Promise<void> {
    const id = hexToDecimal(validMemberId('memberId', memberId));
    await this.call(this.endpoints, this.callTimeoutMs, (client, deadline) => client.cluster.memberRemove({ ID: id }, { deadline }));
  }

  async promoteMember(memberId: string): Promise<void> {
    const id = hexToDecimal(validMemberId('memberId', memberId));
    await this.call(this.endpoints, this.callTimeoutMs, (client, deadline) => client.cluster.memberPromote({ ID: id }, { deadline }));
  }

  async updateMember(memberId: string, peerURLs: string[]): Promise<void> {
    if (peerURLs.length === 0) throw new InvalidInputError('peerURLs', 'at least one peer URL is needed');
    const urls = peerURLs.map((u, i) => peerUrl(`peerURLs[${i}]`, u));
    const id = hexToDecimal(validMemberId('memberId', memberId));
    await this.call(this.endpoints, this.callTimeoutMs, (client, deadline) => client.cluster.memberUpdate({ ID: id, peerURLs: urls }, { deadline }));
  }

  /** Runs `fn` on a fresh client for `hosts` with a deadline; always closes the client; maps errors. */
  private async call<T>(hosts: string[], timeoutMs: number, fn: (client: Etcd3, deadline: Date) => Promise<T>): Promise<T> {
    const tls = await this.loadTls();
    const probes = await Promise.all(hosts.map((h) => tcpProbe(h, this.dialTimeoutMs)));
    const reachable = hosts.filter((_h, i) => probes[i] === null);
    if (reachable.length === 0) {
      throw new EtcdUnavailableError(`no etcd endpoint answers: ${probes.join('; ')}`);
    }
    const client = new Etcd3({
      hosts: reachable,
      credentials: tls,
      dialTimeout: this.dialTimeoutMs,
      faultHandling: { global: ONCE, host: () => ONCE },
    });
    try {
      return await fn(client, new Date(Date.now() + timeoutMs));
    } catch (error) {
      throw fromEtcd3Error(error);
    } finally {
      client.close();
    }
  }

  private loadTls(): Promise<Tls> {
    this.tls ??= Promise.all([readFile(this.identity.cacert), readFile(this.identity.cert), readFile(this.identity.key)]).then(
      ([rootCertificate, certChain, privateKey]) => ({ rootCertificate, certChain, privateKey }),
    );
    // A failed read is not cached: the next call tries again.
    this.tls.catch(() => {
      this.tls = null;
    });
    return this.tls;
  }
}

/** Ports over the etcd3 client with the given TLS identity, for the endpoints the caller names. */
export function etcd3Factory(identity: Etcd3Identity, options: Etcd3Options = {}): EtcdClusterFactory {
  return (endpoints) => new Etcd3Membership(identity, endpoints, options);
}
