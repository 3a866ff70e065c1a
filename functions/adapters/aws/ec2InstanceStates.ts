// InstanceStatePort on EC2: the state of each instance asked, from DescribeInstances (ec2:DescribeInstances,
// which has no resource-level permission; the step role has it). The instances are named by an
// `instance-id` filter rather than InstanceIds: a filter answers the instances it finds, where InstanceIds
// fails the whole call with InvalidInstanceID.NotFound for one that EC2 no longer lists (a terminated
// instance drops out of the listing about an hour after it terminated). An instance not listed is left out
// of the answer: its state is not known, and a caller must not take it for terminated.

import type { EC2Client } from '@aws-sdk/client-ec2';
import type { InstanceStatePort } from '../../ports.ts';
import { instanceId as validInstanceId } from '../../validate.ts';
import { describeInstances } from './discovery.ts';

/** Values one EC2 filter takes at most. */
const FILTER_VALUES_MAX = 200;

export class Ec2InstanceStates implements InstanceStatePort {
  readonly #ec2: Pick<EC2Client, 'send'>;

  constructor(config: { ec2: Pick<EC2Client, 'send'> }) {
    this.#ec2 = config.ec2;
  }

  async states(instanceIds: readonly string[]): Promise<Map<string, string>> {
    const ids = [...new Set(instanceIds.map((id) => validInstanceId('instanceId', id)))];
    const states = new Map<string, string>();
    for (let i = 0; i < ids.length; i += FILTER_VALUES_MAX) {
      const batch = ids.slice(i, i + FILTER_VALUES_MAX);
      const instances = await describeInstances(this.#ec2, { Filters: [{ Name: 'instance-id', Values: batch }] });
      for (const instance of instances) {
        const state = instance.State?.Name;
        // Only what was asked: a filter is matched by EC2, and an answer about another instance is no answer.
        if (instance.InstanceId && batch.includes(instance.InstanceId) && state) states.set(instance.InstanceId, state);
      }
    }
    return states;
  }
}
