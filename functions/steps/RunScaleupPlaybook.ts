// RunScaleupPlaybook: on the installer host, openshift-ansible's etcd scaleup playbook adds the new member
// (runbook 37.2.1 step 2): `member add` on the first [etcd] host, certificates from the CA there, etcd
// installed, configured and started on the new host, cluster-health, the masters' etcdClientInfo.urls.
// The failed host is left out of every play (--limit 'all:localhost:!FAILED'): it is down or being emptied,
// and gathering its facts would fail the playbook; its master-config is RollMasters' to correct.
// The playbook runs as a job that outlives the step (RunScaleupPlaybook.sh): a try waits for it on the
// host, and the next try (ScaleupRunningError) or a resumed run waits on for the same job, never starting
// a second one. Its full output goes to the artifact store, its PLAY RECAP to the run record.
// The member counts as joined when it has started, whatever the playbook's exit code: a playbook that
// failed later (a master's restart, say) leaves the rest to the steps after this one, which redo what it
// did not do. A playbook that failed before the member started is ScaleupFailedError, naming the task and
// host: the inventory goes back and the member it added is removed again (RestoreInventory,
// CompensateNewMember).

import { RefusedError, ScaleupFailedError, ScaleupRunningError } from '../errors.ts';
import { OPENSHIFT_ANSIBLE_DIR, type ScaleupResult } from '../../statemachine/context.ts';
import { quorumForRemoval } from '../../statemachine/quorum.ts';
import { isStarted, memberByPeerUrl, peerUrl } from '../../statemachine/cluster.ts';
import { artifactKey } from '../cluster/artifactKeys.ts';
import { etcdOf } from '../cluster/etcdPort.ts';
import { need } from '../cluster/need.ts';
import { scaleupChange } from '../cluster/scaleupChange.ts';
import { observeWithoutFailed } from '../cluster/observe.ts';
import { INVENTORY_PATH } from '../config/paths.ts';
import { describeRecap, parsePlaybookDigest } from '../hosts/playbookOutput.ts';
import { runScript, SCRIPT_EXIT } from '../hosts/hostScript.ts';
import type { Step } from '../workflow/step.ts';
import type { StepDeps } from '../workflow/stepDeps.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';

/** How long one try waits on the host for the playbook (the step's timeout leaves a minute beyond it). */
export const SCALEUP_WAIT_SECONDS = 720;

type JobReport = { state: 'none' | 'lost' } | { state: 'done'; exit: number; seconds: number; uploaded: boolean; digest: string };

async function job(context: WorkflowContext, deps: StepDeps, mode: 'start' | 'report' | 'restart'): Promise<JobReport> {
  const installer = need(context.installerHost, 'installerHost');
  const key = artifactKey.scaleupOutput(context.runId);
  return runScript<JobReport>(deps.runner, {
    host: installer,
    script: 'RunScaleupPlaybook',
    args: [
      context.runId,
      context.options.openshiftAnsibleDir ?? OPENSHIFT_ANSIBLE_DIR,
      INVENTORY_PATH,
      String(SCALEUP_WAIT_SECONDS),
      mode,
      extraVars(context),
      ...scaleupChange(context).failed,
    ],
    secrets: { UPLOAD_URL: await deps.artifacts.uploadUrl(key, deps.waits.urlTtlSeconds) },
    timeoutSeconds: SCALEUP_WAIT_SECONDS + 60,
    exits: { [SCRIPT_EXIT.notReady]: (m) => new ScaleupRunningError(m) },
  });
}

/** `VAR=VALUE,...` for the script's -e, or `-`. */
export function extraVars(context: Pick<WorkflowContext, 'scaleupVars'>): string {
  return (
    Object.entries(context.scaleupVars ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(',') || '-'
  );
}

export const RunScaleupPlaybook: Step = async (context, deps) => {
  const replacement = need(context.replacement, 'replacement');
  const installer = need(context.installerHost, 'installerHost');
  const url = peerUrl(replacement);
  if (context.failedMemberRemoved !== true) {
    throw new RefusedError(
      `not running the scaleup playbook for ${replacement.name}: this run has not removed the failed member, so the add would change the member count it checked`,
    );
  }

  let report = await job(context, deps, 'report');
  if (report.state !== 'done') {
    // No job of this run has ended here: before one starts, the cluster must be ready for the add, and
    // a member at the new host's URL can only be one a lost job of this run added.
    const seen = await observeWithoutFailed(context, deps);
    const existing = memberByPeerUrl(seen.members, url);
    if (existing && isStarted(existing) && context.newMemberId !== existing.id) {
      throw new RefusedError(`member ${existing.id} (${existing.name}) already runs on ${url}, and this run did not add it: not running the scaleup playbook`);
    }
    if (existing && !isStarted(existing)) {
      throw new ScaleupFailedError(
        `the scaleup playbook of this run ${report.state === 'lost' ? 'was lost on ' + installer.name + ' (it ended without an exit code)' : 'is not on record on ' + installer.name} after it added member ${existing.id} at ${url}, which has not started: the member is removed again and the inventory put back; run the same command again`,
      );
    }
    if (!existing) {
      const verdict = quorumForRemoval(seen.health, null);
      if (!verdict.ok) throw new RefusedError(`not running the scaleup playbook: ${verdict.reason}`);
      report = await job(context, deps, report.state === 'lost' ? 'restart' : 'start');
    }
  }

  const members = await etcdOf(context, deps).memberList();
  const added = memberByPeerUrl(members, url);
  let scaleup: ScaleupResult | undefined;
  let failure = '';
  let leftOut: string[] = [];
  if (report.state === 'done') {
    const digest = parsePlaybookDigest(Buffer.from(report.digest, 'base64').toString('utf8'));
    leftOut = digest.leftOut;
    scaleup = {
      exitCode: report.exit,
      recap: digest.recap,
      ...(digest.failedTask !== undefined ? { failedTask: digest.failedTask } : {}),
      ...(digest.failedHost !== undefined ? { failedHost: digest.failedHost } : {}),
      ...(report.uploaded ? { outputKey: artifactKey.scaleupOutput(context.runId) } : {}),
      seconds: report.seconds,
    };
    if (report.exit !== 0) {
      failure =
        `the scaleup playbook failed (exit ${report.exit})` +
        (digest.failedTask !== undefined ? ` at TASK [${digest.failedTask}]` : '') +
        (digest.failedHost !== undefined ? ` on ${digest.failedHost}` : '') +
        (digest.failure ? `: ${digest.failure}` : '');
    }
  } else {
    failure = `the scaleup playbook's job on ${installer.name} ended without an exit code`;
  }
  const output = scaleup
    ? `; ${describeRecap(scaleup.recap)}${leftOut.length ? `; left out of every play: ${leftOut.join(', ')}` : ''}${scaleup.outputKey ? `; output in ${scaleup.outputKey}` : ''}`
    : '';
  if (!added || !isStarted(added)) {
    const state = added ? `member ${added.id} was added at ${url} and has not started` : `no member was added at ${url}`;
    throw new ScaleupFailedError(`${failure || 'the scaleup playbook ended with exit 0'}; ${state}${output}`);
  }
  return {
    output: {
      ...(scaleup ? { scaleup } : {}),
      newMemberId: added.id,
      memberAdded: true,
      addedAsLearner: false,
      newMemberStartedAt: deps.now().toISOString(),
    },
    detail: failure
      ? `${failure}, after member ${added.id} (${added.name}) had started: the steps after this one redo what it left${output}`
      : `the scaleup playbook added and started member ${added.id} (${added.name}) in ${scaleup?.seconds ?? '?'} s${output}`,
  };
};
