// `etcd-replace graph`: the workflow machine as a Mermaid diagram.

import { toMermaid } from '../statemachine/graph.ts';
import { parse, runCommand } from './common.ts';
import { usageOf } from './help.ts';

export function graphCommand(argv: string[]): Promise<number> {
  return runCommand(async () => {
    parse(argv, {}, usageOf('graph'));
    process.stdout.write(toMermaid());
    return 0;
  });
}
