// The plan: every state in order, with the exact commands it would run on each host, worked out from
// the request and a read-only look at the cluster. Nothing is changed. Presigned URLs are shown as
// placeholders: they are minted only when a run needs them.

import { ADD_METHOD_TASKS, STATES, type StateSpec } from '../../statemachine/spec.ts';
import { extraVars, SCALEUP_WAIT_SECONDS } from '../steps/RunScaleupPlaybook.ts';
import { joinsAsLearner, OPENSHIFT_ANSIBLE_DIR, type WorkflowContext } from '../../statemachine/context.ts';
import { shellQuote } from '../validate.ts';
import { clientUrl, hostOfMember, peerUrl } from '../../statemachine/cluster.ts';
import { endpointsKnownBefore } from '../cluster/observe.ts';
import { viaHosts } from '../cluster/etcdPort.ts';
import { SNAPSHOT_WAIT_SECONDS, snapshotMember } from '../cluster/snapshot.ts';
import { FLANNELD_PATH, INVENTORY_PATH, MASTER_CONFIG_PATH } from '../config/paths.ts';
import type { Host } from '../ports.ts';

export interface PlannedCommand {
  host: string;
  command: string;
}

export interface PlannedStep {
  name: string;
  kind: StateSpec['kind'];
  summary: string;
  runbook?: string;
  commands: PlannedCommand[];
  /** Why the step would be skipped, when the plan can already tell. */
  note?: string;
}

const script = (host: Host | undefined, name: string, ...args: string[]): PlannedCommand => ({
  host: host?.name ?? '(host not known yet)',
  command: [`bash functions/scripts/${name}.sh`, ...args.map((a) => (/^<.*>$/.test(a) ? a : shellQuote(a)))].join(' '),
});
/** A script that reads signed artifact-store URLs on stdin (never in its arguments): names them. */
const withSecrets = (command: PlannedCommand, ...names: string[]): PlannedCommand => ({
  ...command,
  command: `${command.command}  # stdin: ${names.map((n) => `${n}=<signed URL>`).join(' ')}`,
});
const etcdctl = (host: Host | undefined, ...args: string[]) => script(host, 'etcdctl', ...args);
const local = (command: string): PlannedCommand => ({ host: '(workflow)', command });

