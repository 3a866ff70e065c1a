// `etcd-replace graph`: the workflow machine as a Mermaid diagram.

import { exitCodesText } from '../../functions/exitCodes.ts';
import { toMermaid } from '../../statemachine/graph.ts';
import { parse, runCommand } from '../common.ts';
import { HELP_FLAG, usageText, type Help } from '../help.ts';

export const help: Help = {
  usage: ['etcd-replace graph'],
  about: 'Prints the workflow machine as a Mermaid flowchart: every state, its transitions and where each error goes.',
  sections: [{ title: 'options', flags: [HELP_FLAG] }],
  examples: ['etcd-replace graph > workflow.mmd'],
  exits: exitCodesText([
    ['succeeded', 'printed'],
    ['invalidInput', 'bad arguments'],
  ]),
};

export const topics = { graph: help };

export function run(argv: string[]): Promise<number> {
  return runCommand(async () => {
    parse(argv, {}, usageText(help));
    process.stdout.write(toMermaid());
    return 0;
  });
}
