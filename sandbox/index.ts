// The sandbox: a real OpenShift 3.11 etcd cluster on this machine (see sandbox/README.md). This is
// the API the CLI, the sandbox adapters of the ports (sandbox/adapters/) and the tests use.
export type { SandboxHost, SandboxInfo } from './model.ts';
export { loadSandbox, validateSandboxName } from './model.ts';
export { sandboxUp } from './up.ts';
export { sandboxDown } from './down.ts';
export { findProvisioned, provisionHost, removeProvisionedHost } from './provision.ts';
export { sandboxStatus, statusOf } from './status.ts';
export type { StatusDocument } from './status.ts';
export { hostExec, prepareExec } from './exec.ts';
export { failHost, FAIL_MODES } from './fail.ts';
export type { FailMode } from './fail.ts';
export { describeEtcdPorts, allowEtcdPorts, describeFence, fenceHost, unfenceHost, SandboxSecurityGroups } from './securityGroup.ts';
export { healHost } from './heal.ts';
export { defaultEtcdVersion } from './etcdBuilds.ts';
