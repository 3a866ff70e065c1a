// The plan: every state in order, with the exact commands it would run on each host, worked out from
// the request and a read-only look at the cluster. Nothing is changed. Presigned URLs are shown as
// placeholders: they are minted only when a run needs them.

import { ADD_METHOD_TASKS, STATES, type ChoiceSpec, type StateSpec } from '../../statemachine/spec.ts';
import { currentSlots, loadSlot, slotLabel } from '../../statemachine/members.ts';
import { quorumForRemoval, quorumNow, type MemberHealth } from '../../statemachine/quorum.ts';
import type { MemberPhase, MemberRef, MemberSlot, ReplacementChoice } from '../../statemachine/context.ts';
import { extraVars, SCALEUP_WAIT_SECONDS } from '../steps/RunScaleupPlaybook.ts';
import { joinsAsLearner, OPENSHIFT_ANSIBLE_DIR, type WorkflowContext } from '../../statemachine/context.ts';
import { shellQuote } from '../validate.ts';
import { clientUrl, hostOfMember, peerUrl } from '../../statemachine/cluster.ts';
import { endpointsKnownBefore } from '../cluster/observe.ts';
import { viaHosts } from '../cluster/etcdPort.ts';
import { SNAPSHOT_WAIT_SECONDS, snapshotMember } from '../cluster/snapshot.ts';
import { INVENTORY_PATH, MASTER_CONFIG_PATH } from '../config/paths.ts';
import type { Host } from '../ports.ts';
import { InvalidInputError, RefusedError } from '../errors.ts';
import { assessFailure } from '../cluster/assessFailure.ts';
import { ValidateInput } from '../steps/ValidateInput.ts';
import type { StepDeps } from './stepDeps.ts';
import type { AddMethod, RunOptions } from '../../statemachine/context.ts';

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
  /** In a plan for several failed members, the member a per-member step works on, as the run record names it: `master-3 → etcd-spare-0 (1 of 2)`. */
  member?: string;
  /** With `member`: the loop the step is part of (prepare, remove, add: statemachine/members.ts). */
  phase?: MemberPhase;
  /** In a plan for several failed members: quorum before the step makes its change (each removal, each add, each start or promotion). */
  quorumBefore?: PlannedQuorum;
  /** With `quorumBefore`: quorum once the step has done its change. */
  quorumAfter?: PlannedQuorum;
}

/** Quorum as it would stand after a membership change (statemachine/quorum.ts quorumNow on the observed members). */
export interface PlannedQuorum {
  voters: number;
  answering: number;
  needed: number;
  holds: boolean;
  text: string;
}

