// `etcd-replace graph`: the workflow machine as a Mermaid diagram.

import { toMermaid } from '../statemachine/graph.ts';
import { parse, runCommand } from './common.ts';

export function graphCommand(argv: string[]): Promise<number> {
  return runCommand(async () => {
    parse(argv, {}, 'usage: etcd-replace graph');
    process.stdout.write(toMermaid());
    return 0;
  });
}
