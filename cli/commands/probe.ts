// `etcd-replace probe --target sandbox [--sandbox NAME] [--json]`: one observation of a sandbox cluster, as
// the AWS health probe makes it (functions/handlers/healthProbe.ts): the members and whether each answers,
// and every former member that the network fence holds and that came back (powered on again with its old
// data) fenced on the host (functions/cluster/returnedHosts.ts).

import { loadSandbox } from '../../sandbox/index.ts';
import { inventoryOfSandbox, sandboxDeps } from '../../sandbox/adapters/deps.ts';
import { EXIT, exitCodesText } from '../../functions/exitCodes.ts';
import { errorMessage } from '../../functions/errors.ts';
import * as validate from '../../functions/validate.ts';
import type { EtcdMember, Host, Inventory } from '../../functions/ports.ts';
import type { StepDeps } from '../../functions/workflow/stepDeps.ts';
import { clientUrl, clientUrlOfMember, hostOfMember } from '../../statemachine/cluster.ts';
import { describeReturnedHost, fenceReturnedHosts, firstMemberList, formerMemberCandidates, type ReturnedHost } from '../../functions/cluster/returnedHosts.ts';
import { parse, runCommand, UsageError } from '../common.ts';
import { HELP_FLAG, JSON_FLAG, SANDBOX_FLAG, usageText, type Help } from '../help.ts';
import { printJson } from '../printers/json.ts';

export const help: Help = {
  usage: ['etcd-replace probe --target sandbox [--sandbox NAME] [--json]'],
  about: `Makes one observation of the cluster, as the health probe does on AWS: the members and whether each
answers; then every host the network fence holds that is no member (a former member a restore of quorum
left fenced) and that answers is looked at, and fenced on the host where its etcd runs, its static pod
manifest is back in pods/, or its data is not stored since it came back: its etcd stopped, its pod moved
to pods-stopped, its data backed up to the artifact store and checked there. A host that does not answer
stays fenced on the network only. A member is never touched; fencing a host that is no member needs no
approval. A host fenced on the host already and still down is reported, not fenced again.
Each host gets one line: HOST: fenced on the host now | fenced on the host | still fenced on the network | left, and why.`,
  sections: [
    {
      title: 'options',
      flags: [
        ['--target sandbox', 'where the cluster is: sandbox (the default; on AWS the scheduled health probe makes this observation)'],
        SANDBOX_FLAG,
        JSON_FLAG,
        HELP_FLAG,
      ],
    },
  ],
  examples: ['etcd-replace probe --target sandbox --sandbox lab', 'etcd-replace probe --sandbox lab --json'],
  exits: exitCodesText([
    ['succeeded', 'the observation was made and every returned former member that answers is fenced on the host'],
    ['failed', 'no member list could be read, or a returned former member could not be fenced on the host'],
    ['invalidInput', 'bad arguments'],
  ]),
};

export const topics = { probe: help };

const USAGE = usageText(help);

const OPTIONS = {
  target: { type: 'string', default: 'sandbox' },
  sandbox: { type: 'string', default: 'default' },
  json: { type: 'boolean', default: false },
} as const;

export interface ProbedMember {
  id: string;
  name: string;
  /** The inventory host it runs on, where one matches. */
  host?: string;
  clientURL: string | null;
  answers: boolean;
  error?: string;
}

/** What `probe --json` prints: one document. */
export interface ProbeDocument {
  cluster: string;
  members: ProbedMember[] | null;
  membersError?: string;
  /** The ID the fence on the host ran under (its marker on the host, its key in the store). */
  fenceId?: string;
  hosts: ReturnedHost[];
  /** The count of hosts this observation fenced on the host (changed). */
  fencedNow: number;
  ok: boolean;
}