/** One failed member of a plan for several: its replacement, and the steps the run would take for it, in order. */
export interface PlannedMember {
  failed: string;
  replacement: string | null;
  chosen?: ReplacementChoice;
  /** The failed member's etcd ID, once the observation found it. */
  failedMemberId?: string;
  steps: PlannedStep[];
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

/** Each state's commands and note, worked out for the member the context holds (the only one, or the one a loop works on). */
function stepsByState(
  context: WorkflowContext,
  options: { assumedDown?: string[] } = {},
): { commands: Record<string, PlannedCommand[]>; notes: Record<string, string | undefined> } {
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

  const assumedDown = options.assumedDown ?? (context.failedMember ? [context.failedMember.id] : []);
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
    SnapshotCluster: [withSecrets(script(snapshotHost, 'SnapshotCluster', context.runId, snapshotFrom?.clientURL ?? ''), 'UPLOAD_URL')],
    AwaitSnapshot: [script(snapshotHost, 'AwaitSnapshot', context.runId, String(SNAPSHOT_WAIT_SECONDS))],
    RemoveFailedMember: [observation(assumedDown), etcdctl(via, 'member-remove', endpoints, context.failedMember?.id ?? '<failed member id>')],
    StopFailedMember: [script(failed, 'StopFailedMember')],
    BackUpFailedMemberData: [
      withSecrets(script(failed, 'BackUpFailedMemberData', 'backup'), 'UPLOAD_URL'),
      script(failed, 'BackUpFailedMemberData', 'wipe', '<manifest sha256>'),
    ],
    IssueCertificates: [
      withSecrets(
        script(ca, 'IssueCertificates', r?.hostname ?? '', r?.ip ?? '', 'sections'),
        'PROBE_UPLOAD_URL',
        ...(context.options.caBackupKey ? ['CA_BACKUP_URL'] : []),
      ),
      local("node-forge on the certificates' public material it prints: SAN, key usages, chain to the CA, validity, key match"),
    ],
    VerifyCertificates: [
      local('nothing left to ask the CA host when IssueCertificates checked these certificates; else VerifyCertificates.sh and the same checks'),
    ],
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
      script(
        context.installerHost,
        'WriteHostFile',
        'join-etcd-group',
        r?.hostname ?? '<new host>',
        ...(context.failedHost ? [context.failedHost.hostname] : []),
      ),
    ],
    OpenEtcdPorts: [
      local(`security group: allow 2379, 2380 into ${r?.name ?? 'the new host'} from the etcd group (the host's firewall: InstallEtcd's first command)`),
    ],
    InstallEtcd: [
      script(
        r,
        'InstallEtcd',
        'prepare',
        context.clusterId ?? '<cluster id>',
        context.options.etcdVersion ?? context.clusterVersion ?? "<the members' version>",
        'ports',
      ),
      local(
        'opens 2379/2380 in OS_FIREWALL_ALLOW, then installs in the same command when /var/lib/etcd is empty; else `prepare` again with UPLOAD_URL (the backup), the backup checked in the store, then `InstallEtcd.sh wipe`, then `install`',
      ),
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
    VerifyClusterHealth: [script(via, 'VerifyClusterHealth', allEndpoints, allEndpoints)],
    RollMasters: masters.flatMap((m) => [
      script(m, 'ReadHostFile', MASTER_CONFIG_PATH),
      script(m, 'RollMasters', '120', '<sha256 read>', '<new master-config.yaml, base64>'),
    ]),
    UpdateFlannel: flannelHosts.map((h) => script(h, 'UpdateFlannel', 'live', "<the live members' hostnames>")),
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
    CompensateNewMember: 'only when the new member cannot join; never without quorum, never when the cluster needs its vote',
    RecordClusterState: 'only when the run does not succeed; the snapshot check only when quorum is lost',
    ProvisionReplacement:
      context.replacementChoice === 'launched'
        ? undefined
        : `the replacement ${r?.name ?? ''} is ${context.replacementChoice === 'spare' ? 'from the spare pool' : 'named'}: nothing to launch`,
    TerminateLaunchedHost:
      context.replacementChoice === 'launched' ? 'only when the run does not succeed and no member is on the launched host' : 'this run launches no host',
  };
  return { commands, notes };
}

/** One state as the plan shows it, with its commands and note. */
function planned(s: StateSpec, commands: Record<string, PlannedCommand[]>, notes: Record<string, string | undefined>): PlannedStep {
  return {
    name: s.name,
    kind: s.kind,
    summary: s.summary,
    ...(s.kind === 'task' ? { runbook: s.runbook } : {}),
    commands: commands[s.name] ?? [],
    ...(notes[s.name] ? { note: notes[s.name] } : {}),
  };
}

export function planSteps(context: WorkflowContext): PlannedStep[] {
  const { commands, notes } = stepsByState(context);
  return STATES.map((s) => planned(s, commands, notes));
}

/**
 * The loops of a run that replaces several members, as the spec has them: each loop's choice (guarded by
 * `anotherMember`) goes back to the first state of its body, and the body runs from there to the choice.
 */
function memberLoops(): Array<{ phase: MemberPhase; from: number; to: number }> {
  const phases: MemberPhase[] = ['prepare', 'remove', 'add'];
  const loops = STATES.flatMap((s, to) => {
    if (s.kind !== 'choice') return [];
    const back = (s as ChoiceSpec).when.find((w) => w.guard.field === 'anotherMember');
    return back ? [{ from: STATES.findIndex((x) => x.name === back.next), to }] : [];
  });
  if (loops.length !== phases.length || loops.some((l) => l.from < 0 || l.from > l.to)) {
    throw new Error(`expected ${phases.length} per-member loops in the spec, found ${loops.length}`);
  }
  return loops.map((l, i) => ({ phase: phases[i]!, ...l }));
}

/** A new member the plan expects to have joined: the next members' steps talk to it and wait for it. */
const plannedJoined = (slot: MemberSlot): MemberRef | null =>
  slot.replacement
    ? {
        id: `<new member id of ${slot.replacement.name}>`,
        name: slot.replacement.hostname,
        peerURL: peerUrl(slot.replacement),
        clientURL: clientUrl(slot.replacement),
      }
    : null;

const quorumFigures = (health: MemberHealth[]): PlannedQuorum => {
  const q = quorumNow(health);
  return { voters: q.voters, answering: q.answering, needed: q.needed, holds: q.has, text: q.text };
};

