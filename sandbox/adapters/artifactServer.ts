// Artifact store for the sandbox: files under a directory, served over HTTP by this process on the
// sandbox bridge's gateway address, with presigned URLs shaped like S3's. A URL lets a host do one
// operation (put or get) on one key until it expires:
//
//   http://<address>:<port>/<key>?expires=<epoch seconds>&op=put|get&sig=<hex HMAC-SHA256>
//
// signed with a per-process random secret over `op`, `key` and `expires`. Hosts use the same commands
// as with S3 presigned URLs (`curl -fsS --upload-file FILE URL`, `curl -fsS -o FILE URL`), so host
// scripts are identical on both targets. Uploads stream to a temp file that is renamed into place when
// complete; downloads stream the file. Nothing is held in memory whole.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { constants as fsConstants, createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';

import { ArtifactStoreError, InvalidInputError } from '../../functions/errors.ts';
import type { ArtifactInfo, ArtifactStore } from '../../functions/ports.ts';
import { artifactKey, ipv4, positiveInt } from '../../functions/validate.ts';

/** Longest a URL may live, as for S3 presigned URLs (7 days). */
export const MAX_URL_TTL_SECONDS = 7 * 24 * 3600;

export type ArtifactOp = 'put' | 'get';

export interface SandboxArtifactStoreOptions {
  /** Directory the artifacts live under, e.g. `<sandbox stateDir>/artifacts`. */
  dir: string;
  /** IPv4 address to listen on (as in server.listen(port, host)): the sandbox bridge's gateway, or 127.0.0.1. */
  host: string;
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
  /** Signing secret; a fresh random one per process by default. */
  secret?: Buffer;
  /** Clock in milliseconds, for tests. */
  now?: () => number;
}

function isErrno(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}

export class SandboxArtifactStore implements ArtifactStore {
  readonly dir: string;
  readonly address: string;
  private readonly requestedPort: number;
  private readonly secret: Buffer;
  private readonly now: () => number;
  private server: Server | null = null;
  private boundPort = 0;

  constructor(options: SandboxArtifactStoreOptions) {
    this.dir = options.dir;
    this.address = ipv4('host', options.host);
    this.requestedPort = options.port ?? 0;
    this.secret = options.secret ?? randomBytes(32);
    this.now = options.now ?? Date.now;
  }

  /** Port the server listens on (after start()). */
  get port(): number {
    return this.boundPort;
  }

  /** `http://<address>:<port>` (after start()). */
  get baseUrl(): string {
    if (this.server === null) throw new ArtifactStoreError('the sandbox artifact server is not started');
    return `http://${this.address}:${this.boundPort}`;
  }

