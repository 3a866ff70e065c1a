// The restore's step table (functions/steps/restoreSteps.ts) against its model (statemachine/restoreSpec.ts):
// every task of RestoreEtcdQuorum has a step or is listed as having none yet, never both, and each step is
// registered under its own task's name.

import { describe, expect, it } from 'vitest';
import { RESTORE_STEPS, RESTORE_TASKS_WITHOUT_STEP } from '../../functions/steps/restoreSteps.ts';
import { RESTORE_WORKFLOW } from '../../statemachine/restoreSpec.ts';

const taskNames = RESTORE_WORKFLOW.tasks.map((t) => t.name);

describe('restore step table', () => {
  it('covers every task of the model exactly once: a step, or listed as not built yet', () => {
    const registered = Object.keys(RESTORE_STEPS);
    const missing: string[] = [...RESTORE_TASKS_WITHOUT_STEP];
    expect(registered.filter((name) => missing.includes(name))).toEqual([]);
    expect([...registered, ...missing].sort()).toEqual([...taskNames].sort());
    expect(new Set(missing).size).toBe(missing.length);
  });

  it('registers the restore steps built so far, in the model order, each under its own name', () => {
    const registered = Object.keys(RESTORE_STEPS);
    expect(registered).toEqual(taskNames.filter((name) => registered.includes(name)));
    expect(registered).toEqual([
      'ValidateRestoreRequest',
      'ObserveQuorumLoss',
      'ConfirmQuorumLost',
      'ChooseRestorePoint',
      'AwaitApproval',
      'FenceFormerMembers',
      'RestoreFromSnapshot',
      'ForceNewCluster',
      'VerifyRestoredMember',
      'RecordRestore',
    ]);
    for (const [name, step] of Object.entries(RESTORE_STEPS)) expect(step?.name).toBe(name);
  });
});
