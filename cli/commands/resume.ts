// `etcd-replace resume RUN_ID`: resume an unfinished sandbox run by its ID, from the state it stopped
// in, on its own cluster only (cli/sandboxRun.ts).

import { InvalidInputError } from '../../functions/errors.ts';
import { EXIT, exitCodesText } from '../../functions/exitCodes.ts';
import * as validate from '../../functions/validate.ts';
import { FileRunStore } from '../../sandbox/adapters/fileRunStore.ts';
import { parse, runCommand, UsageError } from '../common.ts';
import { HELP_FLAG, JSON_FLAG, RUN_EXITS, usageText, type Help } from '../help.ts';
import { progress } from '../printers/text.ts';
import { depsFor, execute, holdFor, refuseIfOwned, takeOverWith, workflowOf } from '../sandboxRun.ts';

export const help: Help = {
  usage: ['etcd-replace resume RUN_ID [--sandbox NAME] [--json]'],
  about:
    'Resumes an unfinished sandbox run by its ID (see `etcd-replace history`) from the state it stopped in: a replacement (`run`) or a restore of quorum (`restore-quorum`), with the workflow its record names.',
  sections: [
    {
      title: 'arguments and options',
      flags: [
        ['RUN_ID', 'the run to resume, e.g. r-20260302-101700-3f9a0c'],
        ['--sandbox NAME', 'the sandbox it runs on (default: the one the run record names)'],
        JSON_FLAG,
        HELP_FLAG,
      ],
    },
  ],
  examples: ['etcd-replace resume r-20260302-101700-3f9a0c --sandbox lab'],
  exits: exitCodesText(RUN_EXITS, { after: `; ${EXIT.invalidInput} also when the run does not exist or already ended` }),
};

export const topics = { resume: help };

const USAGE = usageText(help);

export function run(argv: string[]): Promise<number> {
  return runCommand(async () => {
    const { values, positionals } = parse(argv, { sandbox: { type: 'string' }, json: { type: 'boolean', default: false } }, USAGE, true);
    if (positionals.length !== 1) throw new UsageError(USAGE);
    const runId = validate.runId('RUN_ID', positionals[0]);
    const runs = new FileRunStore();
    const record = await runs.get(runId);
    if (!record) throw new InvalidInputError('RUN_ID', `no run ${runId} in the run record`);
    if (record.outcome !== 'running') throw new InvalidInputError('RUN_ID', `run ${runId} already ended: ${record.outcome}`);
    const sandbox = validate.sandboxName('--sandbox', values.sandbox ?? record.cluster);
    const hold = holdFor(workflowOf(record));
    // A run holds its own cluster's lock and knows its own hosts: it never goes on against another.
    if (sandbox !== record.cluster || record.target !== 'sandbox') {
      throw new InvalidInputError('--sandbox', `run ${runId} is a run of ${record.target} cluster ${record.cluster}; it resumes only there, not on ${sandbox}`);
    }
    const command = `\`etcd-replace resume ${runId}\``;
    await refuseIfOwned(record, runs, command);
    const deps = await depsFor(sandbox);
    await takeOverWith(record, runs, deps, command);
    progress(`resuming run ${runId} at ${record.state}`);
    return execute(record, deps, values.json, runs, hold);
  });
}