  async start(): Promise<void> {
    if (this.server !== null) return;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const handler = (expectsContinue: boolean) => (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res, expectsContinue).catch((error: unknown) => {
        if (!res.headersSent) send(res, 500, `artifact server error: ${(error as Error).message}\n`);
        else res.destroy();
      });
    };
    const server = createServer(handler(false));
    // `Expect: 100-continue` (curl sends it for large uploads): refuse a bad URL before the body is sent.
    server.on('checkContinue', handler(true));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.requestedPort, this.address, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.boundPort = (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  async uploadUrl(key: string, ttlSeconds: number): Promise<string> {
    return this.presign('put', key, ttlSeconds);
  }

  async downloadUrl(key: string, ttlSeconds: number): Promise<string> {
    return this.presign('get', key, ttlSeconds);
  }

  async head(key: string): Promise<ArtifactInfo | null> {
    const valid = artifactKey('key', key);
    const path = this.path(valid);
    try {
      const info = await stat(path);
      return info.isFile() ? { key: valid, size: info.size, location: path } : null;
    } catch (error) {
      if (isErrno(error, 'ENOENT') || isErrno(error, 'ENOTDIR')) return null;
      throw new ArtifactStoreError(`cannot look at artifact ${valid}`, { cause: error });
    }
  }

  async delete(key: string): Promise<void> {
    const valid = artifactKey('key', key);
    try {
      await unlink(this.path(valid));
    } catch (error) {
      if (isErrno(error, 'ENOENT') || isErrno(error, 'ENOTDIR')) return;
      throw new ArtifactStoreError(`cannot delete artifact ${valid}`, { cause: error });
    }
  }

  // -------------------------------------------------------------------------------------------

  private path(key: string): string {
    return join(this.dir, key);
  }

  private sign(op: ArtifactOp, key: string, expires: number): string {
    return createHmac('sha256', this.secret).update(`${op}\n${key}\n${expires}`).digest('hex');
  }

  private presign(op: ArtifactOp, key: string, ttlSeconds: number): string {
    const valid = artifactKey('key', key);
    const ttl = positiveInt('ttlSeconds', ttlSeconds, { max: MAX_URL_TTL_SECONDS });
    const expires = Math.floor(this.now() / 1000) + ttl;
    return `${this.baseUrl}/${valid}?expires=${expires}&op=${op}&sig=${this.sign(op, valid, expires)}`;
  }

  /** The key, when the request carries a valid, unexpired signature for this method; otherwise answers it. */
  private authorize(req: IncomingMessage, res: ServerResponse): string | null {
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const rawPath = q < 0 ? target : target.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : target.slice(q + 1));
    let key: string;
    try {
      // No percent-decoding: a key is plain characters only, so `%2e%2e` is simply not a key.
      key = artifactKey('key', rawPath.slice(1));
    } catch (error) {
      send(res, 400, `${error instanceof InvalidInputError ? error.message : 'invalid key'}\n`);
      return null;
    }
    const op: ArtifactOp | null = req.method === 'PUT' ? 'put' : req.method === 'GET' || req.method === 'HEAD' ? 'get' : null;
    if (op === null) {
      res.setHeader('Allow', 'GET, HEAD, PUT');
      send(res, 405, 'method not allowed\n');
      return null;
    }
    const expiresText = query.get('expires') ?? '';
    const sig = query.get('sig') ?? '';
    if (query.get('op') !== op || !/^[0-9]{1,12}$/.test(expiresText) || !/^[0-9a-f]{64}$/.test(sig)) {
      send(res, 403, 'forbidden\n');
      return null;
    }
    const expires = Number(expiresText);
    const expected = Buffer.from(this.sign(op, key, expires), 'hex');
    if (!timingSafeEqual(expected, Buffer.from(sig, 'hex'))) {
      send(res, 403, 'forbidden\n');
      return null;
    }
    if (Math.floor(this.now() / 1000) > expires) {
      send(res, 403, 'request has expired\n');
      return null;
    }
    return key;
  }

  private async handle(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> {
    const key = this.authorize(req, res);
    if (key === null) {
      req.resume();
      return;
    }
    if (expectsContinue) res.writeContinue();
    if (req.method === 'PUT') await this.receive(key, req, res);
    else await this.serve(key, req, res);
  }

  private async receive(key: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = this.path(key);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.${randomBytes(8).toString('hex')}.upload`;
    try {
      await pipeline(req, createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
      const handle = await open(tmp, fsConstants.O_RDONLY);
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, path);
    } catch (error) {
      await unlink(tmp).catch(() => undefined);
      if (isErrno(error, 'EISDIR') || isErrno(error, 'ENOTDIR')) {
        send(res, 409, 'key conflicts with another key\n');
        return;
      }
      throw error;
    }
    send(res, 200, '');
  }

  private async serve(key: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = this.path(key);
    let size: number;
    try {
      const info = await stat(path);
      if (!info.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
      size = info.size;
    } catch (error) {
      if (isErrno(error, 'ENOENT') || isErrno(error, 'ENOTDIR')) {
        send(res, 404, 'no such key\n');
        return;
      }
      throw error;
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': size });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    await pipeline(createReadStream(path), res);
  }
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
