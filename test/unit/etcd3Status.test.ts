// statusFromEtcd3 (functions/adapters/etcd3Client.ts): the etcd3 client's Status answer as the port's
// EndpointStatus. A member that knows of no leader (an election under way) reports leader 0: the port's
// NO_LEADER, as the etcdctl adapter reports etcdctl's omitted field, not an error.

import { describe, expect, it } from 'vitest';
import type { IStatusResponse } from 'etcd3';
import { statusFromEtcd3 } from '../../functions/adapters/etcd3Client.ts';
import { NO_LEADER } from '../../functions/ports.ts';

const answer = (leader: string, extra: Record<string, unknown> = {}): IStatusResponse =>
  ({
    header: { cluster_id: '9464385543525357787', member_id: '7310813524580561768', revision: '42', raft_term: '3' },
    version: '3.2.22',
    dbSize: '1048576',
    leader,
    raftIndex: '120',
    raftTerm: '3',
    ...extra,
  }) as unknown as IStatusResponse;

describe('Function: statusFromEtcd3', () => {
  it('reads the leader, the IDs in hex, the sizes and indexes as numbers', () => {
    expect(statusFromEtcd3('https://198.51.100.2:2379', answer('7310813524580561768'))).toEqual({
      endpoint: 'https://198.51.100.2:2379',
      clusterId: '83584081e32bd8db',
      memberId: '65753a2a8fbef368',
      leaderId: '65753a2a8fbef368',
      version: '3.2.22',
      dbSize: 1048576,
      raftIndex: 120,
      raftTerm: 3,
      isLearner: false,
    });
  });

  it('reports leader 0 (an election under way) as NO_LEADER, not as an error', () => {
    expect(statusFromEtcd3('https://198.51.100.3:2379', answer('0')).leaderId).toBe(NO_LEADER);
  });

  it("keeps etcd 3.4's isLearner, which the client's typings predate", () => {
    expect(statusFromEtcd3('https://198.51.100.3:2379', answer('7310813524580561768', { isLearner: true })).isLearner).toBe(true);
  });
});
