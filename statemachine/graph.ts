// The machine as a Mermaid flowchart: tasks as boxes, choices as diamonds, the wait as a stadium,
// finals as circles; catches drawn dashed. Read from the machine itself, so it never drifts.

import type { AnyStateMachine } from 'xstate';
import { machineOf, replaceMemberMachine, specOf } from './machine.ts';
import type { AnyStateSpec, AnyWorkflowSpec } from './spec.ts';

function node(spec: AnyStateSpec): string {
  switch (spec.kind) {
    case 'task':
      return `${spec.name}["${spec.name}"]`;
    case 'choice':
    case 'outcome':
      return `${spec.name}{"${spec.name}?"}`;
    case 'wait':
      return `${spec.name}(["${spec.name}"])`;
    case 'succeed':
    case 'fail':
      return `${spec.name}(("${spec.name}"))`;
  }
}

/** The workflow (its spec, or the machine built from it) as a Mermaid flowchart; the replacement by default. */
export function toMermaid(workflow: AnyWorkflowSpec | AnyStateMachine = replaceMemberMachine): string {
  const machine = machineOf(workflow);
  const lines = ['flowchart TD'];
  const names = Object.keys(machine.root.states);
  for (const name of names) lines.push(`  ${node(specOf(machine, name))}`);
  for (const name of names) {
    const spec = specOf(machine, name);
    switch (spec.kind) {
      case 'task': {
        lines.push(`  ${name} --> ${spec.next}`);
        const targets = [...new Set(spec.catch.map((c) => c.next))];
        for (const t of targets) lines.push(`  ${name} -. error .-> ${t}`);
        break;
      }
      case 'choice':
        for (const w of spec.when) lines.push(`  ${name} -- ${w.guard.name} --> ${w.next}`);
        lines.push(`  ${name} -- otherwise --> ${spec.otherwise}`);
        break;
      case 'outcome':
        lines.push(`  ${name} -- no error --> ${spec.succeeded}`, `  ${name} -- refused --> ${spec.refused}`, `  ${name} -- otherwise --> ${spec.failed}`);
        break;
      case 'wait':
        lines.push(`  ${name} -- ${spec.delay.name} --> ${spec.next}`);
        break;
      default:
        break;
    }
  }
  return `${lines.join('\n')}\n`;
}
