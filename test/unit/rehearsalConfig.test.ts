// The rehearsal's deployment configuration (rehearsal/rehearse.ts rehearsalConfig): the example's, naming
// the sandbox's hosts; with the ansible add method, the deployment's default, and the installer host
// (master-0) as the instance the scaleup playbook may run on. It must pass the deployment's own checks.

import { describe, expect, it } from 'vitest';
import { rehearsalConfig } from '../../rehearsal/rehearse.ts';
import { parseConfig } from '../../lib/config.ts';
import type { SandboxInfo } from '../../sandbox/index.ts';

const host = (name: string, ip: string, roles: string[]) => ({ name, hostname: `${name}.sandbox.test`, ip, roles, netns: name, up: true, state: 'on' });
const sandbox = {
  name: 'rh-unit',
  hosts: [
    host('master-0', '198.51.100.2', ['master', 'etcd', 'ca', 'installer']),
    host('master-1', '198.51.100.3', ['master', 'etcd']),
    host('master-2', '198.51.100.4', ['master', 'etcd']),
    host('etcd-spare-0', '198.51.100.9', ['spare']),
  ],
} as unknown as SandboxInfo;

describe('Rehearsal: the deployment configuration', () => {
  it('manual by default: no installer instance, and the deployment parses it', async () => {
    const config = parseConfig(await rehearsalConfig(sandbox, 'etcd-spare-0', 5));
    expect(config.defaultAddMethod).toBe('manual');
    expect(config.ansible).toBeUndefined();
    expect(config.alarmReplacement).toBe('etcd-spare-0.sandbox.test');
  });

  it('ansible: the deployment default, with master-0’s instance as the installer', async () => {
    const raw = await rehearsalConfig(sandbox, 'etcd-spare-0', 5, 'ansible');
    const config = parseConfig(raw);
    expect(config.defaultAddMethod).toBe('ansible');
    expect(config.ansible?.installerInstanceId).toBe(config.members.find((m) => m.name === 'master-0')?.instanceId);
  });
});