/** One observation: the returned former members fenced (returnedHosts.ts), then each member's health through the hosts no fence holds. */
export async function probeCluster(
  deps: Pick<StepDeps, 'runner' | 'etcd' | 'securityGroups' | 'artifacts' | 'waits' | 'log'>,
  inventory: Inventory,
): Promise<ProbeDocument> {
  const candidates = formerMemberCandidates(inventory.hosts);
  let via: Host[] = [];
  const observation = await fenceReturnedHosts(deps, {
    hosts: candidates,
    memberList: async (unfenced) => {
      const found = await firstMemberList(unfenced, (host) => deps.etcd([host], unfenced.map(clientUrl)).memberList());
      via = [found.via];
      return found.members;
    },
  });
  let members: ProbedMember[] | null = null;
  if (observation.members) {
    const listed = observation.members.map((m: EtcdMember) => ({ member: m, url: clientUrlOfMember(inventory, m) }));
    const endpoints = listed.flatMap((l) => (l.url ? [l.url] : []));
    let health = new Map<string, { healthy: boolean; error?: string }>();
    try {
      if (endpoints.length > 0) health = new Map((await deps.etcd(via, endpoints).health(endpoints)).map((h) => [h.endpoint, h]));
    } catch (error) {
      deps.log(`probe: the members' health could not be asked: ${errorMessage(error)}`);
    }
    members = listed.map(({ member, url }) => {
      const h = url ? health.get(url) : undefined;
      const host = hostOfMember(inventory, member)?.name;
      return {
        id: member.id,
        name: member.name,
        ...(host ? { host } : {}),
        clientURL: url,
        answers: h?.healthy === true,
        ...(h && !h.healthy && h.error ? { error: h.error } : {}),
      };
    });
  }
  return {
    cluster: inventory.cluster,
    members,
    ...(observation.membersError ? { membersError: observation.membersError } : {}),
    ...(observation.fenceId ? { fenceId: observation.fenceId } : {}),
    hosts: observation.hosts,
    fencedNow: observation.hosts.filter((h) => h.action === 'fenced-on-host' && h.changed).length,
    ok: observation.members !== null && observation.hosts.every((h) => h.failed !== true),
  };
}

/** The text output: the members, then a line per host. */
export function formatProbe(doc: ProbeDocument): string {
  const lines = [`probe: cluster ${doc.cluster}`];
  if (doc.members === null) lines.push(`members: none could be read (${doc.membersError ?? 'unknown'})`);
  else {
    const answering = doc.members.filter((m) => m.answers).length;
    lines.push(`members: ${doc.members.length}, ${answering} answering`);
    for (const m of doc.members) {
      const where = m.host ? `${m.host} ` : '';
      lines.push(
        `  member ${where}${m.name || '(not started)'} ${m.id} ${m.clientURL ?? ''}: ${m.answers ? 'answers' : `does not answer${m.error ? ` (${m.error})` : ''}`}`,
      );
    }
  }
  lines.push(`hosts: ${doc.fencedNow} fenced on the host now${doc.fenceId ? ` (fence ${doc.fenceId})` : ''}`);
  for (const h of doc.hosts) lines.push(`  ${describeReturnedHost(h)}`);
  return lines.join('\n');
}

export function run(argv: string[]): Promise<number> {
  return runCommand(async () => {
    const { values } = parse(argv, OPTIONS, USAGE);
    if (values.target !== 'sandbox') {
      const aws = values.target === 'aws' ? '; on AWS the scheduled health probe makes this observation' : '';
      throw new UsageError(`probe supports only --target sandbox, got "${values.target}"${aws}\n${USAGE}`);
    }
    const name = validate.sandboxName('--sandbox', values.sandbox);
    const log = (message: string) => void process.stderr.write(`${message}\n`);
    const deps = await sandboxDeps(name, { log });
    try {
      const doc = await probeCluster(deps, inventoryOfSandbox(await loadSandbox(name)));
      if (values.json) printJson(doc);
      else process.stdout.write(`${formatProbe(doc)}\n`);
      return doc.ok ? EXIT.succeeded : EXIT.failed;
    } finally {
      await deps.close();
    }
  });
}
