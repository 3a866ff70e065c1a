// The plan of a restore of quorum (`etcd-replace plan restore-quorum`): the restore's read-only steps run
// as the run would run them (ValidateRestoreRequest, ObserveQuorumLoss, ChooseRestorePoint: the request,
// the loss of quorum, the restore point and what it loses), then the path the run would take through
// statemachine/restoreSpec.ts from there. Changes nothing: no lock, no fence, no approval request. A
// refusal of the run (quorum back, one member missing) or a bad --from or --snapshot is the plan's verdict.

import { WorkflowError, errorMessage } from '../errors.ts';
import { EXIT } from '../exitCodes.ts';
import { ChooseRestorePoint } from '../steps/ChooseRestorePoint.ts';
import { ObserveQuorumLoss } from '../steps/ObserveQuorumLoss.ts';
import { ValidateRestoreRequest } from '../steps/ValidateRestoreRequest.ts';
import { othersThanSurvivor, type RestoreStep } from '../cluster/restoreFacts.ts';
import type { RestoreContext } from '../../statemachine/restoreContext.ts';
import { RESTORE_WORKFLOW } from '../../statemachine/restoreSpec.ts';
import type { AnyStateSpec } from '../../statemachine/spec.ts';
import type { PlannedStep } from './plan.ts';
import type { StepDeps } from './stepDeps.ts';

export interface RestorePlan {
  verdict: string;
  refused: boolean;
  /** The exit code of a refused plan: 3, or 2 for a bad --from or --snapshot. */
  exitCode?: number;
  /** What the read-only steps found: the verdict on quorum, the restore point, what it loses, the hosts to be fenced. */
  facts: Pick<RestoreContext, 'quorumLoss' | 'survivor' | 'expectedLoss' | 'approvalWaived'> & { fenced?: string[] };
  steps: PlannedStep[];
}

/** The states of the restore's path, given what the read-only steps found: the re-add loop once, standing for each former member. */
function path(context: RestoreContext): AnyStateSpec[] {
  const states = RESTORE_WORKFLOW.states as readonly AnyStateSpec[];
  const byName = new Map(states.map((s) => [s.name, s]));
  const out: AnyStateSpec[] = [];
  let name: string | undefined = RESTORE_WORKFLOW.start;
  while (name !== undefined && !out.some((s) => s.name === name)) {
    const state: AnyStateSpec | undefined = byName.get(name);
    if (!state) break;
    out.push(state);
    switch (state.kind) {
      case 'task':
      case 'wait':
        name = state.next;
        break;
      case 'choice': {
        const taken = state.when.find((w) => (context as unknown as Record<string, unknown>)[w.guard.field] === true);
        name = taken?.next ?? state.otherwise;
        break;
      }
      case 'outcome':
        name = state.succeeded;
        break;
      default:
        name = undefined;
    }
  }
  return out;
}

/** A step's note in the plan: what the restore point and the loss say about it. */
function noteOf(name: string, context: RestoreContext, fenced: string[]): string | undefined {
  const survivor = context.survivor;
  switch (name) {
    case 'AwaitApproval':
      return `waits up to ${context.options.approvalTimeoutSeconds} s for \`etcd-replace approve RUN_ID\`; ${context.expectedLoss?.text ?? ''}`;
    case 'FenceFormerMembers':
      return `fences ${fenced.length > 0 ? fenced.join(', ') : 'no host'}`;
    case 'ForceNewCluster':
      return survivor?.kind === 'member' ? `forces ${survivor.host} at revision ${survivor.revision}` : undefined;
    case 'RestoreFromSnapshot':
      return survivor?.kind === 'snapshot' ? `restores ${survivor.key} (revision ${survivor.revision})` : undefined;
    case 'PrepareFormerMember':
      return 'the re-add loop: once per former member but the survivor, one at a time, each with the checks `run` makes';
    default:
      return undefined;
  }
}

/** The read-only states the plan runs, in the run's order (the real steps unless a test gives others). */
export interface RestorePlanSteps {
  ValidateRestoreRequest: RestoreStep;
  ObserveQuorumLoss: RestoreStep;
  ChooseRestorePoint: RestoreStep;
}

const READ_ONLY_STEPS: RestorePlanSteps = { ValidateRestoreRequest, ObserveQuorumLoss, ChooseRestorePoint };

export async function planRestore(start: RestoreContext, deps: StepDeps, steps: RestorePlanSteps = READ_ONLY_STEPS): Promise<RestorePlan> {
  let context = start;
  const planned = (states: AnyStateSpec[], fenced: string[]): PlannedStep[] =>
    states.map((s) => {
      const note = noteOf(s.name, context, fenced);
      return {
        name: s.name,
        kind: s.kind,
        summary: s.summary,
        ...(s.kind === 'task' ? { runbook: s.runbook } : {}),
        commands: [],
        ...(note ? { note } : {}),
      };
    });
  try {
    for (const step of [steps.ValidateRestoreRequest, steps.ObserveQuorumLoss, steps.ChooseRestorePoint]) {
      context = { ...context, ...(await step(context, deps)).output };
    }
  } catch (error) {
    const code = error instanceof WorkflowError ? error.exitCode : EXIT.failed;
    const name = error instanceof Error ? error.name : 'Error';
    return {
      verdict: `the restore would be refused: ${name}: ${errorMessage(error)}`,
      refused: true,
      exitCode: code === EXIT.invalidInput ? EXIT.invalidInput : code === EXIT.refused ? EXIT.refused : EXIT.failed,
      facts: {},
      steps: [],
    };
  }
  const fenced = context.survivor && context.formerMembers ? othersThanSurvivor(context.formerMembers, context.survivor).map((m) => m.host) : [];
  const facts: RestorePlan['facts'] = {
    ...(context.quorumLoss ? { quorumLoss: context.quorumLoss } : {}),
    ...(context.survivor ? { survivor: context.survivor } : {}),
    ...(context.expectedLoss ? { expectedLoss: context.expectedLoss } : {}),
    ...(context.approvalWaived ? { approvalWaived: true } : {}),
    fenced,
  };
  const from = context.survivor?.kind === 'snapshot' ? `snapshot ${context.survivor.key}` : (context.survivor?.host ?? 'an unknown restore point');
  return {
    verdict: `the restore would proceed from ${from}, after ${context.approvalWaived ? 'no approval (waived)' : 'a person approves it'}: ${context.expectedLoss?.text ?? ''}`,
    refused: false,
    facts,
    steps: planned(path(context), fenced),
  };
}
