// `etcd-replace plan` (cli/commands/plan.ts) says plainly that it supports the sandbox only, and what to use on
// AWS instead; it says so before reading anything (exit 2, nothing on stdout).

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.ts';
import { captureOutput, type CapturedOutput } from '../support/captureOutput.ts';

let output: CapturedOutput = { out: '', err: '' };
beforeEach(() => {
  output = captureOutput();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const PLAN = ['plan', '--failed', 'master-2', '--replacement', 'etcd-spare-0', '--sandbox', 'x-absent'];

describe('CLI: plan --target', () => {
  it.each([
    [['--target', 'aws']],
    [['--target=aws']],
    [['--target', 'aws', '--state-machine-arn', 'arn:aws:states:eu-west-1:123456789012:stateMachine:etcd-replace-ocp311', '--input', 'request.json']],
  ])('%j: plan supports only the sandbox; on AWS, run --target aws --wait (exit 2)', async (target) => {
    expect(await main([...PLAN, ...target])).toBe(2);
    expect(output.err).toMatch(/^error: plan supports only --target sandbox, got "aws"\n/);
    expect(output.err).toContain('On AWS there is no plan');
    expect(output.err).toContain('etcd-replace run --target aws --state-machine-arn ARN --input FILE --wait');
    expect(output.err).not.toContain('must be sandbox or aws');
    expect(output.err).not.toContain('Unknown option');
    expect(output.err).toContain('usage: etcd-replace plan --target sandbox');
    expect(output.out).toBe('');
  });

  it('names any other target as unsupported, without the AWS advice (exit 2)', async () => {
    expect(await main([...PLAN, '--target', 'gcp'])).toBe(2);
    expect(output.err).toMatch(/^error: plan supports only --target sandbox, got "gcp"\n/);
    expect(output.err).not.toContain('On AWS');
    expect(output.out).toBe('');
  });

  it("leaves run's target message as it was: run supports both", async () => {
    expect(await main(['run', '--target', 'gcp', '--failed', 'a', '--replacement', 'b'])).toBe(2);
    expect(output.err).toContain('--target must be sandbox or aws, got "gcp"');
  });
});
