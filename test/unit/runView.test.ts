// The one run view (functions/workflow/runView.ts): its exit codes, and the document and timeline that
// name the replacement and how it was chosen, from the run's context.

import { describe, expect, it } from 'vitest';
import type { RunRecord } from '../../functions/ports.ts';
import { formatTimeline } from '../../cli/printers/text.ts';
import { exitCodeOfRun, runViewOfRecord } from '../../functions/workflow/runView.ts';

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

describe('Function: exitCodeOfRun', () => {
  it('maps outcomes for every target alike: 0 succeeded, 1 failed, 2 invalid input, 3 refused, 4 running', () => {
    expect(exitCodeOfRun({ outcome: 'succeeded', reason: null })).toBe(0);
    expect(exitCodeOfRun({ outcome: 'failed', reason: 'HostCommandError: x' })).toBe(1);
    expect(exitCodeOfRun({ outcome: 'failed', reason: 'InvalidInputError: x' })).toBe(2);
    expect(exitCodeOfRun({ outcome: 'refused', reason: 'RefusedError: x' })).toBe(3);
    expect(exitCodeOfRun({ outcome: 'running', reason: null })).toBe(4);
  });
});

describe('Function: runViewOfRecord and formatTimeline', () => {
  it('name a launched replacement with its handle, a pooled or named one with how it was chosen', () => {
    const launched = record({ replacementChoice: 'launched', replacementLaunched: 'i-0123456789abcdef0', replacement: host('etcd-new-0') });
    expect(runViewOfRecord(launched).replacement).toEqual({ name: 'etcd-new-0', chosen: 'launched', launched: 'i-0123456789abcdef0' });
    expect(formatTimeline(launched)).toContain('  replacement: etcd-new-0, launched for the run (i-0123456789abcdef0)');

    const pooled = record({ replacementChoice: 'spare', replacement: host('etcd-spare-0') });
    expect(runViewOfRecord(pooled).replacement).toEqual({ name: 'etcd-spare-0', chosen: 'spare' });
    expect(formatTimeline(pooled)).toContain('  replacement: etcd-spare-0, from the spare pool');

    const notYet = record({ replacementChoice: 'launched' });
    expect(runViewOfRecord(notYet).replacement).toEqual({ name: null, chosen: 'launched' });
    expect(formatTimeline(notYet)).toContain('  replacement: (not launched yet), launched for the run');

    // A record from before ValidateInput chose says nothing of a replacement.
    expect(runViewOfRecord(record({})).replacement).toBeUndefined();
    expect(formatTimeline(record({}))).not.toContain('replacement:');
  });

  it('shows a run that still runs as running: no end, its open step running, exit 4; once ended an open step is failed', () => {
    const running: RunRecord = {
      ...record({}),
      outcome: 'running',
      state: 'AddMember',
      steps: [
        { name: 'ValidateInput', status: 'succeeded', startedAt: '2026-12-02T10:00:00.000Z', endedAt: '2026-12-02T10:00:01.000Z', attempts: 1 },
        { name: 'AcquireLock', status: 'running', startedAt: '2026-12-02T10:00:01.000Z', attempts: 1 },
      ],
    };
    delete running.endedAt;
    const view = runViewOfRecord(running);
    expect(view).toMatchObject({ outcome: 'running', endedAt: null });
    expect(view.steps.slice(0, 2)).toEqual([
      { name: 'ValidateInput', status: 'succeeded', startedAt: '2026-12-02T10:00:00.000Z', endedAt: '2026-12-02T10:00:01.000Z', attempts: 1 },
      { name: 'AcquireLock', status: 'running', startedAt: '2026-12-02T10:00:01.000Z', endedAt: null, attempts: 1 },
    ]);
    expect(exitCodeOfRun(view)).toBe(4);
    expect(formatTimeline(running)).toMatch(/AcquireLock\s+running\s+running[\s\S]*outcome: running \(still running\)/);
    const ended = runViewOfRecord({ ...running, outcome: 'failed', endedAt: '2026-12-02T10:00:09.000Z' });
    expect(ended.steps[1]).toMatchObject({ status: 'failed', endedAt: '2026-12-02T10:00:01.000Z' });
  });
});
