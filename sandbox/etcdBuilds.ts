// Which etcd a sandbox runs: Debian's 3.4.23 (/usr/bin/etcd, always present) or a build found as
// vX.Y.Z/{etcd,etcdctl} under the directory $ETCD_REPLACE_ETCD_BUILDS names (relative paths resolve
// against the current directory). OpenShift 3.11 runs 3.2.22; RHEL 7 Extras' `yum install etcd`
// gives 3.3.11. Pure lookups on the machine's files: nothing here changes anything.
import { accessSync, constants, readdirSync } from 'node:fs';
import path from 'node:path';
import { compareEtcdVersions } from '../functions/cluster/etcdVersion.ts';
import { InvalidInputError } from '../functions/errors.ts';

/** Debian bookworm's etcd-server/etcd-client: always on the machine. */
export const DEBIAN_ETCD_VERSION = '3.4.23';
export const DEBIAN_ETCD_DIR = '/usr/bin';
/** The version every OpenShift 3.11 cluster runs (registry.redhat.io/rhel7/etcd:3.2.22). */
export const OPENSHIFT_ETCD_VERSION = '3.2.22';
/** What `yum install etcd` gives from RHEL 7 Extras (rhel-7-server-extras-rpms). */
export const EXTRAS_ETCD_VERSION = '3.3.11';
/** Env var: the directory holding vX.Y.Z/etcd and vX.Y.Z/etcdctl. */
export const ETCD_BUILDS_ENV = 'ETCD_REPLACE_ETCD_BUILDS';
/** Env var: the version `sandbox up` runs when --etcd-version is not given. */
export const ETCD_VERSION_ENV = 'ETCD_REPLACE_ETCD_VERSION';

const VERSION_RE = /^\d+\.\d+\.\d+$/;

export interface EtcdBuild {
  version: string;
  /** Absolute paths of the binaries on the machine. */
  etcd: string;
  etcdctl: string;
  /** The directory holding them: /usr/bin for Debian's, else BUILDS/vX.Y.Z. */
  source: string;
}

type Env = Record<string, string | undefined>;

/** Throws InvalidInputError unless `version` is X.Y.Z (digits only). */
export function validateEtcdVersion(version: string, field = 'etcd-version'): string {
  if (!VERSION_RE.test(version)) throw new InvalidInputError(field, `"${version}" must be a version like 3.2.22 (^\\d+\\.\\d+\\.\\d+$)`);
  return version;
}

/** The builds directory $ETCD_REPLACE_ETCD_BUILDS names, absolute; null when unset or empty. */
export function etcdBuildsDir(env: Env = process.env, cwd = process.cwd()): string | null {
  const dir = env[ETCD_BUILDS_ENV];
  return dir ? path.resolve(cwd, dir) : null;
}

const executable = (file: string) => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** Where `version` would be looked up: the two binaries' paths (none for a builds dir that is unset). */
export function etcdBuildPaths(version: string, env: Env = process.env, cwd = process.cwd()): { etcd: string; etcdctl: string; source: string } | null {
  if (version === DEBIAN_ETCD_VERSION)
    return { etcd: path.join(DEBIAN_ETCD_DIR, 'etcd'), etcdctl: path.join(DEBIAN_ETCD_DIR, 'etcdctl'), source: DEBIAN_ETCD_DIR };
  const dir = etcdBuildsDir(env, cwd);
  if (dir === null) return null;
  const source = path.join(dir, `v${version}`);
  return { etcd: path.join(source, 'etcd'), etcdctl: path.join(source, 'etcdctl'), source };
}

/** The build of `version` when both binaries are there and executable; null otherwise. */
export function findEtcdBuild(version: string, env: Env = process.env, cwd = process.cwd()): EtcdBuild | null {
  if (!VERSION_RE.test(version)) return null;
  const paths = etcdBuildPaths(version, env, cwd);
  if (!paths || !executable(paths.etcd) || !executable(paths.etcdctl)) return null;
  return { version, ...paths };
}

/**
 * The build of `version`, or InvalidInputError (exit 2) naming where it looked: the full paths, or
 * that $ETCD_REPLACE_ETCD_BUILDS is unset.
 */
