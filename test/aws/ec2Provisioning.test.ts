import { mockClient } from 'aws-sdk-client-mock';
import {
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type DescribeInstancesCommandInput,
  type Instance,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { DescribeInstanceInformationCommand, SSMClient, type InstanceInformation } from '@aws-sdk/client-ssm';
import { beforeEach, describe, expect, it } from 'vitest';
import { Ec2Provisioning, type Ec2ProvisioningConfig } from '../../functions/adapters/aws/ec2Provisioning.ts';
import { awsDeps, launchTemplateFromEnv } from '../../functions/adapters/aws/deps.ts';
import { launchClientToken, launchedHostName } from '../../functions/adapters/aws/launchTags.ts';
import { InvalidInputError, ProvisioningError, ReplacementNotReadyError } from '../../functions/errors.ts';
import type { Host } from '../../functions/ports.ts';

const ec2Mock = mockClient(EC2Client);
const ssmMock = mockClient(SSMClient);
const ec2 = new EC2Client({ region: 'eu-west-1' });
const ssm = new SSMClient({ region: 'eu-west-1' });

const CLUSTER = 'ocp311';
const RUN = 'ocp311-master-2-1a2b3c4d-20260302-10';
const SPARE_TAG = 'openshift-etcd-spare-pool';
const FAILED_ID = 'i-0a1b2c3d4e5f60712';
const NEW_ID = 'i-0ae0000000000001a';
const TEMPLATE = { id: 'lt-0123456789abcdef0', version: '$Default' };
const failedHost: Host = { name: 'master-2', hostname: 'master-2.ocp311.example.internal', ip: '10.0.1.12', roles: ['master', 'etcd'], instanceId: FAILED_ID };

function awsError(name: string, status = 400): Error {
  return Object.assign(new Error(`${name}: simulated`), { name, $metadata: { httpStatusCode: status } });
}

function tags(values: Record<string, string>): Instance['Tags'] {
  return Object.entries(values).map(([Key, Value]) => ({ Key, Value }));
}

const runTags = (extra: Record<string, string> = {}) => ({
  [SPARE_TAG]: CLUSTER,
  'etcd-replace:run': RUN,
  'etcd-replace:launched-by': 'etcd-replace',
  Name: launchedHostName(RUN),
  ...extra,
});

function launched(over: Partial<Instance> = {}, tagValues: Record<string, string> = runTags()): Instance {
  return {
    InstanceId: NEW_ID,
    State: { Name: 'running' },
    PrivateIpAddress: '10.0.1.30',
    PrivateDnsName: 'ip-10-0-1-30.eu-west-1.compute.internal',
    SubnetId: 'subnet-0aaaaaaaaaaaaaaa1',
    LaunchTime: new Date('2026-03-02T10:05:00Z'),
    Tags: tags(tagValues),
    ...over,
  };
}

/**
 * A fake EC2: DescribeInstances answers a run-tag filter with `byRun` (the instances the run launched), an
 * ID with `byId`; RunInstances puts its instance into both.
 */
function fakeEc2(state: { byRun: Instance[]; byId: Record<string, Instance> }): void {
  ec2Mock.on(DescribeInstancesCommand).callsFake((input: DescribeInstancesCommandInput) => {
    if (input.InstanceIds) {
      const found = input.InstanceIds.map((id) => state.byId[id]).filter((i): i is Instance => i !== undefined);
      if (found.length === 0) throw awsError('InvalidInstanceID.NotFound');
      return { Reservations: [{ Instances: found }] };
    }
    return { Reservations: [{ Instances: state.byRun }] };
  });
}

/** RunInstances launches NEW_ID, running at once, and its SSM agent is Online. */
function launchesRunning(state: { byRun: Instance[]; byId: Record<string, Instance> }): void {
  ec2Mock.on(RunInstancesCommand).callsFake(() => {
    state.byId[NEW_ID] = launched();
    return { Instances: [launched()] };
  });
  ssmPing('Online');
}

function ssmPing(status: InstanceInformation['PingStatus'] | 'absent'): void {
  ssmMock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: status === 'absent' ? [] : [{ InstanceId: NEW_ID, PingStatus: status }] });
}

