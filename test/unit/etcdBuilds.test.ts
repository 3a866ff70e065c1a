// The sandbox's etcd version resolver (sandbox/etcdBuilds.ts) on a temp dir of fake build dirs: which
// version by default and why, where an unknown version was looked for, what yum's repos offer.
// (Only the resolver: the sandbox tests run the real binaries.)
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../functions/errors.ts';
import { compareEtcdVersions } from '../../functions/cluster/etcdVersion.ts';
import {
  availableEtcdBuilds,
  defaultEtcdVersion,
  etcdBuildsDir,
  findEtcdBuild,
  repoOffers,
  resolveEtcdBuild,
  validateEtcdVersion,
} from '../../sandbox/etcdBuilds.ts';
import { planEtcd } from '../../sandbox/up.ts';

const root = mkdtempSync(path.join(os.tmpdir(), 'etcd-builds-'));
const full = path.join(root, 'full'); // v3.2.22, v3.3.11, v3.1.0 (etcdctl not executable), junk
const extrasOnly = path.join(root, 'extras-only'); // v3.3.11 only
const empty = path.join(root, 'empty');

function fakeBuild(dir: string, version: string, mode = 0o755) {
  mkdirSync(path.join(dir, `v${version}`), { recursive: true });
  for (const binary of ['etcd', 'etcdctl']) writeFileSync(path.join(dir, `v${version}`, binary), '#!/bin/sh\n', { mode: 0o755 });
  chmodSync(path.join(dir, `v${version}`, 'etcdctl'), mode);
}
fakeBuild(full, '3.2.22');
fakeBuild(full, '3.3.11');
fakeBuild(full, '3.1.0', 0o644);
mkdirSync(path.join(full, 'not-a-version'), { recursive: true });
fakeBuild(extrasOnly, '3.3.11');
mkdirSync(empty, { recursive: true });

afterAll(() => rmSync(root, { recursive: true, force: true }));

const env = (builds?: string, version?: string) => ({
  ...(builds === undefined ? {} : { ETCD_REPLACE_ETCD_BUILDS: builds }),
  ...(version === undefined ? {} : { ETCD_REPLACE_ETCD_VERSION: version }),
});

describe('Function: validateEtcdVersion / compareEtcdVersions', () => {
  it.each(['3.2.22', '3.4.23', '10.0.1'])('accepts %s', (v) => expect(validateEtcdVersion(v)).toBe(v));
  it.each(['3.2', 'v3.2.22', '3.2.22-1.el7', '../3.2.22', '3.2.22 ', '', '3.2.x'])('refuses %j', (v) => {
    expect(() => validateEtcdVersion(v)).toThrow(InvalidInputError);
  });
  it('compares numerically, not as text', () => {
    expect(compareEtcdVersions('3.3.11', '3.2.22')).toBeGreaterThan(0);
    expect(compareEtcdVersions('3.4.23', '3.3.11')).toBeGreaterThan(0);
    expect(compareEtcdVersions('3.10.0', '3.9.9')).toBeGreaterThan(0);
    expect(compareEtcdVersions('3.2.9', '3.2.22')).toBeLessThan(0);
    expect(compareEtcdVersions('3.2.22', '3.2.22')).toBe(0);
  });
});

