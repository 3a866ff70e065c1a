// The sandbox: a real OpenShift 3.11 etcd cluster on this machine (see sandbox/README.md). This is
// the API the CLI, the sandbox adapters of the ports (sandbox/adapters/) and the tests use.
export type { SandboxHost, SandboxInfo, PowerState, HostKind } from './model.ts';
export { loadSandbox, validateSandboxName, STATE_ROOT, SANDBOXES_DIR } from './model.ts';
export { sandboxUp, validateUpOptions } from './up.ts';
export type { UpOptions } from './up.ts';
export { sandboxDown } from './down.ts';
export { findProvisioned, provisionHost, removeProvisionedHost } from './provision.ts';
export type { ProvisionOptions } from './provision.ts';
export { sandboxStatus, statusOf } from './status.ts';
export type { StatusDocument, StatusHost } from './status.ts';
export { hostExec, prepareExec } from './exec.ts';
export type { HostExecOptions, HostExecResult } from './exec.ts';
export { failHost, FAIL_MODES } from './fail.ts';
export type { FailMode } from './fail.ts';
export { describeEtcdPorts, allowEtcdPorts, SandboxSecurityGroups } from './securityGroup.ts';
export type { EtcdRepo } from './model.ts';
export {
  resolveEtcdBuild,
  findEtcdBuild,
  availableEtcdBuilds,
  defaultEtcdVersion,
  validateEtcdVersion,
  repoOffers,
  etcdBuildsDir,
  DEBIAN_ETCD_VERSION,
  OPENSHIFT_ETCD_VERSION,
  EXTRAS_ETCD_VERSION,
  ETCD_BUILDS_ENV,
  ETCD_VERSION_ENV,
  OSE_REPO,
  EXTRAS_REPO,
} from './etcdBuilds.ts';
export type { EtcdBuild, DefaultEtcdVersion, RepoOffer } from './etcdBuilds.ts';
export { SandboxError } from './errors.ts';
