// The run view of cli/runReport.ts: the result document and the timeline name the replacement and how
// it was chosen, from the run's context.

import { describe, expect, it } from 'vitest';
import type { RunRecord } from '../../functions/ports.ts';
import { formatTimeline, runResult } from '../../cli/runReport.ts';

function record(context: Record<string, unknown>): RunRecord {
  return {
    runId: 'r-view-1',
    cluster: 'lab',
    target: 'sandbox',
    startedBy: 'cli:root',
    request: { cluster: 'lab', failed: 'master-2' },
    outcome: 'succeeded',
    startedAt: '2026-12-02T10:00:00.000Z',
    endedAt: '2026-12-02T10:00:40.000Z',
    state: 'Succeeded',
    context,
    steps: [],
  };
}

const host = (name: string) => ({ name, hostname: `${name}.sandbox.test`, ip: '10.0.0.9', roles: ['spare'] });

describe('Function: runResult and formatTimeline', () => {
  it('name a launched replacement with its handle, a pooled or named one with how it was chosen', () => {
    const launched = record({ replacementChoice: 'launched', replacementLaunched: 'i-0123456789abcdef0', replacement: host('etcd-new-0') });
    expect(runResult(launched).replacement).toEqual({ name: 'etcd-new-0', chosen: 'launched', launched: 'i-0123456789abcdef0' });
    expect(formatTimeline(launched)).toContain('  replacement: etcd-new-0, launched for the run (i-0123456789abcdef0)');

    const pooled = record({ replacementChoice: 'spare', replacement: host('etcd-spare-0') });
    expect(runResult(pooled).replacement).toEqual({ name: 'etcd-spare-0', chosen: 'spare' });
    expect(formatTimeline(pooled)).toContain('  replacement: etcd-spare-0, from the spare pool');

    const notYet = record({ replacementChoice: 'launched' });
    expect(runResult(notYet).replacement).toEqual({ name: null, chosen: 'launched' });
    expect(formatTimeline(notYet)).toContain('  replacement: (not launched yet), launched for the run');

    // A record from before ValidateInput chose says nothing of a replacement.
    expect(runResult(record({})).replacement).toBeUndefined();
    expect(formatTimeline(record({}))).not.toContain('replacement:');
  });
});
