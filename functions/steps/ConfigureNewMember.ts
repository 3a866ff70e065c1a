// ConfigureNewMember: rewrite the etcd.conf copied beside the new member's certificates on the CA host
// (ETCD_NAME, ETCD_INITIAL_CLUSTER, ETCD_INITIAL_CLUSTER_STATE=existing and the four URL keys), check
// it, then pack certificates, config and CA into <hostname>.tgz and store it for the new host
// (runbook 37.2.2 steps 8 and 10). The bundle goes host to store to host, never through the workflow.
// It runs before AddMember, so that StartNewMember follows the add at once: ETCD_INITIAL_CLUSTER is what
// `member add` prints, every started member and the new one, and StartNewMember checks it after the add.

import { checkEtcdConf, initialClusterString, newMemberEtcdConf } from '../config/etcdConf.ts';
import { ArtifactStoreError, ConfigEditError } from '../errors.ts';
import { artifactKey } from '../cluster/artifactKeys.ts';
import { etcdOf } from '../cluster/etcdPort.ts';
import { need } from '../cluster/need.ts';
import { readHostFile, writeArgs } from '../hosts/hostFile.ts';
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
  // (membersAfterRemoval); else it is read beside the copied etcd.conf: one round trip for both. The read on
  // the CA host also makes the one-time key for the bundle's upload URL there (SSM,
  // functions/hosts/keysAhead.ts): no command of its own. StartNewMember checks what the add made.
  askKeyAhead(deps.runner, ca, 'ConfigureNewMember');
  const [members, read] = await Promise.all([context.membersAfterRemoval?.members ?? etcdOf(context, deps).memberList(), readHostFile(deps.runner, ca, path)]);
  const initialCluster = expectedInitialCluster(members, replacement);

  if (!read) throw new ConfigEditError(`${path} is missing on ${ca.name}; IssueCertificates copies it there`);
  const text = newMemberEtcdConf(read.text, { name: replacement.hostname, ip: replacement.ip, initialCluster });
  const problems = checkEtcdConf(text, { name: replacement.hostname, ip: replacement.ip });
  if (problems.length) throw new ConfigEditError(`the new member's etcd.conf does not pass its check: ${problems.join('; ')}`);
  const key = artifactKey.bundle(context.runId, replacement.hostname);
  const url = await deps.artifacts.uploadUrl(key, deps.waits.urlTtlSeconds);
  // The write (only when the text changed, and only over the content read) and the bundle: one command.
  const packed = await runScript<{ bytes: number; written?: { changed: boolean } }>(deps.runner, {
    host: ca,
    script: 'ConfigureNewMember',
    args: [replacement.hostname, replacement.ip, ...writeArgs(read, text)],
    secrets: { UPLOAD_URL: url },
  });
  const changed = packed.written?.changed === true;
  const stored = await deps.artifacts.head(key);
  if (!stored || stored.size !== packed.bytes)
    throw new ArtifactStoreError(`bundle upload incomplete: ${packed.bytes} bytes packed, ${stored?.size ?? 'nothing'} stored`);
  return {
    output: { bundleKey: key, initialCluster },
    detail: `etcd.conf for ${replacement.hostname} ${changed ? 'written' : 'already right'} (ETCD_INITIAL_CLUSTER=${initialCluster}); bundle of ${packed.bytes} bytes stored`,
  };
};
