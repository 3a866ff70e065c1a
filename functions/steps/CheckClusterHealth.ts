// CheckClusterHealth: the first observation of the failed member and of quorum (runbook 37.1 step 1).
// It also writes the evidence the failure is confirmed on (failureEvidence): a final signal (the
// request's evidence with final, e.g. EC2 `terminated` for the failed member's instance) confirms it
// now, so the second observation follows at once (confirmFailureAfter = now); any other signal, or none
// (a manual start), waits the grace window for the second observation.

import { assessFailure } from '../cluster/assessFailure.ts';
import { askKeyAhead } from '../hosts/keysAhead.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';
import type { Step, StepResult } from '../workflow/step.ts';

export const CheckClusterHealth: Step = async (context, deps) => {
  // The observation's etcdctl runs on the first surviving etcd host, the CA host where it is one: that
  // command also makes the one-time key IssueCertificates' upload needs there on SSM (hosts/keysAhead.ts).
  if (context.caHost && !context.addByPlaybook) askKeyAhead(deps.runner, context.caHost, 'IssueCertificates');
  const result = await assessFailure(context, deps, 'first');
  const evidence = context.request.evidence;
  const observedAt = deps.now().toISOString();
  const failureEvidence: NonNullable<WorkflowContext['failureEvidence']> = evidence
    ? { ...evidence, final: evidence.final === true }
    : { signal: 'manual', at: observedAt, final: false };
  if (!failureEvidence.final) return { ...result, output: { ...result.output, failureEvidence } } satisfies StepResult;
  return {
    ...result,
    output: { ...result.output, failureEvidence, confirmFailureAfter: observedAt },
    detail: `${result.detail ?? ''}; ${failureEvidence.signal} reports ${failureEvidence.state} at ${failureEvidence.at}, a final signal: the failure is confirmed without the grace window's wait`,
  };
};
