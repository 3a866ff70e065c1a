import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { promisify } from 'node:util';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { SandboxArtifactStore } from '../../sandbox/adapters/artifactServer.ts';
import { ArtifactStoreError, InvalidInputError } from '../../functions/errors.ts';

const run = promisify(execFile);

let dir: string;
let store: SandboxArtifactStore;
let clock: number;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'artifacts-'));
  clock = Date.parse('2030-01-01T00:00:00Z');
  store = new SandboxArtifactStore({ dir: join(dir, 'store'), host: '127.0.0.1', now: () => clock });
  await store.start();
});

afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

/** curl as a host runs it: `-fsS`, plus the status code on stdout; resolves whatever the exit code. */
async function curl(args: string[]): Promise<{ code: number; status: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('curl', ['-sS', '-w', '%{http_code}', ...args], { maxBuffer: 1 << 20 });
    return { code: 0, status: stdout.slice(-3), stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, status: String(e.stdout).slice(-3), stderr: e.stderr };
  }
}

async function upload(file: string, url: string) {
  return curl(['-f', '-o', '/dev/null', '--upload-file', file, url]);
}

async function download(file: string, url: string) {
  return curl(['-f', '-o', file, url]);
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function tamper(url: string, param: string, value: string): string {
  const u = new URL(url);
  u.searchParams.set(param, value);
  return u.toString();
}

describe('Class: SandboxArtifactStore', () => {
  describe('Method: uploadUrl / downloadUrl', () => {
    it('hands out presigned URLs for one operation on one key', async () => {
      const url = await store.uploadUrl('runs/run-000001/bundle.tgz', 300);
      expect(url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${store.port}/runs/run-000001/bundle\\.tgz\\?expires=(\\d+)&op=put&sig=[0-9a-f]{64}$`));
      expect(new URL(url).searchParams.get('expires')).toBe(String(clock / 1000 + 300));
      expect(await store.downloadUrl('runs/run-000001/bundle.tgz', 300)).toContain('&op=get&');
    });

    it('round-trips a file through curl --upload-file and curl -o, atomically in place', async () => {
      const source = join(dir, 'bundle.tgz');
      await writeFile(source, randomBytes(100_000));
      expect(await upload(source, await store.uploadUrl('runs/run-000001/bundle.tgz', 300))).toMatchObject({ code: 0, status: '200' });
      const target = join(dir, 'copy.tgz');
      expect(await download(target, await store.downloadUrl('runs/run-000001/bundle.tgz', 300))).toMatchObject({ code: 0, status: '200' });
      expect(await sha256(target)).toBe(await sha256(source));
      expect(await readdir(join(dir, 'store', 'runs', 'run-000001'))).toEqual(['bundle.tgz']);
    });

    it('refuses to hand out a URL for a hostile key or a silly lifetime', async () => {
      for (const key of ['../etc/passwd', '/etc/passwd', 'a/../../b', 'a//b', 'a b', '-rf', 'a;b', '']) {
        await expect(store.uploadUrl(key, 60)).rejects.toThrow(InvalidInputError);
      }
      await expect(store.downloadUrl('a', 0)).rejects.toThrow(InvalidInputError);
      await expect(store.downloadUrl('a', 8 * 24 * 3600)).rejects.toThrow(InvalidInputError);
    });

    it('needs the server started', async () => {
      const idle = new SandboxArtifactStore({ dir, host: '127.0.0.1' });
      await expect(idle.uploadUrl('a', 60)).rejects.toThrow(ArtifactStoreError);
    });
  });

  describe('Server: signatures', () => {
    it('answers 403 to a tampered signature, key or expiry, and stores nothing', async () => {
      const source = join(dir, 'f');
      await writeFile(source, 'secret bundle');
      const url = await store.uploadUrl('k/one', 300);
      const sig = new URL(url).searchParams.get('sig') ?? '';
      const flipped = `${sig.slice(0, -1)}${sig.endsWith('0') ? '1' : '0'}`;
      const expires = String(Number(new URL(url).searchParams.get('expires')) + 3600);
      const otherKey = url.replace('/k/one?', '/k/two?');
      for (const bad of [tamper(url, 'sig', flipped), tamper(url, 'sig', ''), tamper(url, 'expires', expires), otherKey]) {
        expect(await upload(source, bad)).toMatchObject({ code: 22, status: '403' });
      }
      expect(await store.head('k/one')).toBeNull();
      expect(await store.head('k/two')).toBeNull();
    });

    it('answers 403 once the URL has expired', async () => {
      const source = join(dir, 'f');
      await writeFile(source, 'x');
      const put = await store.uploadUrl('k/one', 60);
      clock += 61_000;
      expect(await upload(source, put)).toMatchObject({ code: 22, status: '403' });
      clock -= 61_000;
      expect(await upload(source, put)).toMatchObject({ code: 0, status: '200' });
      const get = await store.downloadUrl('k/one', 60);
      clock += 60_000;
      expect(await download(join(dir, 'g'), get)).toMatchObject({ code: 0, status: '200' });
      clock += 1_000;
      expect(await download(join(dir, 'h'), get)).toMatchObject({ code: 22, status: '403' });
    });

    it('answers 403 to the other operation than the one signed', async () => {
      const source = join(dir, 'f');
      await writeFile(source, 'x');
      await upload(source, await store.uploadUrl('k/one', 60));
      const put = await store.uploadUrl('k/one', 60);
      const get = await store.downloadUrl('k/one', 60);
      expect(await download(join(dir, 'g'), put)).toMatchObject({ code: 22, status: '403' });
      expect(await upload(source, get)).toMatchObject({ code: 22, status: '403' });
      expect(await download(join(dir, 'g'), tamper(put, 'op', 'get'))).toMatchObject({ code: 22, status: '403' });
      expect(await curl(['-o', '/dev/null', '-X', 'DELETE', get])).toMatchObject({ status: '405' });
    });

    it('rejects path traversal on the wire with 400', async () => {
      const get = new URL(await store.downloadUrl('k/one', 60));
      const base = `http://127.0.0.1:${store.port}`;
      for (const path of ['/../../etc/passwd', '/k/../../etc/passwd', '/%2e%2e/etc/passwd', '/k%2fone', '//etc/passwd']) {
        expect(await curl(['--path-as-is', '-o', '/dev/null', `${base}${path}${get.search}`])).toMatchObject({ status: '400' });
      }
    });

    it('answers 404 for a key that was never stored', async () => {
      expect(await download(join(dir, 'g'), await store.downloadUrl('nothing/here', 60))).toMatchObject({ code: 22, status: '404' });
    });
  });

  describe('Method: head / delete', () => {
    it('describes a stored artifact by size and file path, and deletes it', async () => {
      const source = join(dir, 'f');
      await writeFile(source, 'twelve bytes');
      await upload(source, await store.uploadUrl('snapshots/etcd.db', 60));
      expect(await store.head('snapshots/etcd.db')).toEqual({
        key: 'snapshots/etcd.db',
        size: 12,
        location: join(dir, 'store', 'snapshots', 'etcd.db'),
      });
      expect(await readFile(join(dir, 'store', 'snapshots', 'etcd.db'), 'utf8')).toBe('twelve bytes');
      await store.delete('snapshots/etcd.db');
      expect(await store.head('snapshots/etcd.db')).toBeNull();
      await store.delete('snapshots/etcd.db');
      expect(await download(join(dir, 'g'), await store.downloadUrl('snapshots/etcd.db', 60))).toMatchObject({ status: '404' });
      expect(await store.head('snapshots')).toBeNull();
      await expect(store.head('../x')).rejects.toThrow(InvalidInputError);
    });
  });

  describe('Server: streaming', () => {
    it('writes an upload to a temp file as it arrives and shows the key only once complete', async () => {
      const url = new URL(await store.uploadUrl('big/stream.bin', 60));
      const chunk = randomBytes(1 << 20);
      const req = request(url, { method: 'PUT', headers: { 'Content-Length': String(4 * chunk.length) } });
      const done = new Promise<number>((resolve, reject) => {
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
      });
      req.write(chunk);
      req.write(chunk);
      const partDir = join(dir, 'store', 'big');
      let partial = 0;
      for (let i = 0; i < 100 && partial < 2 * chunk.length; i++) {
        await new Promise((r) => setTimeout(r, 20));
        const names = await readdir(partDir).catch(() => [] as string[]);
        const temp = names.find((n) => n.endsWith('.upload'));
        partial = temp ? (await stat(join(partDir, temp))).size : 0;
      }
      expect(partial).toBe(2 * chunk.length); // on disk while the request is still open
      expect(await store.head('big/stream.bin')).toBeNull();
      req.write(chunk);
      req.end(chunk);
      expect(await done).toBe(200);
      expect((await store.head('big/stream.bin'))?.size).toBe(4 * chunk.length);
      expect(await readdir(partDir)).toEqual(['stream.bin']);
    });

    it('moves a 50 MB file both ways without holding it in memory', async () => {
      const source = join(dir, 'big.bin');
      const block = randomBytes(1 << 20);
      const out = createWriteStream(source);
      for (let i = 0; i < 50; i++) if (!out.write(block)) await once(out, 'drain');
      await new Promise((resolve) => out.end(resolve));
      const target = join(dir, 'big.copy');
      // Live memory only: collect garbage before each sample, so what is left is what is held.
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as () => void;
      const live = () => {
        gc();
        const m = process.memoryUsage();
        return m.heapUsed + m.arrayBuffers;
      };
      const baseline = live();
      let peak = 0;
      const sampler = setInterval(() => {
        peak = Math.max(peak, live() - baseline);
      }, 25);
      try {
        expect(await upload(source, await store.uploadUrl('big/50mb.bin', 60))).toMatchObject({ code: 0, status: '200' });
        expect(await download(target, await store.downloadUrl('big/50mb.bin', 60))).toMatchObject({ code: 0, status: '200' });
      } finally {
        clearInterval(sampler);
      }
      expect((await stat(target)).size).toBe(50 << 20);
      expect(await sha256(target)).toBe(await sha256(source));
      // Stream buffers and socket bursts come and go (a few MB here); holding the file would need 50 MB.
      expect(peak).toBeLessThan(25 << 20);
    });
  });
});