export function resolveEtcdBuild(version: string, env: Env = process.env, cwd = process.cwd()): EtcdBuild {
  validateEtcdVersion(version);
  const found = findEtcdBuild(version, env, cwd);
  if (found) return found;
  const paths = etcdBuildPaths(version, env, cwd);
  if (!paths) {
    throw new InvalidInputError(
      'etcd-version',
      `no etcd ${version} build: $${ETCD_BUILDS_ENV} is unset (it names a directory holding v${version}/etcd and v${version}/etcdctl); ${DEBIAN_ETCD_VERSION} (Debian's) is always available`,
    );
  }
  throw new InvalidInputError(
    'etcd-version',
    `no etcd ${version} build: looked for ${paths.etcd} and ${paths.etcdctl} ($${ETCD_BUILDS_ENV}=${env[ETCD_BUILDS_ENV] ?? ''}), executable, not found`,
  );
}

/** Every build on the machine: Debian's, then each vX.Y.Z under the builds dir with both binaries, oldest first. */
export function availableEtcdBuilds(env: Env = process.env, cwd = process.cwd()): EtcdBuild[] {
  const builds = new Map<string, EtcdBuild>();
  const debian = findEtcdBuild(DEBIAN_ETCD_VERSION, env, cwd);
  if (debian) builds.set(debian.version, debian);
  const dir = etcdBuildsDir(env, cwd);
  let entries: string[] = [];
  try {
    entries = dir ? readdirSync(dir) : [];
  } catch {
    entries = [];
  }
  for (const entry of entries) {
    const match = /^v(\d+\.\d+\.\d+)$/.exec(entry);
    if (!match?.[1] || builds.has(match[1])) continue;
    const build = findEtcdBuild(match[1], env, cwd);
    if (build) builds.set(build.version, build);
  }
  return [...builds.values()].sort((a, b) => compareEtcdVersions(a.version, b.version));
}

export interface DefaultEtcdVersion {
  version: string;
  /** One line for the operator: which version and why (the progress line of `sandbox up`). */
  reason: string;
}

/**
 * The version `sandbox up` runs when none is given: $ETCD_REPLACE_ETCD_VERSION if set, else 3.2.22
 * when its build is found, else Debian's 3.4.23. Does not check that an env-named version exists
 * (resolveEtcdBuild does, and fails with exit 2).
 */
export function defaultEtcdVersion(env: Env = process.env, cwd = process.cwd()): DefaultEtcdVersion {
  const fromEnv = env[ETCD_VERSION_ENV];
  if (fromEnv) {
    const version = validateEtcdVersion(fromEnv, ETCD_VERSION_ENV);
    const build = findEtcdBuild(version, env, cwd);
    return { version, reason: `etcd ${version} ($${ETCD_VERSION_ENV})${build ? ` from ${build.source}` : ''}` };
  }
  const openshift = findEtcdBuild(OPENSHIFT_ETCD_VERSION, env, cwd);
  if (openshift) return { version: OPENSHIFT_ETCD_VERSION, reason: `etcd ${OPENSHIFT_ETCD_VERSION} (OpenShift 3.11's version) from ${openshift.source}` };
  const dir = env[ETCD_BUILDS_ENV];
  const where = dir ? `$${ETCD_BUILDS_ENV} (${etcdBuildsDir(env, cwd) ?? dir})` : `$${ETCD_BUILDS_ENV} (unset)`;
  return {
    version: DEBIAN_ETCD_VERSION,
    reason: `etcd ${DEBIAN_ETCD_VERSION} (Debian's): no ${OPENSHIFT_ETCD_VERSION} build under ${where}; set it to a directory holding v${OPENSHIFT_ETCD_VERSION}/etcd to rehearse OpenShift 3.11's version`,
  };
}

/** RHEL 7 repository ids the yum stand-in models. */
export const OSE_REPO = 'rhel-7-server-ose-3.11-rpms';
export const EXTRAS_REPO = 'rhel-7-server-extras-rpms';

export interface RepoOffer {
  repo: string;
  build: EtcdBuild;
}

/**
 * What the sandbox's yum offers: the OpenShift repository the cluster's version, Extras 3.3.11 when
 * its build is found. The versions are looked up now (at `sandbox up`).
 */
export function repoOffers(clusterVersion: string, env: Env = process.env, cwd = process.cwd()): RepoOffer[] {
  const offers: RepoOffer[] = [{ repo: OSE_REPO, build: resolveEtcdBuild(clusterVersion, env, cwd) }];
  const extras = findEtcdBuild(EXTRAS_ETCD_VERSION, env, cwd);
  if (extras) offers.push({ repo: EXTRAS_REPO, build: extras });
  return offers;
}
