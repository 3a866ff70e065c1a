// Talking to a sandbox's etcd from the machine with the sandbox's client identity: /health over
// HTTPS, and the etcd3 client for loading data.
import { promises as fs } from 'node:fs';
import https from 'node:https';
import { randomBytes } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import type { SandboxInfo } from './model.ts';

export interface ClientTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export async function readClientTls(client: SandboxInfo['client']): Promise<ClientTls> {
  const [ca, cert, key] = await Promise.all([fs.readFile(client.cacert), fs.readFile(client.cert), fs.readFile(client.key)]);
  return { ca, cert, key };
}

/** GET <endpoint>/health: true when the member has a leader and a quorum answers (etcd 3.4). */
export function endpointHealthy(endpoint: string, tls: ClientTls, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const request = https.get(`${endpoint}/health`, { ...tls, timeout: timeoutMs, agent: false }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve(response.statusCode === 200 && /"health"\s*:\s*"true"/.test(body)));
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', () => resolve(false));
  });
}

/** The etcd3 client (grpc) loads lazily: most CLI commands never need it. */
export async function etcdClient(endpoints: string[], tls: ClientTls): Promise<Etcd3> {
  const { Etcd3 } = await import('etcd3');
  return new Etcd3({
    hosts: endpoints,
    credentials: { rootCertificate: tls.ca, certChain: tls.cert, privateKey: tls.key },
    dialTimeout: 3000,
  });
}

const VALUE_SIZE = 8 * 1024;
const OPS_PER_TXN = 128;
const PARALLEL_TXNS = 8;

/**
 * Loads `megabytes` MiB of 8 KiB values under /kubernetes.io/ and /openshift.io/ (half each), in
 * transactions of 128 puts (1 MiB, under etcd's 1.5 MiB request limit), four at a time.
 */
export async function loadData(endpoints: string[], tls: ClientTls, megabytes: number): Promise<number> {
  const total = Math.ceil((megabytes * 1024 * 1024) / VALUE_SIZE);
  if (total === 0) return 0;
  // grpc-js sets the TLS servername to the endpoint's IP address, which Node reports as DEP0123.
  const noDeprecation = process.noDeprecation;
  process.noDeprecation = true;
  const client = await etcdClient(endpoints, tls);
  const pool = randomBytes(VALUE_SIZE * 2).toString('base64');
  const keyOf = (i: number) => {
    const half = i % 2 === 0 ? 'kubernetes.io' : 'openshift.io';
    const resource = ['pods', 'secrets', 'configmaps', 'deploymentconfigs', 'builds', 'imagestreams'][i % 6];
    return `/${half}/${resource}/sandbox-${Math.floor(i / 256)}/object-${i}`;
  };
  try {
    let next = 0;
    const worker = async () => {
      while (next < total) {
        const start = next;
        const end = Math.min(total, start + OPS_PER_TXN);
        next = end;
        const success = [];
        for (let i = start; i < end; i++) {
          const offset = (i * 7919) % VALUE_SIZE;
          success.push({ request_put: { key: Buffer.from(keyOf(i)), value: Buffer.from(pool.slice(offset, offset + VALUE_SIZE)) } });
        }
        await client.kv.txn({ success });
      }
    };
    await Promise.all(Array.from({ length: PARALLEL_TXNS }, worker));
    return total;
  } finally {
    client.close();
    process.noDeprecation = noDeprecation;
  }
}