function clock(): { sleep: (ms: number) => Promise<void>; now: () => number; slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return {
    slept,
    sleep: async (ms) => {
      slept.push(ms);
      t += ms;
    },
    now: () => t,
  };
}

function adapter(over: Partial<Ec2ProvisioningConfig> = {}): Ec2Provisioning {
  const c = clock();
  return new Ec2Provisioning({
    ec2,
    ssm,
    spareTagKey: SPARE_TAG,
    launchTemplate: TEMPLATE,
    sleep: c.sleep,
    now: c.now,
    waitSeconds: 60,
    pollSeconds: 5,
    ...over,
  });
}

beforeEach(() => {
  ec2Mock.reset();
  ssmMock.reset();
});

describe('Class: Ec2Provisioning', () => {
  describe('Method: provision', () => {
    it("launches one instance from the launch template in the failed host's subnet, tagged with the run, idempotent by ClientToken", async () => {
      const state = {
        byRun: [] as Instance[],
        byId: { [FAILED_ID]: { InstanceId: FAILED_ID, SubnetId: 'subnet-0fa11ed000000000a', State: { Name: 'stopped' as const } } } as Record<string, Instance>,
      };
      fakeEc2(state);
      ec2Mock.on(RunInstancesCommand).callsFake(() => {
        const instance = launched();
        state.byId[NEW_ID] = instance;
        return { Instances: [{ ...instance, State: { Name: 'pending' } }] };
      });
      ssmPing('Online');

      const result = await adapter().provision({ runId: RUN, cluster: CLUSTER, failedHost });

      const calls = ec2Mock.commandCalls(RunInstancesCommand);
      expect(calls).toHaveLength(1);
      const input = calls[0]!.args[0].input as RunInstancesCommandInput;
      const expectedTags = [
        { Key: SPARE_TAG, Value: CLUSTER },
        { Key: 'etcd-replace:run', Value: RUN },
        { Key: 'etcd-replace:launched-by', Value: 'etcd-replace' },
        { Key: 'Name', Value: launchedHostName(RUN) },
      ];
      expect(input).toEqual({
        LaunchTemplate: { LaunchTemplateId: 'lt-0123456789abcdef0', Version: '$Default' },
        MinCount: 1,
        MaxCount: 1,
        ClientToken: launchClientToken(CLUSTER, RUN),
        SubnetId: 'subnet-0fa11ed000000000a',
        TagSpecifications: [
          { ResourceType: 'instance', Tags: expectedTags },
          { ResourceType: 'volume', Tags: expectedTags },
        ],
      });
      expect(input.ClientToken!.length).toBeLessThanOrEqual(64);
      expect(launchedHostName(RUN)).toMatch(/^etcd-new-[0-9a-f]{8}$/);
      expect(result).toEqual({
        id: NEW_ID,
        host: { name: launchedHostName(RUN), hostname: 'ip-10-0-1-30.eu-west-1.compute.internal', ip: '10.0.1.30', roles: ['spare'], instanceId: NEW_ID },
      });
      // The run's instance is looked for by its run tag and the cluster's spare tag, terminated ones left out.
      const search = ec2Mock.commandCalls(DescribeInstancesCommand)[0]!.args[0].input;
      expect(search.Filters).toEqual([
        { Name: 'tag:etcd-replace:run', Values: [RUN] },
        { Name: `tag:${SPARE_TAG}`, Values: [CLUSTER] },
        { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
      ]);
    });

    it("launches in the configured subnet and by template name, without asking for the failed host's subnet", async () => {
      const state = { byRun: [] as Instance[], byId: {} as Record<string, Instance> };
      fakeEc2(state);
      launchesRunning(state);
      await adapter({ subnetId: 'subnet-0cccccccccccccccc', launchTemplate: { name: 'ocp311-etcd', version: '7' } }).provision({
        runId: RUN,
        cluster: CLUSTER,
        failedHost,
      });
      const input = ec2Mock.commandCalls(RunInstancesCommand)[0]!.args[0].input;
      expect(input.SubnetId).toBe('subnet-0cccccccccccccccc');
      expect(input.LaunchTemplate).toEqual({ LaunchTemplateName: 'ocp311-etcd', Version: '7' });
      expect(ec2Mock.commandCalls(DescribeInstancesCommand).some((c) => c.args[0].input.InstanceIds?.includes(FAILED_ID))).toBe(false);
    });

    it('waits for the SSM agent: not registered within the call is ReplacementNotReadyError; the next call finds the instance by its tag and answers once it is Online', async () => {
      const state = {
        byRun: [] as Instance[],
        byId: { [FAILED_ID]: { InstanceId: FAILED_ID, SubnetId: 'subnet-0fa11ed000000000a' } } as Record<string, Instance>,
      };
      fakeEc2(state);
      ec2Mock.on(RunInstancesCommand).callsFake(() => {
        state.byId[NEW_ID] = launched();
        state.byRun = [launched()];
        return { Instances: [launched({ State: { Name: 'pending' } })] };
      });
      ssmPing('absent');
      const c = clock();
      const first = adapter({ sleep: c.sleep, now: c.now });
      const error = await first.provision({ runId: RUN, cluster: CLUSTER, failedHost }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ReplacementNotReadyError);
      expect((error as Error).message).toMatch(/i-0ae0000000000001a, launched by run .* is not ready yet: waiting for its SSM agent to register/);
      // Bounded: polled every 5 s for the 60 s of one call.
      expect(c.slept.every((ms) => ms === 5000)).toBe(true);
      expect(c.slept.reduce((a, b) => a + b, 0)).toBe(60_000);

      ssmPing('ConnectionLost');
      await expect(adapter().provision({ runId: RUN, cluster: CLUSTER, failedHost })).rejects.toThrow(/SSM agent to be Online \(it is ConnectionLost\)/);

      ssmPing('Online');
      const ready = await adapter().provision({ runId: RUN, cluster: CLUSTER, failedHost });
      expect(ready.id).toBe(NEW_ID);
      expect(ec2Mock.commandCalls(RunInstancesCommand)).toHaveLength(1);
    });

    it("resumes: an instance the run launched already is not launched again, and its hostname follows discovery's rule (the hostname tag first)", async () => {
      const existing = launched({}, runTags({ hostname: 'etcd-new-1.ocp311.example.internal' }));
      fakeEc2({ byRun: [existing], byId: { [NEW_ID]: existing } });
      ssmPing('Online');
      const result = await adapter().provision({ runId: RUN, cluster: CLUSTER, failedHost });
      expect(ec2Mock.commandCalls(RunInstancesCommand)).toHaveLength(0);
      expect(result.host).toMatchObject({ name: launchedHostName(RUN), hostname: 'etcd-new-1.ocp311.example.internal', ip: '10.0.1.30', roles: ['spare'] });
    });

    it('does not count a terminated instance of the run: it launches (EC2 answers the same ClientToken with the same launch)', async () => {
      const state = { byRun: [launched({ InstanceId: 'i-0dead00000000001b', State: { Name: 'terminated' } })], byId: {} as Record<string, Instance> };
      fakeEc2(state);
      launchesRunning(state);
      await expect(adapter().provision({ runId: RUN, cluster: CLUSTER })).resolves.toMatchObject({ id: NEW_ID });
      expect(ec2Mock.commandCalls(RunInstancesCommand)).toHaveLength(1);
      // No failed host named: no subnet asked for, the template's network settings apply.
      expect(ec2Mock.commandCalls(RunInstancesCommand)[0]!.args[0].input.SubnetId).toBeUndefined();
    });

    it('turns a capacity, template or permission error into a ProvisioningError that names it; a throttled launch is retried as not ready', async () => {
      fakeEc2({ byRun: [], byId: {} });
      for (const code of ['InsufficientInstanceCapacity', 'InvalidLaunchTemplateId.NotFound', 'UnauthorizedOperation', 'VcpuLimitExceeded']) {
        ec2Mock.on(RunInstancesCommand).rejects(awsError(code));
        const error = await adapter()
          .provision({ runId: RUN, cluster: CLUSTER })
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ProvisioningError);
        expect((error as Error).message).toContain(`could not launch a replacement host from launch template lt-0123456789abcdef0 (version $Default): ${code}`);
      }
      ec2Mock.on(RunInstancesCommand).rejects(awsError('RequestLimitExceeded', 503));
      await expect(adapter().provision({ runId: RUN, cluster: CLUSTER })).rejects.toBeInstanceOf(ReplacementNotReadyError);
    });

    it('refuses without a launch template, naming the configuration key; find and release still answer', async () => {
      fakeEc2({ byRun: [], byId: {} });
      const none = adapter({ launchTemplate: undefined, configKey: 'replacementLaunchTemplate' });
      await expect(none.provision({ runId: RUN, cluster: CLUSTER, failedHost })).rejects.toThrow(
        expect.objectContaining({ name: 'ProvisioningError', message: expect.stringMatching(/no launch template \(replacementLaunchTemplate\)/) }),
      );
      expect(ec2Mock.commandCalls(RunInstancesCommand)).toHaveLength(0);
      await expect(none.find(RUN, CLUSTER)).resolves.toBeNull();
      await expect(none.release(RUN, CLUSTER)).resolves.toBe('absent');
    });

    it('gives up on a launched instance that stopped or terminated while booting', async () => {
      const stopped = launched({ State: { Name: 'terminated' }, StateReason: { Message: 'Server.InternalError' } });
      fakeEc2({ byRun: [], byId: { [NEW_ID]: stopped } });
      ec2Mock.on(RunInstancesCommand).resolves({ Instances: [launched({ State: { Name: 'pending' } })] });
      ssmPing('Online');
      await expect(adapter().provision({ runId: RUN, cluster: CLUSTER })).rejects.toThrow(ProvisioningError);
    });
  });

  describe('Method: find', () => {
    it("answers the run's instance, or null", async () => {
      fakeEc2({ byRun: [launched()], byId: {} });
      await expect(adapter().find(RUN, CLUSTER)).resolves.toMatchObject({ id: NEW_ID, host: { ip: '10.0.1.30' } });
      ec2Mock.reset();
      fakeEc2({ byRun: [], byId: {} });
      await expect(adapter().find(RUN, CLUSTER)).resolves.toBeNull();
    });
  });

  describe('Method: release', () => {
    it("terminates only the run's instance, after reading back its run and launched-by tags", async () => {
      fakeEc2({ byRun: [launched()], byId: { [NEW_ID]: launched() } });
      ec2Mock.on(TerminateInstancesCommand).resolves({});
      await expect(adapter().release(RUN, CLUSTER)).resolves.toBe('released');
      const terminated = ec2Mock.commandCalls(TerminateInstancesCommand);
      expect(terminated).toHaveLength(1);
      expect(terminated[0]!.args[0].input).toEqual({ InstanceIds: [NEW_ID] });
    });

    it('never terminates an instance without the launched-by tag, even when a filter returned it', async () => {
      const foreign = launched({}, { [SPARE_TAG]: CLUSTER, 'etcd-replace:run': RUN, Name: 'etcd-spare-0' });
      fakeEc2({ byRun: [foreign], byId: { [NEW_ID]: foreign } });
      await expect(adapter().release(RUN, CLUSTER)).rejects.toThrow(ProvisioningError);
      expect(ec2Mock.commandCalls(TerminateInstancesCommand)).toHaveLength(0);
    });

    it("ignores an instance whose run tag is another run's, and answers absent when there is none", async () => {
      fakeEc2({ byRun: [launched({}, runTags({ 'etcd-replace:run': 'another-run-000' }))], byId: {} });
      await expect(adapter().release(RUN, CLUSTER)).resolves.toBe('absent');
      expect(ec2Mock.commandCalls(TerminateInstancesCommand)).toHaveLength(0);
    });
  });
});

