// The machine-level registry of sandboxes: /var/lib/etcd-replace/registry/<index> holds the name of
// the sandbox that owns subnet <index>. Changes happen under registry.lock (an exclusive-create lock
// file holding the owner's pid; a lock whose owner is dead is broken), so concurrent `up`s never pick
// the same subnet or name.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SandboxError } from './errors.ts';
import { MAX_SANDBOXES, REGISTRY_DIR, REGISTRY_LOCK, SANDBOXES_DIR, STATE_ROOT, stateDirOf } from './model.ts';
import { sleep } from './util.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface LockFileOptions {
  /** What the lock guards, for the error: "the sandbox registry". */
  what: string;
  timeoutMs: number;
  /** The error when the lock stays held past timeoutMs (default SandboxError). */
  heldError?: (message: string) => Error;
}

/**
 * Runs fn while holding `file`: an exclusive-create lock file holding the owner's pid. A lock whose
 * owner is dead is broken; a live owner is waited for up to options.timeoutMs.
 */
export async function withLockFile<T>(file: string, options: LockFileOptions, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    try {
      const handle = await fs.open(file, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number((await fs.readFile(file, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(owner) && owner > 0 && !alive(owner)) {
        await fs.rm(file, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        const message = `${options.what} is locked by pid ${owner} (${file})`;
        throw options.heldError ? options.heldError(message) : new SandboxError(message);
      }
      await sleep(20 + Math.random() * 30);
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(file, { force: true });
  }
}

export async function withRegistryLock<T>(fn: () => Promise<T>): Promise<T> {
  await fs.mkdir(STATE_ROOT, { recursive: true });
  return withLockFile(REGISTRY_LOCK, { what: 'the sandbox registry', timeoutMs: 15_000 }, fn);
}

export async function registryEntries(): Promise<Array<{ index: number; name: string }>> {
  let files: string[];
  try {
    files = await fs.readdir(REGISTRY_DIR);
  } catch {
    return [];
  }
  const entries = await Promise.all(
    files
      .filter((f) => /^\d+$/.test(f))
      .map(async (f) => ({ index: Number(f), name: (await fs.readFile(path.join(REGISTRY_DIR, f), 'utf8').catch(() => '')).trim() })),
  );
  return entries.sort((a, b) => a.index - b.index);
}

/**
 * Claims a subnet index and the state dir for `name`. Throws SandboxError when a sandbox of that
 * name exists (or its remains do: `down` first) or no subnet is free.
 */
export async function claim(name: string): Promise<number> {
  return withRegistryLock(async () => {
    await fs.mkdir(REGISTRY_DIR, { recursive: true });
    await fs.mkdir(SANDBOXES_DIR, { recursive: true });
    const entries = await registryEntries();
    if (entries.some((e) => e.name === name)) {
      throw new SandboxError(`sandbox "${name}" already exists; remove it first with: etcd-replace sandbox down --sandbox ${name}`);
    }
    try {
      await fs.mkdir(stateDirOf(name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new SandboxError(`sandbox "${name}" already exists (${stateDirOf(name)}); remove it first with: etcd-replace sandbox down --sandbox ${name}`);
      }
      throw error;
    }
    const used = new Set(entries.map((e) => e.index));
    for (let index = 0; index < MAX_SANDBOXES; index++) {
      if (!used.has(index)) {
        await fs.writeFile(path.join(REGISTRY_DIR, String(index)), `${name}\n`);
        return index;
      }
    }
    await fs.rmdir(stateDirOf(name));
    throw new SandboxError(`no free subnet: ${MAX_SANDBOXES} sandboxes exist already`);
  });
}

/** Forgets `name` in the registry (all its entries). */
export async function release(name: string): Promise<void> {
  await withRegistryLock(async () => {
    for (const entry of await registryEntries()) {
      if (entry.name === name) await fs.rm(path.join(REGISTRY_DIR, String(entry.index)), { force: true });
    }
  });
}
