// The first step of each per-member loop's body (statemachine/members.ts): for a run that replaces several
// members it loads the member the loop works on next before the step runs, and names that member in the
// step's detail. A run that replaces one member runs the step as it is.

import { enterLoop, memberLabel } from '../../statemachine/members.ts';
import type { MemberPhase } from '../../statemachine/context.ts';
import type { Step } from './step.ts';

export function perMember(phase: MemberPhase, step: Step): Step {
  return async (context, deps) => {
    const entered = enterLoop(context, phase);
    if (!entered) return step(context, deps);
    const current = { ...context, ...entered };
    const result = await step(current, deps);
    return { ...result, output: { ...entered, ...result.output }, detail: `${memberLabel(current)}: ${result.detail}` };
  };
}
