// The one exit-code table (functions/exitCodes.ts): the codes operators script against never change,
// and the errors, a run's outcome and every help's "exit codes:" line read from it.

import { describe, expect, it } from 'vitest';
import { allTopics } from '../../cli/commands/index.ts';
import { UsageError, exitCodeOf } from '../../cli/common.ts';
import { InvalidInputError, LockHeldError, RefusedError, ScriptTimedOutError } from '../../functions/errors.ts';
import { EXIT, EXIT_CODES, exitCodesText } from '../../functions/exitCodes.ts';
import { EXIT_FOR_OUTCOME, exitCodeOfRun } from '../../functions/workflow/runView.ts';

describe('exit codes', () => {
  it('keeps every code as the README and the help give it', () => {
    expect(EXIT_CODES.map((e) => [e.code, e.name, e.meaning])).toEqual([
      [0, 'succeeded', 'succeeded'],
      [1, 'failed', 'failed'],
      [2, 'invalidInput', 'bad arguments or input (nothing changed)'],
      [3, 'refused', 'refused for safety'],
      [4, 'running', 'still running'],
      [255, 'hostOff', 'the host is off'],
    ]);
    for (const e of EXIT_CODES) expect(EXIT[e.name]).toBe(e.code);
  });

  it("is what the errors and a run's outcome carry", () => {
    expect(exitCodeOf(new UsageError('x'))).toBe(2);
    expect(exitCodeOf(new InvalidInputError('--failed', 'x'))).toBe(2);
    expect(exitCodeOf(new RefusedError('x'))).toBe(3);
    expect(exitCodeOf(new LockHeldError('x'))).toBe(3);
    expect(exitCodeOf(new ScriptTimedOutError('x'))).toBe(1);
    expect(exitCodeOf(new Error('x'))).toBe(1);
    expect(EXIT_FOR_OUTCOME).toEqual({ succeeded: 0, failed: 1, refused: 3, running: 4 });
    expect(exitCodeOfRun({ outcome: 'failed', reason: 'InvalidInputError: invalid --failed: x' })).toBe(2);
  });

  it('makes every help\'s "exit codes:" line', async () => {
    expect(exitCodesText(['succeeded', 'failed', 'invalidInput', 'refused'])).toBe(
      '0 succeeded, 1 failed, 2 bad arguments or input (nothing changed), 3 refused for safety',
    );
    const topics = await allTopics();
    expect(topics['status']!.exits).toBe('0 succeeded, 1 failed, 2 bad arguments or input (nothing changed), 3 refused for safety, 4 still running');
    expect(topics['sandbox exec']!.exits).toBe("the command's own exit code; 255 the host is off, 2 bad arguments");
  });
});
