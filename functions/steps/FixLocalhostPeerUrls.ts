// FixLocalhostPeerUrls: a member whose peer URL still names localhost gets `member update <id>
// https://<listen ip>:2380`, the address read from `ss -l4n` on its host (runbook 37.2.2 step 6).

import { MemberNotFoundError } from '../errors.ts';
import type { MemberRef } from '../../statemachine/context.ts';
import { etcdOf } from '../cluster/etcdPort.ts';
import { inventoryOf, need } from '../cluster/need.ts';
import { runScript } from '../hosts/hostScript.ts';
import type { Step } from '../workflow/step.ts';

const onLocalhost = (url: string) => /^https?:\/\/(localhost|127\.)/.test(url);

export const FixLocalhostPeerUrls: Step = async (context, deps) => {
  const inventory = inventoryOf(context);
  const etcd = etcdOf(context, deps);
  const members = await etcd.memberList();
  const fixed: MemberRef[] = [];
  for (const member of members.filter((m) => m.peerURLs.some(onLocalhost))) {
    const host = inventory.hosts.find((h) => h.hostname === member.name || h.name === member.name);
    if (!host) throw new MemberNotFoundError(`member ${member.id} (${member.name}) has a localhost peer URL and no host in the inventory`);
    const { listenIp } = await runScript<{ listenIp: string }>(deps.runner, { host, script: 'FixLocalhostPeerUrls' });
    await etcd.updateMember(member.id, [`https://${listenIp}:2380`]);
    fixed.push({ id: member.id, name: member.name, peerURL: `https://${listenIp}:2380`, clientURL: member.clientURLs[0] ?? '' });
  }
  const survivors = need(context.survivors, 'survivors').map((s) => fixed.find((f) => f.id === s.id) ?? s);
  return {
    output: { survivors, peerUrlsOnLocalhost: false },
    detail: fixed.length ? `updated peer URLs: ${fixed.map((f) => `${f.name}=${f.peerURL}`).join(', ')}` : 'no peer URL names localhost any more',
    ...(fixed.length ? {} : { skipped: true }),
  };
};
