// InstallEtcd: prepare the new host from whatever state it is in, then install the etcd the cluster
// runs (runbook: new host step 3). Runs inside the grace window, before any membership change, so
// every refusal here leaves the cluster as it was.
//
// An etcd from an earlier life on the host is stopped and disabled, its data backed up off the host
// and checked before the directory is emptied; a host that runs a member of this cluster, or of
// another etcd cluster still running, is refused. The package is pinned: a bare `yum install etcd`
// takes the newest etcd the repositories offer (3.3.11 from RHEL 7 Extras), and OpenShift 3.x supports
// only the 3.2 its members run. Another minor version is installed only when the request names it.

import { ArtifactStoreError, RefusedError, WorkflowError } from '../errors.ts';
import { joinsAsLearner } from '../../statemachine/context.ts';
import * as validate from '../validate.ts';
import { artifactKey } from '../cluster/artifactKeys.ts';
import { compareEtcdVersions } from '../cluster/etcdVersion.ts';
import { need } from '../cluster/need.ts';
import { clusterIdentity, minorOf } from '../hosts/etcdHost.ts';
import { runScript, SCRIPT_EXIT } from '../hosts/hostScript.ts';
import { askKeyAhead } from '../hosts/keysAhead.ts';
import type { Step } from '../workflow/step.ts';

/** Exit 5 of InstallEtcd.sh prepare: the prior data could not leave the host. */
class PriorDataNotUploaded extends WorkflowError {
  override readonly name: string = 'PriorDataNotUploaded';
}

type Installed = { version: string; package: string; action: 'none' | 'install' | 'downgrade' };

interface Prepared {
  found: string[];
  stopped: boolean;
  /** `backedUp: false`: data was found by a prepare without an upload URL, and left as it is. */
  data: { empty: boolean; backedUp?: false; bytes?: number; sha256?: string; manifest?: string };
  /** The package, installed in the same command when the data directory held nothing. */
  installed?: Installed;
  /** 2379/2380 in the host's firewall (`ports`: OpenEtcdPorts' host half, in this command). */
  firewall?: { changed: boolean };
}

export const InstallEtcd: Step = async (context, deps) => {
  const host = need(context.replacement, 'replacement');
  const cluster = await clusterIdentity(context, deps);
  const wanted = context.options.etcdVersion ? validate.etcdVersion('options.etcdVersion', context.options.etcdVersion) : cluster.version;
  if (joinsAsLearner(context) && compareEtcdVersions(wanted, '3.4.0') < 0) {
    throw new RefusedError(
      `${host.name} would run etcd ${wanted}, but it joins as a learner, which needs etcd 3.4 or later; run with learner "never" or install 3.4`,
    );
  }

  // 1. Whatever etcd the host ran before: stopped, its data off the host and checked, then emptied. The
  // first prepare carries no upload URL (on SSM a URL costs a one-time key, one more command): a host with
  // nothing to back up, the usual case, is prepared and installed in one command; one with data is
  // prepared again with the URL, which backs the data up (the same refusals made again first).
  const key = artifactKey.replacementPriorData(context.runId, host.hostname);
  // The first also opens 2379/2380 in the host's firewall (`ports`), the host half of OpenEtcdPorts.
  const prepare = async (secrets?: Record<string, string>): Promise<Prepared> => {
    try {
      return await runScript<Prepared>(deps.runner, {
        host,
        script: 'InstallEtcd',
        args: ['prepare', cluster.clusterId, wanted, ...(secrets ? [] : ['ports'])],
        ...(secrets ? { secrets } : {}),
        timeoutSeconds: 600,
        // The step's own meaning of "the upload cannot leave the host": a refusal that says so, below.
        exits: { [SCRIPT_EXIT.uploadCannotLeaveHost]: (m) => new PriorDataNotUploaded(m) },
      });
    } catch (error) {
      if (!(error instanceof PriorDataNotUploaded)) throw error;
      throw new RefusedError(
        `${host.name} holds etcd data from an earlier life that cannot be backed up off the host (it cannot reach the artifact store); it is left untouched. ${error.message}`,
      );
    }
  };
  // The first command to the new host also makes the one-time key StartNewMember's download needs there
  // on SSM (functions/hosts/keysAhead.ts): that step then sends one command to the host, not two.
  if (!context.addByPlaybook) askKeyAhead(deps.runner, host, 'StartNewMember');
  const first = await prepare();
  const prepared =
    first.data.empty || first.data.backedUp !== false
      ? first
      : await prepare({ UPLOAD_URL: await deps.artifacts.uploadUrl(key, deps.waits.urlTtlSeconds) }).then((again) => ({
          ...again,
          found: [...new Set([...first.found, ...again.found])],
          stopped: first.stopped || again.stopped,
          ...(first.firewall ? { firewall: first.firewall } : {}),
        }));
  if (!prepared.data.empty && prepared.data.backedUp === false) {
    throw new ArtifactStoreError(`${host.name}'s earlier /var/lib/etcd was not backed up by a prepare with an upload URL; not emptying it`);
  }
  const notes = [...prepared.found];
  if (!prepared.data.empty) {
    const stored = await deps.artifacts.head(key);
    if (!stored || stored.size !== prepared.data.bytes) {
      throw new ArtifactStoreError(
        `backup of ${host.name}'s earlier /var/lib/etcd incomplete: host wrote ${prepared.data.bytes} bytes, store holds ${stored?.size ?? 'nothing'}; not emptying it`,
      );
    }
    await runScript(deps.runner, { host, script: 'InstallEtcd', args: ['wipe', need(prepared.data.manifest, 'manifest')] });
    notes.push(`its earlier /var/lib/etcd (${prepared.data.bytes} bytes) is stored at ${stored.location} and the directory emptied`);
  }

  // 2. The package, pinned (the script refuses when etcd-<wanted> cannot be installed): done with the
  // preparation when there was no data, else now, after the backup was checked and the directory emptied.
  const installed =
    prepared.installed ??
    (await runScript<Installed>(deps.runner, {
      host,
      script: 'InstallEtcd',
      args: ['install', wanted],
      timeoutSeconds: 600,
    }));
  if (installed.version !== wanted) {
    throw new RefusedError(
      `${host.name} runs etcd ${installed.version} after installing etcd-${wanted} (${installed.package}); the members run ${cluster.version}`,
    );
  }
  const firewall = prepared.firewall ? `; OS_FIREWALL_ALLOW ${prepared.firewall.changed ? 'opened' : 'already opened'} 2379/2380` : '';
  const chosen = context.options.etcdVersion && minorOf(wanted) !== minorOf(cluster.version) ? ` (asked for; the members run ${cluster.version})` : '';
  return {
    output: { newMemberVersion: installed.version },
    detail:
      `${host.name}: etcd ${installed.version}${chosen} ${installed.action === 'none' ? 'was already installed' : `${installed.action === 'install' ? 'installed' : 'downgraded to'} ${installed.package}`}` +
      (notes.length > 0 ? `; found ${notes.join('; ')}${prepared.stopped ? ' (stopped and disabled)' : ''}` : '') +
      firewall,
    ...(installed.action === 'none' && notes.length === 0 && !prepared.stopped && prepared.firewall?.changed !== true ? { skipped: true } : {}),
  };
};