export function planSteps(context: WorkflowContext): PlannedStep[] {
  const r = context.replacement;
  const ca = context.caHost;
  const failed = context.failedHost;
  const via = viaHosts(context)[0];
  const endpoints = (context.survivors ?? []).map((s) => s.clientURL).join(',');
  const inventory = context.inventory;
  const masters = inventory?.hosts.filter((h) => h.roles.includes('master')) ?? [];
  const flannelHosts = inventory?.hosts.filter((h) => h.roles.includes('master') || h.roles.includes('node')) ?? [];
  const snapshotFrom = context.survivors && inventory ? snapshotMember(context) : undefined;
  const snapshotHost = snapshotFrom && inventory ? hostOfMember(inventory, snapshotFrom) : undefined;
  const prefix = r ? `/etc/etcd/generated_certs/etcd-${r.hostname}/` : '';
  const learner = joinsAsLearner(context);
  const byPlaybook = context.options.addMethod === 'ansible';
  const ansibleDir = context.options.openshiftAnsibleDir ?? OPENSHIFT_ANSIBLE_DIR;
  const excluded = failed ? [...new Set([failed.hostname, failed.name, failed.ip])] : [];
  const allEndpoints = [...(context.survivors ?? []).map((s) => s.clientURL), ...(r ? [clientUrl(r)] : [])].join(',');

  const assumedDown = context.failedMember ? [context.failedMember.id] : [];
  /** One observation: the member list and every known member's status in one etcdctl.sh command. */
  const observation = (down: string[] = []) =>
    etcdctl(via, 'observe', endpoints, inventory ? endpointsKnownBefore(context, new Set(down)).join(',') : endpoints);
  const commands: Record<string, PlannedCommand[]> = {
    ValidateInput: [local('validate the request; resolve failed, replacement, CA and installer hosts from the inventory')],
    AcquireLock: [local(`take the lock of cluster ${context.request.cluster}`)],
    CheckClusterHealth: [observation(), script(r, 'DescribeEtcdHost')],
    ProvisionReplacement:
      context.replacementChoice === 'launched'
        ? [
            local(
              `launch a host for the run (${context.request.cluster}: the provisioning port), wait until it is running, registered and reports its hostname and IP`,
            ),
          ]
        : [],
    ConfirmMemberFailed: [observation()],
    SnapshotCluster: [
      withSecrets(script(snapshotHost, 'SnapshotCluster', context.runId, snapshotFrom?.clientURL ?? ''), 'UPLOAD_URL'),
      ...(learner ? [] : [script(snapshotHost, 'AwaitSnapshot', context.runId, String(SNAPSHOT_WAIT_SECONDS))]),
    ],
    AwaitSnapshot: [script(snapshotHost, 'AwaitSnapshot', context.runId, String(SNAPSHOT_WAIT_SECONDS))],
    RemoveFailedMember: [observation(assumedDown), etcdctl(via, 'member-remove', endpoints, context.failedMember?.id ?? '<failed member id>')],
    StopFailedMember: [script(failed, 'StopFailedMember')],
    BackUpFailedMemberData: [
      withSecrets(script(failed, 'BackUpFailedMemberData', 'backup'), 'UPLOAD_URL'),
      script(failed, 'BackUpFailedMemberData', 'wipe', '<manifest sha256>'),
    ],
    IssueCertificates: [
      withSecrets(
        script(ca, 'IssueCertificates', r?.hostname ?? '', r?.ip ?? ''),
        'PROBE_UPLOAD_URL',
        ...(context.options.caBackupKey ? ['CA_BACKUP_URL'] : []),
      ),
    ],
    VerifyCertificates: [script(ca, 'VerifyCertificates', r?.hostname ?? ''), local('node-forge: SAN, key usages, chain to the CA, validity, key match')],
    FixLocalhostPeerUrls: [
      etcdctl(via, 'member-list', endpoints),
      local('for each member on localhost: FixLocalhostPeerUrls.sh on its host, then etcdctl member-update'),
    ],
    AddMember: [observation(assumedDown), etcdctl(via, learner ? 'member-add-learner' : 'member-add', endpoints, r ? peerUrl(r) : '')],
    ConfigureNewMember: [
      script(ca, 'ReadHostFile', `${prefix}etcd.conf`),
      withSecrets(script(ca, 'ConfigureNewMember', r?.hostname ?? '', r?.ip ?? '', '<sha256 read>', '<new etcd.conf, base64>'), 'UPLOAD_URL'),
    ],
    CheckScaleupPlaybook: [
      script(context.installerHost, 'ReadHostFile', INVENTORY_PATH),
      script(context.installerHost, 'CheckScaleupPlaybook', 'installer', ansibleDir, '<the inventory PrepareInventory writes, base64>'),
      context.options.caBackupKey && ca?.name !== context.inventory?.hosts.find((h) => h.roles.includes('ca'))?.name
        ? withSecrets(script(ca, 'CheckScaleupPlaybook', 'ca'), 'CA_BACKUP_URL')
        : script(ca, 'CheckScaleupPlaybook', 'ca'),
    ],
    PrepareInventory: [
      script(context.installerHost, 'PrepareInventory', context.runId),
      script(context.installerHost, 'ReadHostFile', INVENTORY_PATH),
      script(context.installerHost, 'WriteHostFile', INVENTORY_PATH, '<sha256 read>', '<new inventory, base64>'),
      ...(r && ca
        ? [
            local(
              `the edit: [OSEv3:children] gains new_etcd; [new_etcd] lists ${r.hostname}; [etcd] ${failed ? `drops ${failed.hostname} and ` : ''}starts with ${ca.hostname}; every other line unchanged`,
            ),
          ]
        : []),
    ],
    RunScaleupPlaybook: [
      withSecrets(
        script(
          context.installerHost,
          'RunScaleupPlaybook',
          context.runId,
          ansibleDir,
          INVENTORY_PATH,
          String(SCALEUP_WAIT_SECONDS),
          'start',
          extraVars(context),
          ...excluded,
        ),
        'UPLOAD_URL',
      ),
      {
        host: context.installerHost?.name ?? '(host not known yet)',
        command:
          `cd ${shellQuote(ansibleDir)} && ansible-playbook -i ${INVENTORY_PATH} playbooks/openshift-etcd/scaleup.yml` +
          Object.entries(context.scaleupVars ?? {})
            .map(([k, v]) => ` -e ${k}=${v}`)
            .join('') +
          (excluded.length ? ` --limit ${shellQuote(['all', 'localhost', ...excluded.map((h) => `!${h}`)].join(':'))}` : ''),
      },
      etcdctl(via, 'member-list', endpoints),
    ],
    RestoreMasterUrls: masters.flatMap((m) => [
      script(m, 'ReadHostFile', MASTER_CONFIG_PATH),
      script(m, 'RollMasters', '120', '<sha256 read>', '<master-config.yaml naming the members that run, base64>'),
    ]),
    RestoreInventory: [
      script(context.installerHost, 'ReadHostFile', `${INVENTORY_PATH}.before-${context.runId}`),
      script(context.installerHost, 'WriteHostFile', INVENTORY_PATH, '<sha256 read>', '<the inventory before the run, base64>'),
    ],
    UpdateInventory: [
      script(context.installerHost, 'ReadHostFile', INVENTORY_PATH),
      script(context.installerHost, 'WriteHostFile', INVENTORY_PATH, '<sha256 read>', '<new inventory, base64>'),
    ],
    OpenEtcdPorts: [script(r, 'OpenEtcdPorts'), local(`security group: allow 2379, 2380 into ${r?.name ?? 'the new host'} from the etcd group`)],
    InstallEtcd: [
      withSecrets(
        script(
          r,
          'InstallEtcd',
          'prepare',
          context.clusterId ?? '<cluster id>',
          context.options.etcdVersion ?? context.clusterVersion ?? "<the members' version>",
        ),
        'UPLOAD_URL',
      ),
      local('installs in the same command when /var/lib/etcd is empty; else the backup is checked in the store, then `InstallEtcd.sh wipe`, then `install`'),
    ],
    StartNewMember: [
      etcdctl(via, 'member-list', endpoints),
      withSecrets(
        script(
          r,
          'StartNewMember',
          r?.hostname ?? '',
          '<cluster id>',
          '<new member id>',
          '60',
          r ? clientUrl(r) : '',
          '<survivors>',
          '<survivors>',
          learner ? 'learner' : 'voter',
          '780',
        ),
        'BUNDLE_URL',
        'BACKUP_UPLOAD_URL',
      ),
      local(`waits on the new host until it is listed under its name${learner ? '' : ' and its endpoint is healthy (caught up)'} (lib/awaitMember.sh)`),
    ],
    PromoteNewMember: [etcdctl(via, 'member-promote', endpoints, '<new member id>')],
    VerifyClusterHealth: [etcdctl(via, 'member-list', allEndpoints), script(via, 'VerifyClusterHealth', allEndpoints)],
    RollMasters: masters.flatMap((m) => [
      script(m, 'ReadHostFile', MASTER_CONFIG_PATH),
      script(m, 'RollMasters', '120', '<sha256 read>', '<new master-config.yaml, base64>'),
    ]),
    UpdateFlannel: flannelHosts.flatMap((h) => [
      script(h, 'ReadHostFile', FLANNELD_PATH),
      script(h, 'UpdateFlannel', '<sha256 read>', '<new flanneld, base64>'),
    ]),
    CompensateNewMember: [
      observation(),
      etcdctl(via, 'member-remove', endpoints, '<new member id>'),
      script(r, 'CompensateNewMember', '<cluster id>', '<new member id>'),
    ],
    DiscardKeyBundle: [local(`artifact store: delete runs/${context.runId}/bundle-${r?.hostname ?? '<new host>'}.tgz and every version of it, if it is there`)],
    TerminateLaunchedHost:
      context.replacementChoice === 'launched'
        ? [etcdctl(via, 'member-list', endpoints), local('terminate the host this run launched (its run tag), unless a member is on it')]
        : [],
    RecordClusterState: [observation(), script(snapshotHost, 'AwaitSnapshot', context.runId, '5')],
    ReleaseLock: [local(`release the lock of cluster ${context.request.cluster}`)],
  };
  const otherMethod = byPlaybook
    ? 'the scaleup playbook adds the member (--add-method ansible): skipped'
    : 'added by the manual steps (--add-method manual): skipped';
  const methodNotes = Object.fromEntries(ADD_METHOD_TASKS[byPlaybook ? 'manual' : 'ansible'].map((name) => [name, otherMethod]));
  const notes: Record<string, string | undefined> = {
    ...methodNotes,
    RestoreMasterUrls: byPlaybook
      ? 'only when the scaleup added no member that started; a master already right is left alone'
      : 'this run does not run the scaleup playbook',
    RestoreInventory: byPlaybook
      ? "only when the scaleup added no member that started; only an inventory that still holds the run's edit"
      : 'this run does not edit the inventory before the add',
    RemoveFailedMember: context.failedMember === null ? 'the failed member is not in the member list' : undefined,
    FixLocalhostPeerUrls: context.peerUrlsOnLocalhost ? undefined : 'no peer URL names localhost',
    PromoteNewMember: learner ? undefined : 'the member is added as a voting member',
    AwaitSnapshot: learner ? undefined : 'SnapshotCluster already waited for the snapshot: skipped',
    CompensateNewMember: 'only when the new member cannot join; never without quorum, never when the cluster needs its vote',
    RecordClusterState: 'only when the run does not succeed; the snapshot check only when quorum is lost',
    ProvisionReplacement:
      context.replacementChoice === 'launched'
        ? undefined
        : `the replacement ${r?.name ?? ''} is ${context.replacementChoice === 'spare' ? 'from the spare pool' : 'named'}: nothing to launch`,
    TerminateLaunchedHost:
      context.replacementChoice === 'launched' ? 'only when the run does not succeed and no member is on the launched host' : 'this run launches no host',
  };
  return STATES.map((s) => ({
    name: s.name,
    kind: s.kind,
    summary: s.summary,
    ...(s.kind === 'task' ? { runbook: s.runbook } : {}),
    commands: commands[s.name] ?? [],
    ...(notes[s.name] ? { note: notes[s.name] } : {}),
  }));
}
