// Evidence decides the wait: a final signal (EC2 `terminated` for the failed member's instance)
// confirms the failure at the first observation, so the second follows without the grace window's
// wait; any other signal, or a manual start, keeps the window. The run record keeps which evidence it was.

import { describe, expect, it } from 'vitest';
import { InvalidInputError, RefusedError } from '../../functions/errors.ts';
import { CheckClusterHealth } from '../../functions/steps/CheckClusterHealth.ts';
import { ConfirmMemberFailed } from '../../functions/steps/ConfirmMemberFailed.ts';
import { validEvidence } from '../../functions/steps/ValidateInput.ts';
import type { FailureEvidence, WorkflowContext } from '../../statemachine/context.ts';
import { FakeCluster, fakeDeps, threeMembers as three, unitInventory as inventory, validatedContext } from '../support/fakeCluster.ts';

const NOW = new Date('2026-01-01T00:00:00Z');
const TERMINATED: FailureEvidence = { signal: 'ec2-state-change', state: 'terminated', at: '2025-12-31T23:59:58.000Z', final: true };

function context(evidence?: FailureEvidence, graceSeconds = 60): WorkflowContext {
  const c = validatedContext(inventory(), 'master-2', 'etcd-spare-0');
  return { ...c, request: { ...c.request, ...(evidence ? { evidence } : {}) }, options: { ...c.options, graceSeconds } };
}

describe('CheckClusterHealth: the evidence the failure is confirmed on', () => {
  it('a final signal sets the second observation to now, and the record names the signal', async () => {
    const result = await CheckClusterHealth(context(TERMINATED), fakeDeps(new FakeCluster(three(['master-2'])), NOW));
    expect(result.output.confirmFailureAfter).toBe(NOW.toISOString());
    expect(result.output.failureEvidence).toEqual({ ...TERMINATED, final: true });
    expect(result.detail).toMatch(/ec2-state-change reports terminated .* without the grace window's wait/);
  });

  it('a signal that is not final (stopped, an alarm) keeps the grace window', async () => {
    for (const evidence of [
      { signal: 'ec2-state-change', state: 'stopped', at: '2025-12-31T23:59:58.000Z' },
      { signal: 'alarm', state: 'ALARM', at: '2025-12-31T23:59:00Z' },
    ] as FailureEvidence[]) {
      const result = await CheckClusterHealth(context(evidence), fakeDeps(new FakeCluster(three(['master-2'])), NOW));
      expect(result.output.confirmFailureAfter).toBe('2026-01-01T00:01:00.000Z');
      expect(result.output.failureEvidence).toEqual({ ...evidence, final: false });
    }
  });

  it('a manual start (no evidence) keeps the grace window and is recorded as manual', async () => {
    const result = await CheckClusterHealth(context(), fakeDeps(new FakeCluster(three(['master-2'])), NOW));
    expect(result.output.confirmFailureAfter).toBe('2026-01-01T00:01:00.000Z');
    expect(result.output.failureEvidence).toEqual({ signal: 'manual', at: NOW.toISOString(), final: false });
  });

  it('final evidence skips only the wait: a member that answers is still refused, at either observation', async () => {
    const healthy = fakeDeps(new FakeCluster(three([])), NOW);
    await expect(CheckClusterHealth(context(TERMINATED), healthy)).rejects.toThrow(RefusedError);
    // The second observation still runs after the first confirmed nothing by itself.
    const first = await CheckClusterHealth(context(TERMINATED), fakeDeps(new FakeCluster(three(['master-2'])), NOW));
    const after = { ...context(TERMINATED), ...first.output };
    await expect(ConfirmMemberFailed(after, healthy)).rejects.toThrow(/answers health checks at the second observation/);
    const confirmed = await ConfirmMemberFailed(after, fakeDeps(new FakeCluster(three(['master-2'])), NOW));
    expect(confirmed.output.failureConfirmation?.memberId).toBe(first.output.failedMember?.id);
  });
});

describe('ValidateInput: the evidence checked', () => {
  const failedHost = { ...inventory().hosts.find((h) => h.name === 'master-2')!, instanceId: 'i-0a1b2c3d4e5f60712' };

  it('keeps what it knows, and final only when true', () => {
    expect(validEvidence(undefined, failedHost)).toBeUndefined();
    expect(
      validEvidence(
        { signal: 'ec2-state-change', state: 'terminated', at: '2030-01-01T00:00:00Z', instanceId: 'i-0a1b2c3d4e5f60712', final: true },
        failedHost,
      ),
    ).toEqual({ signal: 'ec2-state-change', state: 'terminated', at: '2030-01-01T00:00:00Z', instanceId: 'i-0a1b2c3d4e5f60712', final: true });
    expect(validEvidence({ signal: 'alarm', state: 'ALARM', at: '2030-01-01T00:00:00Z', final: false }, failedHost)).toEqual({
      signal: 'alarm',
      state: 'ALARM',
      at: '2030-01-01T00:00:00Z',
    });
  });

  it("refuses evidence about another instance than the failed host's, and malformed fields, naming the field", () => {
    const at = '2030-01-01T00:00:00Z';
    const bad: Array<[unknown, RegExp]> = [
      [{ signal: 'ec2-state-change', state: 'terminated', at, instanceId: 'i-0ffffffffffffff01', final: true }, /evidence\.instanceId/],
      [{ signal: 'probe', state: 'x', at }, /evidence\.signal/],
      [{ signal: 'alarm', state: 'ALARM; rm -rf /', at }, /evidence\.state/],
      [{ signal: 'alarm', state: 'ALARM', at: 'yesterday' }, /evidence\.at/],
      [{ signal: 'alarm', state: 'ALARM', at, final: 'yes' }, /evidence\.final/],
      [{ signal: 'alarm', state: 'ALARM', at, confirmed: true }, /unknown key/],
      ['terminated', /evidence/],
    ];
    for (const [evidence, message] of bad) {
      expect(() => validEvidence(evidence, failedHost)).toThrow(InvalidInputError);
      expect(() => validEvidence(evidence, failedHost)).toThrow(message);
    }
  });
});
