// `npm run rehearse:aws`: a rehearsal of the deployed system on this machine (rehearsal/). Builds a
// sandbox with a powered-off master-2 (3 members at 32 MB, 1 spare), synthesizes the stack, runs its state machine
// and bundled functions against the sandbox through local AWS endpoints (rehearsal/rehearse.ts), prints
// the report, and judges the run (rehearsal/run.ts `verdict`): the execution, the deliveries, every API
// call's IAM verdict, the audit record, the notification, the lock, the ports and the snapshot. The functions run on the Node.js binary named by ETCD_REPLACE_LAMBDA_NODE (the deployed
// runtime is nodejs22.x), else on this one; the report says which version ran them.
// The emulated services add AWS's latency (rehearsal/latency.ts); the output ends with the run's figures
// as AWS would take it (rehearsal/figures.ts): the grace window's wait, SSM calls by step, then
// `end to end: N.N s (before the window N.N s, window N.N s, after N.N s)` and `calls: SendCommand N, …`.
// The sandbox and every server it started are removed whatever happens (also on Ctrl-C).
// `--trigger ec2-state-change`: EC2's state-change event of master-2's instance (`--state stopped`, the
// default, or `terminated`) starts the run through the signal function instead of the probe's member
// alarm (the default, `--trigger alarm`). `--ssm-latency-ms N`: SSM's time per command (default 1000).
// `--grace-seconds N`: the stack's alarmGraceSeconds (default 60, the deployed default).
// `--add-method manual|ansible`: the stack's defaultAddMethod (default manual); ansible names master-0's
// instance as the installer (ansible.installerInstanceId), where the scaleup playbook runs.
// `--scenario quorum-loss`: the restore-quorum workflow instead (rehearsal/quorumLoss.ts): master-1 is
// partitioned as well, the quorum-lost alarm starts the template's restore state machine, its task-token
// approval is answered by `etcd-replace approve`'s code with the approver policy's permissions, and the
// stack's `fenceUnreachable: stop-instance` stops master-1; judged by rehearsal/quorumLoss.ts `restoreVerdict`.
// `--help`: the usage, exit 0.
// Exit codes: 0 the rehearsal passed, 1 it did not, 2 bad arguments.

import { sandboxDown } from '../sandbox/index.ts';
import { parseArgs } from 'node:util';
import { figureLines } from '../rehearsal/figures.ts';
import { AWS_LATENCY, type LatencyModel } from '../rehearsal/latency.ts';
import { rehearsalSandboxName, rehearseOnSandbox } from '../rehearsal/run.ts';
import type { RehearsalState, RehearsalTrigger } from '../rehearsal/rehearse.ts';
import { ADD_METHODS, type AddMethod } from '../statemachine/context.ts';

const USAGE =
  'usage: npm run rehearse:aws [-- [--scenario replace|quorum-loss] [--trigger alarm|ec2-state-change [--state stopped|terminated]] [--ssm-latency-ms N] [--grace-seconds N] [--add-method manual|ansible]]';

const TRIGGERS: readonly RehearsalTrigger[] = ['alarm', 'ec2-state-change'];
const STATES: readonly RehearsalState[] = ['stopped', 'terminated'];
const SCENARIOS = ['replace', 'quorum-loss'] as const;
let trigger: RehearsalTrigger;
let state: RehearsalState | undefined;
let latency: LatencyModel;
let graceSeconds: number;
let addMethod: AddMethod;
try {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', default: 'replace' },
      trigger: { type: 'string' },
      state: { type: 'string' },
      'ssm-latency-ms': { type: 'string' },
      'grace-seconds': { type: 'string', default: '60' },
      'add-method': { type: 'string', default: 'manual' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(
      `${USAGE}\nRehearses the synthesized stack against a sandbox through local AWS endpoints that add AWS's latency (rehearsal/README.md), ` +
        'and ends with its figures: end to end by phase, and the count of each AWS call.',
    );
    process.exit(0);
  }
  if (!(SCENARIOS as readonly string[]).includes(values.scenario)) throw new Error(`--scenario must be ${SCENARIOS.join(' or ')}, got "${values.scenario}"`);
  if (values.scenario === 'quorum-loss') {
    if (values.trigger !== undefined || values.state !== undefined)
      throw new Error('--scenario quorum-loss is started by the quorum-lost alarm: no --trigger or --state');
    trigger = 'quorum-lost';
  } else {
    const given = values.trigger ?? 'alarm';
    if (!TRIGGERS.includes(given as RehearsalTrigger)) throw new Error(`--trigger must be ${TRIGGERS.join(' or ')}, got "${given}"`);
    trigger = given as RehearsalTrigger;
  }
  if (values.state !== undefined) {
    if (trigger !== 'ec2-state-change') throw new Error('--state goes with --trigger ec2-state-change');
    if (!STATES.includes(values.state as RehearsalState)) throw new Error(`--state must be ${STATES.join(' or ')}, got "${values.state}"`);
    state = values.state as RehearsalState;
  }
  const ssm = values['ssm-latency-ms'];
  if (ssm !== undefined && !/^\d{1,6}$/.test(ssm)) throw new Error(`--ssm-latency-ms must be a whole number of milliseconds, got "${ssm}"`);
  latency = { ...AWS_LATENCY, ...(ssm !== undefined ? { ssmMs: Number(ssm) } : {}) };
  const grace = values['grace-seconds'];
  if (!/^\d{1,4}$/.test(grace) || Number(grace) > 3600) throw new Error(`--grace-seconds must be a whole number from 0 to 3600, got "${grace}"`);
  graceSeconds = Number(grace);
  if (!ADD_METHODS.includes(values['add-method'] as AddMethod))
    throw new Error(`--add-method must be ${ADD_METHODS.join(' or ')}, got "${values['add-method']}"`);
  addMethod = values['add-method'] as AddMethod;
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
  const { rehearsal } = await rehearseOnSandbox((line) => console.log(line), name, trigger, {
    ...(state ? { state } : {}),
    latency,
    dataMb: 32,
    graceSeconds,
    addMethod,
  });
  console.log(`\nrehearse:aws passed in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  for (const line of figureLines(rehearsal.figures)) console.log(line);
  process.exit(0);
} catch (error) {
  console.error(
    `\nrehearse:aws FAILED after ${((Date.now() - started) / 1000).toFixed(0)} s: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  );
  process.exit(1);
}
