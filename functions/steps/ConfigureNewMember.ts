// ConfigureNewMember: rewrite the etcd.conf copied beside the new member's certificates on the CA host
// (ETCD_NAME, ETCD_INITIAL_CLUSTER, ETCD_INITIAL_CLUSTER_STATE=existing and the four URL keys), check
// it, then pack certificates, config and CA into <hostname>.tgz and store it for the new host
// (runbook 37.2.2 steps 8 and 10). The bundle goes host to store to host, never through the workflow.
// It runs before AddMember, so that StartNewMember follows the add at once: ETCD_INITIAL_CLUSTER is what
// `member add` prints, every started member and the new one, and StartNewMember checks it after the add.

import { checkEtcdConf, initialClusterString, newMemberEtcdConf } from '../config/etcdConf.ts';
import { createHash } from 'node:crypto';
import { ArtifactStoreError, ConfigEditError, RefusedError } from '../errors.ts';
import { artifactKey } from '../cluster/artifactKeys.ts';
import { etcdOf } from '../cluster/etcdPort.ts';
import { need } from '../cluster/need.ts';
import { readHostFile, writeArgs, type HostFile } from '../hosts/hostFile.ts';
import { runScript } from '../hosts/hostScript.ts';
import { askKeyAhead } from '../hosts/keysAhead.ts';
import type { EtcdMember, Host } from '../ports.ts';
import type { Step } from '../workflow/step.ts';
import { isStarted, memberByPeerUrl, peerUrl } from '../../statemachine/cluster.ts';

/** ETCD_INITIAL_CLUSTER as `member add` prints it: every started member by name, and the new one (once, by its peer URL). */
export function expectedInitialCluster(members: EtcdMember[], replacement: Host): string {
  const url = peerUrl(replacement);
  return initialClusterString([
    ...members.filter((m) => isStarted(m) && memberByPeerUrl([m], url) === undefined).map((m) => ({ name: m.name, peerURL: m.peerURLs[0] ?? '' })),
    { name: replacement.hostname, peerURL: url },
  ]);
}

export const ConfigureNewMember: Step = async (context, deps) => {
  const ca = need(context.caHost, 'caHost');
  const replacement = need(context.replacement, 'replacement');
  const path = `/etc/etcd/generated_certs/etcd-${replacement.hostname}/etcd.conf`;
  // The member list is the one RemoveFailedMember observed, without the member it removed, until an add
  // (membersAfterRemoval); the etcd.conf is the one IssueCertificates copied and printed (copiedEtcdConf).
  // Where the run holds both, the write and the bundle are the step's only command, its one-time key made by
  // IssueCertificates' command (functions/hosts/keysAhead.ts). Else the list is read beside the file: one
  // round trip for both, the read on the CA host making the key. StartNewMember checks what the add made.
  const copied = context.copiedEtcdConf?.hostname === replacement.hostname ? context.copiedEtcdConf.text : undefined;
  const listed = context.membersAfterRemoval;
  const readBoth = async () => {
    askKeyAhead(deps.runner, ca, 'ConfigureNewMember');
    return Promise.all([listed ?? etcdOf(context, deps).memberList(), readHostFile(deps.runner, ca, path)]);
  };
  const [members, read] = listed && copied !== undefined ? [listed, { sha256: sha256(copied), text: copied }] : await readBoth();
  const initialCluster = expectedInitialCluster(members, replacement);
  const key = artifactKey.bundle(context.runId, replacement.hostname);
  const configure = async (read: HostFile | null) => {
    if (!read) throw new ConfigEditError(`${path} is missing on ${ca.name}; IssueCertificates copies it there`);
    const text = newMemberEtcdConf(read.text, { name: replacement.hostname, ip: replacement.ip, initialCluster });
    const problems = checkEtcdConf(text, { name: replacement.hostname, ip: replacement.ip });
    if (problems.length) throw new ConfigEditError(`the new member's etcd.conf does not pass its check: ${problems.join('; ')}`);
    const url = await deps.artifacts.uploadUrl(key, deps.waits.urlTtlSeconds);
    // The write (only when the text changed, and only over the content read) and the bundle: one command.
    return runScript<{ bytes: number; written?: { changed: boolean } }>(deps.runner, {
      host: ca,
      script: 'ConfigureNewMember',
      args: [replacement.hostname, replacement.ip, ...writeArgs(read, text)],
      secrets: { UPLOAD_URL: url },
    });
  };
  let packed: Awaited<ReturnType<typeof configure>>;
  try {
    packed = await configure(read);
  } catch (error) {
    // The file is no longer what IssueCertificates copied (an earlier attempt of this step wrote it): read it.
    if (!(error instanceof RefusedError) || read === null || read.text !== copied) throw error;
    packed = await configure(await readHostFile(deps.runner, ca, path));
  }
  const changed = packed.written?.changed === true;
  const stored = await deps.artifacts.head(key);
  if (!stored || stored.size !== packed.bytes)
    throw new ArtifactStoreError(`bundle upload incomplete: ${packed.bytes} bytes packed, ${stored?.size ?? 'nothing'} stored`);
  return {
    // The copied file has served: it leaves the run's state.
    output: { bundleKey: key, initialCluster, copiedEtcdConf: undefined },
    detail: `etcd.conf for ${replacement.hostname} ${changed ? 'written' : 'already right'} (ETCD_INITIAL_CLUSTER=${initialCluster}); bundle of ${packed.bytes} bytes stored`,
  };
};

/** The sha256 the host's file has when its bytes are `text` (lib/hostFile.sh writes only over it). */
function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