/**
 * The plan of a run that replaces several failed members: the states before the loops once; the prepare loop's
 * body once per replacement (certificates, ports, package), all before any membership change; the grace window
 * and the second observation; the remove loop's body once per failed member, each removal with quorum after it;
 * the add loop's body once per new member (add, start, promote, healthy before the next), each with quorum after
 * it; then the masters, flannel and the closing states once. Quorum is worked out with the run's own pure
 * functions (statemachine/quorum.ts) from what the first observation found: the other voting members answering,
 * the failed ones not (the observation refuses anything else).
 */
export function planSeveral(context: WorkflowContext): { steps: PlannedStep[]; members: PlannedMember[] } {
  const slots = currentSlots(context);
  const count = slots.length;
  const label = (i: number) => slotLabel(slots[i]!, i, count);
  const failedIds = slots.flatMap((s) => (s.failedMember && s.failedMemberRemoved !== true ? [s.failedMember.id] : []));
  const observed = context.survivors !== undefined && slots.every((s) => s.failedMember !== undefined);
  const silent = context.silentVoters ?? [];
  // The voting members as the first observation found them: the survivors answer, the failed members do not.
  let health: MemberHealth[] = observed
    ? [
        ...(context.survivors ?? []).map((m) => ({ id: m.id, name: m.name, isLearner: false, healthy: true })),
        ...slots.flatMap((s) =>
          s.failedMember && s.failedMemberRemoved !== true ? [{ id: s.failedMember.id, name: s.failedMember.name, isLearner: false, healthy: false }] : [],
        ),
        // Other voting members that did not answer either: they stay members, and count against quorum.
        ...silent.map((id) => ({ id, name: '', isLearner: false, healthy: false })),
      ]
    : [];
  const learner = joinsAsLearner(context);

  const whole = stepsByState(context, { assumedDown: failedIds });
  const steps: PlannedStep[] = [];
  const members: PlannedMember[] = slots.map((s) => ({
    failed: s.failedHost?.name ?? s.failed,
    replacement: s.replacement?.name ?? null,
    ...(s.replacementChoice ? { chosen: s.replacementChoice } : {}),
    ...(s.failedMember?.id ? { failedMemberId: s.failedMember.id } : {}),
    steps: [],
  }));
  const others = (context.survivors ?? []).map((m) => m.name || m.id);
  const failedNames = slots.map((s) => s.failedHost?.name ?? s.failed).join(', ');
  whole.notes['CheckClusterHealth'] =
    `every failed member (${failedNames}) matched exactly and not answering, every other voting member${others.length ? ` (${others.join(', ')})` : ''} answering ` +
    '(one that does not is named and the run refused: name every failed member), quorum after each removal in turn, an odd count at the end';
  whole.commands['CheckClusterHealth'] = [
    ...(whole.commands['CheckClusterHealth'] ?? []).filter((c) => !c.command.includes('DescribeEtcdHost')),
    ...slots.map((s) => script(s.replacement, 'DescribeEtcdHost')),
  ];
  whole.notes['ConfirmMemberFailed'] =
    `the same checks again, for every failed member (${failedNames})` +
    (silent.length > 0
      ? `; refuses member(s) ${silent.join(', ')}, silent at the first observation too, unless a run for them has been taken in by then (IsMemberTakenIn)`
      : '');
  whole.notes['ProvisionReplacement'] = 'every replacement is named or from the spare pool: nothing to launch';
  whole.notes['CompensateNewMember'] =
    'only for the new member that cannot join (shown for the last); the members that joined before it stay; never without quorum, never when the cluster needs its vote';
  whole.commands['DiscardKeyBundle'] = slots.map((s) =>
    local(`artifact store: delete runs/${context.runId}/bundle-${s.replacement?.hostname ?? '<new host>'}.tgz and every version of it, if it is there`),
  );

  const loops = memberLoops();
  let survivors = context.survivors;
  let afterLoops = whole.commands;
  for (let at = 0; at < STATES.length;) {
    const loop = loops.find((l) => l.from === at);
    if (!loop) {
      // After the add loop the run's context holds the last member: the closing states' commands are its.
      steps.push(planned(STATES[at]!, at > loops.at(-1)!.to ? afterLoops : whole.commands, whole.notes));
      at += 1;
      continue;
    }
    for (const [i, slot] of slots.entries()) {
      const member: WorkflowContext = {
        ...context,
        ...loadSlot(slot),
        memberIndex: i,
        memberPhase: loop.phase,
        anotherMember: i + 1 < count,
        ...(survivors ? { survivors } : {}),
      };
      const mine = stepsByState(member, { assumedDown: failedIds });
      afterLoops = { ...mine.commands, DiscardKeyBundle: whole.commands['DiscardKeyBundle'] ?? [] };
      for (const state of STATES.slice(loop.from, loop.to + 1)) {
        const step: PlannedStep = { ...planned(state, mine.commands, mine.notes), member: label(i), phase: loop.phase };
        if (state.kind === 'choice' && state.name === STATES[loop.to]!.name) {
          step.note = i + 1 < count ? `another member follows: ${label(i + 1)}` : 'no other member follows';
        }
        if (observed && state.name === 'RemoveFailedMember' && slot.failedMember) {
          if (slot.failedMemberRemoved === true) {
            step.note = `${slot.failedMember.name || slot.failedMember.id} was removed earlier${context.removedByRun ? ` by run ${context.removedByRun}` : ''}: skipped`;
          } else {
            const verdict = quorumForRemoval(health, slot.failedMember.id);
            step.quorumBefore = quorumFigures(health);
            health = health.filter((h) => h.id !== slot.failedMember!.id);
            step.quorumAfter = quorumFigures(health);
            if (!verdict.ok) step.note = `refused: ${verdict.reason}`;
          }
        }
        const id = `<new member id of ${slot.replacement?.name ?? 'the new host'}>`;
        if (observed && state.name === 'AddMember') {
          // A voting member from the add without a learner (it answers once started); a learner votes once promoted.
          step.quorumBefore = quorumFigures(health);
          if (!learner) health = [...health, { id, name: slot.replacement?.hostname ?? '', isLearner: false, healthy: false }];
          step.quorumAfter = quorumFigures(health);
          if (!learner) step.note = 'the new member votes from the add: until it has started, the cluster is one failure from losing quorum';
        }
        if (observed && state.name === (learner ? 'PromoteNewMember' : 'StartNewMember')) {
          step.quorumBefore = quorumFigures(health);
          health = [...health.filter((h) => h.id !== id), { id, name: slot.replacement?.hostname ?? '', isLearner: false, healthy: true }];
          step.quorumAfter = quorumFigures(health);
        }
        steps.push(step);
        members[i]!.steps.push(step);
      }
      if (loop.phase === 'add') {
        const joined = plannedJoined(slot);
        if (joined) survivors = [...(survivors ?? []), joined];
      }
    }
    at = loop.to + 1;
  }
  return { steps, members };
}