describe('Function: awsDeps (provisioning)', () => {
  const ENV = {
    AWS_REGION: 'eu-west-1',
    BUCKET: 'etcd-replace-artifacts',
    TABLE: 'etcd-replace',
    ETCD_SG_ID: 'sg-0e7cd0000000000e1',
    SCRIPTS_DIR: '/nonexistent',
    SPARE_TAG_KEY: SPARE_TAG,
  };

  it('wires the EC2 provisioning port: without a launch template it refuses, naming the configuration key and the environment', async () => {
    fakeEc2({ byRun: [], byId: {} });
    const deps = await awsDeps(ENV, { ec2, ssm });
    expect(deps.provisioning).toBeInstanceOf(Ec2Provisioning);
    await expect(deps.provisioning.provision({ runId: RUN, cluster: CLUSTER })).rejects.toThrow(
      /replacementLaunchTemplate \(LAUNCH_TEMPLATE_ID or LAUNCH_TEMPLATE_NAME\)/,
    );
  });

  it('launches from LAUNCH_TEMPLATE_ID in REPLACEMENT_SUBNET_ID', async () => {
    const state = { byRun: [] as Instance[], byId: {} as Record<string, Instance> };
    fakeEc2(state);
    launchesRunning(state);
    const deps = await awsDeps(
      { ...ENV, LAUNCH_TEMPLATE_ID: 'lt-0123456789abcdef0', LAUNCH_TEMPLATE_VERSION: '3', REPLACEMENT_SUBNET_ID: 'subnet-0cccccccccccccccc' },
      { ec2, ssm },
    );
    await deps.provisioning.provision({ runId: RUN, cluster: CLUSTER, failedHost });
    expect(ec2Mock.commandCalls(RunInstancesCommand)[0]!.args[0].input).toMatchObject({
      LaunchTemplate: { LaunchTemplateId: 'lt-0123456789abcdef0', Version: '3' },
      SubnetId: 'subnet-0cccccccccccccccc',
    });
  });
});

