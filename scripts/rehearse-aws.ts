// `npm run rehearse:aws`: a rehearsal of the deployed system on this machine (rehearsal/). Builds a
// sandbox with a powered-off master-2 (3 members, 1 spare), synthesizes the stack, runs its state machine
// and bundled functions against the sandbox through local AWS endpoints (rehearsal/rehearse.ts), prints
// the report, and judges the run (rehearsal/run.ts `verdict`): the execution, the deliveries, every API
// call's IAM verdict, the audit record, the notification, the lock, the ports and the snapshot. The functions run on the Node.js binary named by ETCD_REPLACE_LAMBDA_NODE (the deployed
// runtime is nodejs22.x), else on this one; the report says which version ran them.
// The sandbox and every server it started are removed whatever happens (also on Ctrl-C).
// `--trigger ec2-state-change`: EC2's state-change event of master-2's instance (`stopped`) starts the
// run through the signal function instead of the probe's member alarm (the default, `--trigger alarm`).
// `--help`: the usage, exit 0.
// Exit codes: 0 the rehearsal passed, 1 it did not, 2 bad arguments.

import { sandboxDown } from '../sandbox/index.ts';
import { parseArgs } from 'node:util';
import { rehearsalSandboxName, rehearseOnSandbox } from '../rehearsal/run.ts';
import type { RehearsalTrigger } from '../rehearsal/rehearse.ts';

const USAGE = 'usage: npm run rehearse:aws [-- --trigger alarm|ec2-state-change]';

const TRIGGERS: readonly RehearsalTrigger[] = ['alarm', 'ec2-state-change'];
let trigger: RehearsalTrigger;
try {
  const { values } = parseArgs({ options: { trigger: { type: 'string', default: 'alarm' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    console.log(`${USAGE}\nRehearses the synthesized stack against a sandbox through local AWS endpoints (rehearsal/README.md).`);
    process.exit(0);
  }
  if (!TRIGGERS.includes(values.trigger as RehearsalTrigger)) throw new Error(`--trigger must be ${TRIGGERS.join(' or ')}, got "${values.trigger}"`);
  trigger = values.trigger as RehearsalTrigger;
} catch (error) {
  console.error(`error: ${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
  process.exit(2);
}

const name = rehearsalSandboxName();
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.error(`\n${signal}: removing sandbox ${name}`);
    sandboxDown(name).finally(() => process.exit(130));
  });
}

const started = Date.now();
try {
  await rehearseOnSandbox((line) => console.log(line), name, trigger);
  console.log(`\nrehearse:aws passed in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  process.exit(0);
} catch (error) {
  console.error(
    `\nrehearse:aws FAILED after ${((Date.now() - started) / 1000).toFixed(0)} s: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  );
  process.exit(1);
}
