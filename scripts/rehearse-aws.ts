// `npm run rehearse:aws`: a rehearsal of the deployed system on this machine. Builds a sandbox with a
// powered-off master-2, the leader (3 members, 1 spare), synthesizes the stack, runs its state machine
// and bundled functions against the sandbox through local AWS endpoints (test/rehearsal/rehearse.ts),
// checks the cluster, the audit record, the notification and every API call's IAM verdict, and prints
// them. The functions run on the Node.js binary named by ETCD_REPLACE_LAMBDA_NODE (the deployed
// runtime is nodejs22.x), else on this one; the report says which version ran them.
// The sandbox and every server it started are removed whatever happens (also on Ctrl-C).
// `--trigger ec2-state-change`: EC2's state-change event of master-2's instance (`stopped`) starts the
// run through the signal function instead of the probe's member alarm (the default, `--trigger alarm`).
// Exit codes: 0 the rehearsal passed, 1 it did not, 2 bad arguments.

import { sandboxDown } from '../sandbox/index.ts';
import { parseArgs } from 'node:util';
import { rehearsalSandboxName, rehearseOnSandbox } from '../test/rehearsal/run.ts';
import type { RehearsalTrigger } from '../test/rehearsal/rehearse.ts';

const TRIGGERS: readonly RehearsalTrigger[] = ['alarm', 'ec2-state-change'];
let trigger: RehearsalTrigger;
try {
  const { values } = parseArgs({ options: { trigger: { type: 'string', default: 'alarm' } }, strict: true });
  if (!TRIGGERS.includes(values.trigger as RehearsalTrigger)) throw new Error(`--trigger must be ${TRIGGERS.join(' or ')}, got "${values.trigger}"`);
  trigger = values.trigger as RehearsalTrigger;
} catch (error) {
  console.error(`error: ${error instanceof Error ? error.message : String(error)}\nusage: npm run rehearse:aws [-- --trigger alarm|ec2-state-change]`);
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
  console.error(`\nrehearse:aws FAILED after ${((Date.now() - started) / 1000).toFixed(0)} s: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(1);
}