describe('Function: launchTemplateFromEnv', () => {
  it('reads the template by ID or by name with a version ($Default when unset), and nothing when neither is set', () => {
    expect(launchTemplateFromEnv({ LAUNCH_TEMPLATE_ID: 'lt-0123456789abcdef0' })).toEqual({ id: 'lt-0123456789abcdef0', version: '$Default' });
    expect(launchTemplateFromEnv({ LAUNCH_TEMPLATE_NAME: 'ocp311-etcd', LAUNCH_TEMPLATE_VERSION: '$Latest' })).toEqual({
      name: 'ocp311-etcd',
      version: '$Latest',
    });
    expect(launchTemplateFromEnv({})).toBeUndefined();
  });

  it('refuses both, or values that are no ID, name or version', () => {
    expect(() => launchTemplateFromEnv({ LAUNCH_TEMPLATE_ID: 'lt-0123456789abcdef0', LAUNCH_TEMPLATE_NAME: 'x-y-z' })).toThrow(InvalidInputError);
    expect(() => launchTemplateFromEnv({ LAUNCH_TEMPLATE_ID: 'template' })).toThrow(/LAUNCH_TEMPLATE_ID/);
    expect(() => launchTemplateFromEnv({ LAUNCH_TEMPLATE_NAME: 'ocp', LAUNCH_TEMPLATE_VERSION: 'latest' })).toThrow(/LAUNCH_TEMPLATE_VERSION/);
  });
});
