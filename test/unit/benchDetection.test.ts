import { describe, expect, it } from 'vitest';
import { comparisons, detections, endToEnd, exampleConfig, renderDetection, SOURCES, type Source } from '../../bench/detection.ts';

const bench = {
  graceSeconds: 0,
  scenarios: [
    {
      scenario: '3x32@3.2.22',
      floorMs: 4500,
      stepMedianMs: {
        ValidateInput: 10,
        CheckClusterHealth: 1000,
        SnapshotCluster: 1000,
        ConfirmMemberFailed: 1000,
        StartNewMember: 3000,
        VerifyClusterHealth: 100,
        RollMasters: 500,
      },
    },
  ],
  cost: {
    variants: [
      {
        variant: 'plain member add, failed host unreachable',
        transitions: 26,
        lambdaInvocations: 20,
        ssmByStep: { CheckClusterHealth: { criticalPath: 2 }, StartNewMember: { criticalPath: 8 } },
      },
    ],
  },
};

describe('Module: bench/detection', () => {
  it('names a source for every figure: a URL for documentation, measurements and code; assumptions say so', () => {
    for (const s of Object.values(SOURCES) as Source[]) {
      if (s.kind === 'assumption') expect(s.what).toMatch(/no published/);
      else if (s.kind !== 'this repository') expect(s.url).toMatch(/^https:\/\//);
    }
  });

  it('models each signal from the configuration: seconds for a state change, minutes for the alarms', () => {
    const [state, status, probe] = detections({ alarmMinutes: 3, probeIntervalMinutes: 2, statusCheckMinutes: 2 });
    expect(state!.expectedSeconds).toBeLessThan(1);
    expect(status!.expectedSeconds).toBeCloseTo(120, 0);
    expect(status!.worstSeconds).toBeCloseTo(180, 0);
    expect(probe!.expectedSeconds).toBeGreaterThan(status!.expectedSeconds);
    // A probe every minute over 3 minutes: three probes.
    const [, , everyMinute] = detections({ alarmMinutes: 3, probeIntervalMinutes: 1, statusCheckMinutes: 2 });
    expect(everyMinute!.signal).toContain('3 probe(s)');
    expect(comparisons().map((c) => c.detectionSeconds)).toEqual([150, 60, null]);
  });

  it("adds the grace window or the steps inside it, whichever is longer, and a launched host's boot inside it", () => {
    const e = endToEnd(bench, 60);
    expect(e.insideGraceSeconds).toBeGreaterThan(1);
    expect(e.insideGraceLaunchedSeconds - e.insideGraceSeconds).toBeCloseTo(e.provisionSeconds, 6);
    expect(e.provisionSeconds).toBeGreaterThan(29);
    // StartNewMember on AWS: its sandbox time, 8 SSM commands, a cold start and a transition.
    expect(e.afterGraceSeconds).toBeGreaterThan(3 + 8);
    const md = renderDetection(exampleConfig(), bench);
    expect(md).toMatch(/^\*\*Modelled, not measured on AWS\.\*\*/);
    expect(md).toContain('| etcdadm-controller | 150 s (2.5 min)');
    expect(md).toContain('https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/monitoring-system-instance-status-check.html');
  });
});