/** What `plan` is asked: the run's request as `run` would start it. */
export interface PlanRequest {
  cluster: string;
  failed: string;
  replacement?: string;
  /** The other failed members, each with its replacement (absent: the spare pool's next free host). */
  also: Array<{ failed: string; replacement?: string }>;
  learner: RunOptions['learner'];
  addMethod: AddMethod;
}

export interface PlanResult {
  /** The context as the run would have it after its first observation (or before it, when it would refuse there). */
  context: WorkflowContext;
  /** What ValidateInput resolved (the hosts, how each replacement was chosen, what an earlier run did already). */
  validated: string;
  /** `would proceed: …` or `would refuse: …`, the reason in the run's own words. */
  verdict: string;
  refused: boolean;
  steps: PlannedStep[];
  /** With several failed members: each with its replacement and its steps. */
  members?: PlannedMember[];
}

/**
 * The plan of a request, read-only: the run's own ValidateInput and first observation (CheckClusterHealth's
 * assessFailure), so that the plan refuses where the run refuses, with the same error (bad input: thrown, as
 * the run fails on it) or the same reason (a refusal: the verdict). Takes no lock, mints no URL.
 */
export async function planReplacement(asked: PlanRequest, deps: StepDeps): Promise<PlanResult> {
  let context: WorkflowContext = {
    runId: 'r-plan-only',
    request: {
      cluster: asked.cluster,
      failed: asked.failed,
      ...(asked.replacement ? { replacement: asked.replacement } : {}),
      ...(asked.also.length > 0 ? { also: asked.also } : {}),
      startedBy: 'plan',
    },
    options: { graceSeconds: 0, learner: asked.learner, ...(asked.addMethod !== 'manual' ? { addMethod: asked.addMethod } : {}) },
  };
  const validation = await ValidateInput(context, deps);
  context = { ...context, ...validation.output };
  const validated = validation.detail ?? '';
  let verdict: string;
  let refused = false;
  try {
    const seen = await assessFailure(context, deps, 'first');
    context = { ...context, ...seen.output };
    verdict = `would proceed: ${seen.detail}`;
  } catch (error) {
    if (error instanceof InvalidInputError || !(error instanceof RefusedError)) throw error;
    verdict = `would refuse: ${error.message}`;
    refused = true;
  }
  if ((context.members?.length ?? 0) > 1) {
    const { steps, members } = planSeveral(context);
    return { context, validated, verdict, refused, steps, members };
  }
  return { context, validated, verdict, refused, steps: planSteps(context) };
}
