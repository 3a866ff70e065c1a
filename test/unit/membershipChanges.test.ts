// What a succeeded run changed in the cluster's membership (statemachine/membershipChanges.ts), read from its
// final context, as a target records it after the run (AWS tags, the sandbox's inventory): one member
// replaced, several (every slot, the one loaded last included), and a restore (its restored host, and each
// former member re-added on its own host or on a spare).

import { describe, expect, it } from 'vitest';
import type { Host } from '../../functions/ports.ts';
import type { MemberSlot, WorkflowContext } from '../../statemachine/context.ts';
import { membershipChanges } from '../../statemachine/membershipChanges.ts';
import { loadSlot } from '../../statemachine/members.ts';

const host = (name: string, roles: Host['roles'] = ['master', 'etcd']): Host => ({ name, hostname: `${name}.example.test`, ip: '198.51.100.2', roles });
const HOSTS = ['master-0', 'master-1', 'master-2', 'master-3', 'master-4'].map((n) => host(n));
const SPARES = ['etcd-spare-0', 'etcd-spare-1', 'etcd-spare-2'].map((n) => host(n, ['spare']));
const hostNamed = (name: string) => [...HOSTS, ...SPARES].find((h) => h.name === name)!;
const base = {
  runId: 'r1',
  request: { cluster: 'c', failed: 'master-2', startedBy: 't' },
  options: {},
  inventory: { cluster: 'c', hosts: [...HOSTS, ...SPARES] },
};
const names = (hosts: Host[]) => hosts.map((h) => h.name);

const slot = (failed: string, on: string, done: { removed?: boolean; added?: boolean } = {}): MemberSlot => ({
  failed,
  failedHost: hostNamed(failed),
  replacement: hostNamed(on),
  ...(done.removed ? { failedMemberRemoved: true } : {}),
  ...(done.added ? { memberAdded: true, newMemberId: 'b1b2b3b4b5b6b7b8' } : {}),
});

describe('Function: membershipChanges', () => {
  it('one member replaced: its host left, the replacement joined', () => {
    const context = { ...base, ...loadSlot(slot('master-2', 'etcd-spare-0', { removed: true, added: true })) } as unknown as WorkflowContext;
    const changes = membershipChanges(context);
    expect(names(changes.left)).toEqual(['master-2']);
    expect(names(changes.joined)).toEqual(['etcd-spare-0']);
  });

  it('a run that removed the failed member but added none: the host left, nothing joined', () => {
    const context = { ...base, ...loadSlot(slot('master-2', 'etcd-spare-0', { removed: true })) } as unknown as WorkflowContext;
    expect(membershipChanges(context)).toEqual({ left: [hostNamed('master-2')], joined: [] });
  });

  it('several members: every slot counts, the one loaded last from the context itself', () => {
    const slots = [slot('master-3', 'etcd-spare-0', { removed: true, added: true }), slot('master-4', 'etcd-spare-1')];
    const context = {
      ...base,
      members: slots,
      memberIndex: 1,
      ...loadSlot(slot('master-4', 'etcd-spare-1', { removed: true, added: true })),
    } as unknown as WorkflowContext;
    const changes = membershipChanges(context);
    expect(names(changes.left)).toEqual(['master-3', 'master-4']);
    expect(names(changes.joined)).toEqual(['etcd-spare-0', 'etcd-spare-1']);
  });

  it('a restore from a snapshot: the restored host joined; a former member re-added on its own host stays, one re-added on a spare left', () => {
    const slots = [
      { ...slot('master-1', 'master-1', { removed: true, added: true }) },
      { ...slot('master-2', 'etcd-spare-2', { removed: true, added: true }) },
    ];
    const context = {
      ...base,
      members: slots,
      memberIndex: 1,
      ...loadSlot(slots[1]!),
      restoredMember: { host: 'master-0', memberId: 'a0a1a2a3a4a5a6a7', revision: 9, raftIndex: 9, chosenRevision: 9, at: '2026-01-01T00:00:00Z' },
    } as unknown as WorkflowContext;
    const changes = membershipChanges(context);
    expect(names(changes.left)).toEqual(['master-2']);
    expect(names(changes.joined).sort()).toEqual(['etcd-spare-2', 'master-0', 'master-1']);
  });

  it('a run that changed nothing (refused early): no change', () => {
    expect(membershipChanges({ ...base } as unknown as WorkflowContext)).toEqual({ left: [], joined: [] });
  });
});