describe('Function: resolveEtcdBuild', () => {
  it("resolves 3.4.23 to Debian's /usr/bin binaries without any builds dir", () => {
    expect(resolveEtcdBuild('3.4.23', env())).toEqual({ version: '3.4.23', etcd: '/usr/bin/etcd', etcdctl: '/usr/bin/etcdctl', source: '/usr/bin' });
  });

  it('resolves another version under $ETCD_REPLACE_ETCD_BUILDS, a relative dir against cwd', () => {
    expect(resolveEtcdBuild('3.2.22', env(full))).toEqual({
      version: '3.2.22',
      etcd: path.join(full, 'v3.2.22/etcd'),
      etcdctl: path.join(full, 'v3.2.22/etcdctl'),
      source: path.join(full, 'v3.2.22'),
    });
    expect(resolveEtcdBuild('3.3.11', env('full'), root).source).toBe(path.join(full, 'v3.3.11'));
    expect(etcdBuildsDir(env('full'), root)).toBe(full);
  });

  it('names the full paths it looked at for a version that is not there (exit 2)', () => {
    const error = (() => {
      try {
        resolveEtcdBuild('3.2.23', env(full));
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).exitCode).toBe(2);
    expect((error as Error).message).toContain(path.join(full, 'v3.2.23/etcd'));
    expect((error as Error).message).toContain(path.join(full, 'v3.2.23/etcdctl'));
  });

  it('refuses a build whose etcdctl is not executable, and says the env var is unset when it is', () => {
    expect(findEtcdBuild('3.1.0', env(full))).toBeNull();
    expect(() => resolveEtcdBuild('3.1.0', env(full))).toThrow(path.join(full, 'v3.1.0/etcdctl'));
    expect(() => resolveEtcdBuild('3.2.22', env())).toThrow(/\$ETCD_REPLACE_ETCD_BUILDS is unset/);
    expect(() => resolveEtcdBuild('../v3.2.22', env(full))).toThrow(/must be a version/);
  });
});

describe('Function: availableEtcdBuilds', () => {
  it("lists Debian's and every complete vX.Y.Z build, oldest first", () => {
    expect(availableEtcdBuilds(env(full)).map((b) => b.version)).toEqual(['3.2.22', '3.3.11', '3.4.23']);
    expect(availableEtcdBuilds(env()).map((b) => b.version)).toEqual(['3.4.23']);
    expect(availableEtcdBuilds(env(path.join(root, 'missing'))).map((b) => b.version)).toEqual(['3.4.23']);
  });
});

describe('Function: defaultEtcdVersion', () => {
  it("takes 3.2.22, OpenShift 3.11's, when its build is there", () => {
    expect(defaultEtcdVersion(env(full))).toEqual({ version: '3.2.22', reason: `etcd 3.2.22 (OpenShift 3.11's version) from ${path.join(full, 'v3.2.22')}` });
  });

  it("falls back to Debian's 3.4.23 and says why and what to set", () => {
    expect(defaultEtcdVersion(env())).toEqual({
      version: '3.4.23',
      reason:
        "etcd 3.4.23 (Debian's): no 3.2.22 build under $ETCD_REPLACE_ETCD_BUILDS (unset); set it to a directory holding v3.2.22/etcd to rehearse OpenShift 3.11's version",
    });
    const fallback = defaultEtcdVersion(env(extrasOnly));
    expect(fallback.version).toBe('3.4.23');
    expect(fallback.reason).toContain(`no 3.2.22 build under $ETCD_REPLACE_ETCD_BUILDS (${extrasOnly})`);
  });

  it('takes $ETCD_REPLACE_ETCD_VERSION first, validated', () => {
    expect(defaultEtcdVersion(env(full, '3.3.11'))).toEqual({
      version: '3.3.11',
      reason: `etcd 3.3.11 ($ETCD_REPLACE_ETCD_VERSION) from ${path.join(full, 'v3.3.11')}`,
    });
    expect(defaultEtcdVersion(env(full, '3.4.23')).version).toBe('3.4.23');
    expect(() => defaultEtcdVersion(env(full, 'latest'))).toThrow(/ETCD_REPLACE_ETCD_VERSION/);
  });
});

describe('Function: repoOffers / planEtcd', () => {
  it("offers the cluster's version from the OpenShift repo and 3.3.11 from Extras when found", () => {
    expect(repoOffers('3.2.22', env(full)).map((o) => [o.repo, o.build.version])).toEqual([
      ['rhel-7-server-ose-3.11-rpms', '3.2.22'],
      ['rhel-7-server-extras-rpms', '3.3.11'],
    ]);
    expect(repoOffers('3.4.23', env()).map((o) => [o.repo, o.build.version])).toEqual([['rhel-7-server-ose-3.11-rpms', '3.4.23']]);
  });

  it('plans every build to copy, per-master exceptions included, and fails before anything for a missing one', () => {
    const plan = planEtcd({ members: 3, etcdVersion: '3.2.22', hostEtcdVersions: { 'master-2': '3.4.23' } }, env(full));
    expect(plan.hosts).toEqual({ 'master-0': '3.2.22', 'master-1': '3.2.22', 'master-2': '3.4.23' });
    expect([...plan.builds.keys()].sort()).toEqual(['3.2.22', '3.3.11', '3.4.23']);
    expect(planEtcd({ members: 3 }, env(empty)).version).toBe('3.4.23');
    expect(() => planEtcd({ members: 3, hostEtcdVersions: { 'master-1': '3.3.12' } }, env(full))).toThrow(path.join(full, 'v3.3.12/etcd'));
    expect(() => planEtcd({ members: 3, etcdVersion: '3.2.22' }, env(empty))).toThrow(InvalidInputError);
  });
});
