// The sandbox: a real OpenShift 3.11 etcd cluster on this machine (see README and DESIGN
// "The sandbox is the embedded default"). This is the API the workflow and the CLI use.
export type { SandboxHost, SandboxInfo, PowerState, HostKind } from './model.ts';
export { loadSandbox, validateSandboxName, STATE_ROOT, SANDBOXES_DIR } from './model.ts';
export { sandboxUp, validateUpOptions } from './up.ts';
export type { UpOptions } from './up.ts';
export { sandboxDown } from './down.ts';
export { sandboxStatus, statusOf } from './status.ts';
export type { StatusDocument, StatusHost } from './status.ts';
export { hostExec, prepareExec } from './exec.ts';
export type { HostExecOptions, HostExecResult } from './exec.ts';
export { failHost, FAIL_MODES } from './fail.ts';
export type { FailMode } from './fail.ts';
export { describeEtcdPorts, allowEtcdPorts, SandboxSecurityGroups } from './securityGroup.ts';
