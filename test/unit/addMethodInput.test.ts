// The add method as runs receive it: the CLI's flag, a console or alarm request's options.addMethod, the
// deployment's defaultAddMethod and installer instance (step functions' environment), checked by
// ValidateInput before anything reads or changes the cluster.

import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../functions/errors.ts';
import type { Host, Inventory } from '../../functions/ports.ts';
import type { StepDeps } from '../../functions/workflow/stepDeps.ts';
import { ValidateInput } from '../../functions/steps/ValidateInput.ts';
import { contextFromEvent, deploymentOptions } from '../../functions/handlers/event.ts';
import { parseConfig } from '../../lib/config.ts';
import type { RunOptions, WorkflowContext } from '../../statemachine/context.ts';
import example from '../../docs/etcd-replace.config.example.json' with { type: 'json' };

const host = (name: string, ip: string, roles: Host['roles'], instanceId: string): Host => ({ name, hostname: `${name}.example.com`, ip, roles, instanceId });
const inventory: Inventory = {
  cluster: 'ocp',
  hosts: [
    host('master-0', '198.51.100.10', ['master', 'etcd', 'ca', 'installer'], 'i-00000000000000000'),
    host('master-1', '198.51.100.11', ['master', 'etcd'], 'i-00000000000000001'),
    host('master-2', '198.51.100.12', ['master', 'etcd'], 'i-00000000000000002'),
    host('etcd-spare-0', '198.51.100.20', ['spare'], 'i-00000000000000020'),
  ],
};
const deps = { now: () => new Date(), resolveInventory: async () => inventory } as unknown as StepDeps;
const context = (options: Partial<RunOptions>): WorkflowContext => ({
  runId: 'r-test-add-method',
  request: { cluster: 'ocp', failed: 'master-2', replacement: 'etcd-spare-0', startedBy: 'test' },
  options: { graceSeconds: 1, learner: 'auto', ...options },
});

describe('Input: the add method', () => {
  it('ValidateInput decides it once: addByPlaybook for ansible, false for manual or none', async () => {
    expect((await ValidateInput(context({ addMethod: 'ansible' }), deps)).output.addByPlaybook).toBe(true);
    expect((await ValidateInput(context({ addMethod: 'manual' }), deps)).output.addByPlaybook).toBe(false);
    expect((await ValidateInput(context({}), deps)).output.addByPlaybook).toBe(false);
  });

  it('ValidateInput refuses an unknown method, a bad openshift-ansible directory, and an installer host that is not the deployment instance', async () => {
    await expect(ValidateInput(context({ addMethod: 'playbook' as RunOptions['addMethod'] }), deps)).rejects.toThrow(/options\.addMethod.*manual, ansible/);
    await expect(ValidateInput(context({ addMethod: 'ansible', openshiftAnsibleDir: '/usr/share/../etc' }), deps)).rejects.toThrow(InvalidInputError);
    await expect(ValidateInput(context({ addMethod: 'ansible', openshiftAnsibleDir: 'relative/dir' }), deps)).rejects.toThrow(/absolute path/);
    await expect(ValidateInput(context({ addMethod: 'ansible', installerInstanceId: 'i-0000000000000aaaa' }), deps)).rejects.toThrow(
      /master-0 \(i-00000000000000000\) is not the deployment's installer instance i-0000000000000aaaa/,
    );
    await expect(ValidateInput({ ...context({ addMethod: 'ansible' }), request: { ...context({}).request, failed: 'master-0' } }, deps)).rejects.toThrow(
      /master-0 is the installer host, where the scaleup playbook runs: replace it with --add-method manual \(and --ca-backup-key: it is the CA host too\)/,
    );
    // The manual method never runs the playbook: the installer instance does not matter to it.
    await expect(ValidateInput(context({ addMethod: 'manual', installerInstanceId: 'i-0000000000000aaaa' }), deps)).resolves.toBeDefined();
  });

  it("a bare request takes the deployment's default method, its own when it names one, and always the deployment's installer instance", () => {
    const deployment = deploymentOptions({ DEFAULT_ADD_METHOD: 'ansible', INSTALLER_INSTANCE_ID: 'i-00000000000000000', OPENSHIFT_ANSIBLE_DIR: '/opt/oa' });
    const bare = { cluster: 'ocp', failed: 'master-2', startedBy: 'console' };
    expect(contextFromEvent({ step: 'ValidateInput', context: bare, executionName: 'x-123456' }, deployment).options).toMatchObject({
      addMethod: 'ansible',
      installerInstanceId: 'i-00000000000000000',
      openshiftAnsibleDir: '/opt/oa',
    });
    const named = { ...bare, options: { addMethod: 'manual', installerInstanceId: 'i-0000000000000ffff' } };
    expect(contextFromEvent({ step: 'ValidateInput', context: named, executionName: 'x-123456' }, deployment).options).toMatchObject({
      addMethod: 'manual',
      installerInstanceId: 'i-00000000000000000',
    });
    expect(contextFromEvent({ step: 'ValidateInput', context: bare, executionName: 'x-123456' }, deploymentOptions({})).options.addMethod).toBeUndefined();
  });

  it('the deployment config: defaultAddMethod manual unless set, ansible only with the installer instance', () => {
    const { $schema: _schema, ...base } = example;
    expect(parseConfig(base).defaultAddMethod).toBe('manual');
    expect(parseConfig({ ...base, defaultAddMethod: 'ansible', ansible: { installerInstanceId: 'i-0a1b2c3d4e5f60799' } })).toMatchObject({
      defaultAddMethod: 'ansible',
      ansible: { installerInstanceId: 'i-0a1b2c3d4e5f60799' },
    });
    expect(() => parseConfig({ ...base, defaultAddMethod: 'ansible' })).toThrow(/ansible\.installerInstanceId/);
    expect(() => parseConfig({ ...base, ansible: { installerInstanceId: 'master-0' } })).toThrow(InvalidInputError);
    expect(() => parseConfig({ ...base, defaultAddMethod: 'yum' })).toThrow(InvalidInputError);
  });
});
