// The tags this tool sets on instances: those a replacement host launched for a run carries (and the
// names derived from the run), and the mark of a replaced member. Shared by the adapters that set and
// read them (ec2Provisioning.ts, ec2Signals.ts, discovery.ts) and the CDK construct, whose IAM
// conditions require them (RunInstances only with them, TerminateInstances and CreateTags only on them).

import { createHash } from 'node:crypto';

/** Set on a member's instance once a run has replaced it (the signal function): its later state changes start nothing, and discovery no longer counts it a member. */
export const REPLACED_BY_TAG = 'etcd-replace:replaced-by';

/** The run that launched the instance: its value is the run ID. */
export const RUN_TAG = 'etcd-replace:run';
/** Marks an instance this tool launched; only such an instance is ever terminated. */
export const LAUNCHED_BY_TAG = 'etcd-replace:launched-by';
export const LAUNCHED_BY_VALUE = 'etcd-replace';

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** RunInstances ClientToken of a run: the same run asks EC2 for the same launch, however often it retries (at most 64 ASCII characters). */
export function launchClientToken(cluster: string, runId: string): string {
  return `etcd-replace-${digest(`${cluster}\n${runId}`).slice(0, 40)}`;
}

/** The Name tag of the host a run launches: `etcd-new-<8 hex digits of the run ID>`, a valid host name. */
export function launchedHostName(runId: string): string {
  return `etcd-new-${digest(runId).slice(0, 8)}`;
}
