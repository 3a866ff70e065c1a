import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { toMermaid } from '../../statemachine/graph.ts';
import { STATES } from '../../statemachine/spec.ts';

describe('Function: toMermaid', () => {
  const graph = toMermaid();

  it('draws every state of the machine once, and every transition of the spec', () => {
    for (const s of STATES) expect(graph.match(new RegExp(`^  ${s.name}[[({]`, 'm'))).not.toBeNull();
    expect(graph).toContain('  IsFailedHostReachable -- failedHostReachable --> BackUpFailedMemberData');
    expect(graph).toContain('  StartNewMember -. error .-> CompensateNewMember');
    expect(graph).toContain('  WaitGraceWindow -- graceWindow --> ConfirmMemberFailed');
  });

  it('is the diagram the README shows', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const block = /```mermaid\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBe(graph);
  });
});
