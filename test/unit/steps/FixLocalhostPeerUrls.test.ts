// FixLocalhostPeerUrls (functions/steps/FixLocalhostPeerUrls.ts): a member whose peer URL still names
// localhost gets `member update ID https://LISTEN_IP:2380`, the address FixLocalhostPeerUrls.sh reads
// on its host (`ss -l4n`); the context's survivors follow. Nothing on localhost: skipped.

import { describe, expect, it } from 'vitest';
import { MemberNotFoundError } from '../../../functions/errors.ts';
import { FixLocalhostPeerUrls } from '../../../functions/steps/FixLocalhostPeerUrls.ts';
import { fakeMember, memberId } from '../../support/fakeCluster.ts';
import { after, confirmedContext, exitCases, failure, HOSTS, ref, retried, stepWorld, TRANSIENT_RETRIES } from '../../support/stepHarness.ts';

const LOCALHOST = 'https://localhost:2380';
const MASTER0_PEER = `https://${HOSTS['master-0'].ip}:2380`;
const onLocalhost = () => confirmedContext({ peerUrlsOnLocalhost: true, survivors: [{ ...ref('master-0', 0xa0), peerURL: LOCALHOST }, ref('master-1', 0xa1)] });

function world(extra: Parameters<typeof fakeMember>[4] = { peerURL: LOCALHOST }) {
  const w = stepWorld([fakeMember(0xa0, 'master-0', HOSTS['master-0'].ip, true, extra), fakeMember(0xa1, 'master-1', HOSTS['master-1'].ip, true)]);
  w.runner.on('FixLocalhostPeerUrls', { stdout: { listenIp: HOSTS['master-0'].ip } });
  return w;
}

describe('Step: FixLocalhostPeerUrls', () => {
  it("reads the listen address on the member's host, updates its peer URL, and the survivors follow", async () => {
    const w = world();
    const result = await FixLocalhostPeerUrls(onLocalhost(), w.deps);
    expect(w.runner.sent()).toEqual(['FixLocalhostPeerUrls@master-0']);
    expect(w.cluster.changes).toEqual([`update ${memberId(0xa0)} ${MASTER0_PEER}`]);
    expect(result.output).toEqual({
      survivors: [{ ...ref('master-0', 0xa0), peerURL: MASTER0_PEER }, ref('master-1', 0xa1)],
      peerUrlsOnLocalhost: false,
    });
    expect(result.skipped).toBeUndefined();
    expect(result.detail).toBe(`updated peer URLs: master-0.example.test=${MASTER0_PEER}`);
  });

  it('a second run finds no peer URL on localhost: skipped, nothing sent, nothing updated', async () => {
    const w = world();
    const first = await FixLocalhostPeerUrls(onLocalhost(), w.deps);
    const second = await FixLocalhostPeerUrls(after(onLocalhost(), first), w.deps);
    expect(second).toMatchObject({ skipped: true, output: { peerUrlsOnLocalhost: false }, detail: 'no peer URL names localhost any more' });
    expect(w.runner.requests).toHaveLength(1);
    expect(w.cluster.changes).toHaveLength(1);
  });

  it('a 127.x peer URL is localhost too', async () => {
    const w = world({ peerURL: 'https://127.0.0.1:2380' });
    await FixLocalhostPeerUrls(onLocalhost(), w.deps);
    expect(w.cluster.changes).toEqual([`update ${memberId(0xa0)} ${MASTER0_PEER}`]);
  });

  it('a localhost member with no host in the inventory: MemberNotFoundError, nothing sent', async () => {
    const w = stepWorld([fakeMember(0xa0, 'master-0', HOSTS['master-0'].ip, true), fakeMember(0xa7, 'elsewhere', '203.0.113.7', true, { peerURL: LOCALHOST })]);
    const error = await failure(FixLocalhostPeerUrls(onLocalhost(), w.deps));
    expect(error).toBeInstanceOf(MemberNotFoundError);
    expect(w.runner.requests).toEqual([]);
    expect(w.cluster.changes).toEqual([]);
  });

  it.each(exitCases(TRANSIENT_RETRIES))('FixLocalhostPeerUrls.sh exit %i is %s (retried: %s), nothing updated', async (code, name, isRetried) => {
    const w = world();
    w.runner.exits('FixLocalhostPeerUrls', code, 'etcd listens for peers on no routable IPv4 address');
    const error = await failure(FixLocalhostPeerUrls(onLocalhost(), w.deps));
    expect(error.name).toBe(name);
    expect(retried('FixLocalhostPeerUrls', error)).toBe(isRetried);
    expect(w.cluster.changes).toEqual([]);
  });
});
