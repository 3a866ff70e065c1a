// The restore's step table (functions/steps/restoreSteps.ts) against its model (statemachine/restoreSpec.ts):
// every task of RestoreEtcdQuorum has its step, in the model's order, each registered under its own task's
// name; the steps it shares with the replacement are the replacement's own functions, not the loop entries
// the replacement wraps them in (the restore's loop has its own entry).

import { describe, expect, it } from 'vitest';
import { STEPS } from '../../functions/steps/index.ts';
import { RESTORE_STEPS } from '../../functions/steps/restoreSteps.ts';
import { RESTORE_WORKFLOW } from '../../statemachine/restoreSpec.ts';
import { TASKS } from '../../statemachine/spec.ts';

const taskNames = RESTORE_WORKFLOW.tasks.map((t) => t.name);

describe('restore step table', () => {
  it('has a step for every task of the model, in the model order, and nothing else', () => {
    expect(Object.keys(RESTORE_STEPS)).toEqual(taskNames);
    for (const step of Object.values(RESTORE_STEPS)) expect(typeof step).toBe('function');
  });

  it('registers each step under its own name; the shared ones are the replacement functions themselves, never a loop wrapper', () => {
    for (const [name, step] of Object.entries(RESTORE_STEPS)) expect(step.name).toBe(name);
    const shared = taskNames.filter((name) => TASKS.some((t) => t.name === name));
    expect(shared).toContain('IssueCertificates');
    expect(shared).toContain('ConfigureNewMember');
    for (const name of shared) expect(RESTORE_STEPS[name].name).toBe(name);
    // The replacement enters its prepare and add loops through wrappers of these two: the restore does not.
    expect(STEPS.IssueCertificates.name).not.toBe('IssueCertificates');
    expect(RESTORE_STEPS.IssueCertificates).not.toBe(STEPS.IssueCertificates);
    expect(RESTORE_STEPS.VerifyCertificates).toBe(STEPS.VerifyCertificates);
  });
});
