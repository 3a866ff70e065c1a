// ProvisioningPort over a sandbox: the replacement a run launches is a new host of the running sandbox,
// `etcd-new-N`, built as `sandbox up` builds a spare (sandbox/provision.ts), and recorded with the run
// that launched it. The sandbox is the cluster: the adapter serves the one sandbox it was made for.

import type { Host, ProvisionedHost, ProvisioningPort, ProvisionRequest } from '../../functions/ports.ts';
import { clusterName } from '../../functions/validate.ts';
import { findProvisioned, provisionHost, removeProvisionedHost } from '../index.ts';
import type { SandboxHost } from '../index.ts';

function provisioned(host: SandboxHost): ProvisionedHost {
  const workflowHost: Host = { name: host.name, hostname: host.hostname, ip: host.ip, roles: ['spare'] };
  return { host: workflowHost, id: host.name };
}

export interface SandboxProvisioningOptions {
  log?: (message: string) => void;
  /** Called after a host was added or removed (the other ports' view of the sandbox follows). */
  hostsChanged?: () => Promise<void>;
}

export class SandboxProvisioning implements ProvisioningPort {
  private readonly log: (message: string) => void;
  private readonly hostsChanged: () => Promise<void>;

  constructor(
    /** The sandbox's name. */
    private readonly sandbox: string,
    options: SandboxProvisioningOptions = {},
  ) {
    this.log = options.log ?? (() => undefined);
    this.hostsChanged = options.hostsChanged ?? (async () => undefined);
  }

  async find(runId: string, cluster: string): Promise<ProvisionedHost | null> {
    clusterName('cluster', cluster);
    const host = await findProvisioned(this.sandbox, runId);
    return host === null ? null : provisioned(host);
  }

  /** Builds the host before it answers (no ReplacementNotReadyError but while another call adds or removes a host). */
  async provision(request: ProvisionRequest): Promise<ProvisionedHost> {
    clusterName('cluster', request.cluster);
    const host = await provisionHost(this.sandbox, request.runId, { progress: (message) => this.log(`sandbox ${this.sandbox}: ${message}`) });
    await this.hostsChanged();
    return provisioned(host);
  }

  async release(runId: string, cluster: string): Promise<'released' | 'absent'> {
    clusterName('cluster', cluster);
    const removed = (await removeProvisionedHost(this.sandbox, runId)) === 'removed';
    if (removed) await this.hostsChanged();
    return removed ? 'released' : 'absent';
  }
}
