// Times the failure observation (observe() in functions/cluster/observe.ts, as CheckClusterHealth and
// ConfirmMemberFailed run it) on a sandbox, through etcdctl on the members as the workflow does, and
// counts the host commands each observation costs.
//
//   npx tsx bench/timeObserve.ts SANDBOX FAILED_HOST [RUNS]
//
// Break FAILED_HOST first (`etcd-replace sandbox fail --sandbox SANDBOX FAILED_HOST [--mode etcd]`).

import { EtcdctlMembership } from '../functions/adapters/etcdctl.ts';
import { inventoryOfSandbox, sandboxDeps } from '../sandbox/adapters/deps.ts';
import { CountingHostRunner } from './counting.ts';
import { median } from './run.ts';
import { observe } from '../functions/cluster/observe.ts';
import { DEFAULT_OPTIONS, type WorkflowContext } from '../statemachine/context.ts';
import { loadSandbox } from '../sandbox/index.ts';

const [name = '', failed = '', runsText = '5'] = process.argv.slice(2);
if (name === '' || failed === '') {
  console.error('usage: tsx bench/timeObserve.ts SANDBOX FAILED_HOST [RUNS]');
  process.exit(2);
}
const runs = Number.parseInt(runsText, 10);

const inventory = inventoryOfSandbox(await loadSandbox(name));
const failedHost = inventory.hosts.find((h) => h.name === failed);
if (!failedHost) throw new Error(`no host ${failed} in sandbox ${name}`);

const deps = await sandboxDeps(name);
const counting = new CountingHostRunner(deps.runner);
deps.etcd = (via, endpoints) => new EtcdctlMembership(counting, via, endpoints);

const context: WorkflowContext = {
  runId: 'r-time-observe',
  request: { cluster: name, failed, startedBy: 'time-observe' },
  options: DEFAULT_OPTIONS,
  inventory,
  failedHost,
};

const times: number[] = [];
try {
  for (let i = 0; i < runs; i++) {
    counting.calls.length = 0;
    const started = performance.now();
    const seen = await observe(context, deps);
    const ms = performance.now() - started;
    times.push(ms);
    const healthy = seen.health.filter((h) => h.healthy).length;
    const commands = counting.calls.map((c) => `${c.host}: ${c.script} ${c.verb ?? ''}`.trim());
    console.log(
      `run ${i + 1}: ${ms.toFixed(0)} ms, ${commands.length} host command(s) [${commands.join('; ')}], ${healthy}/${seen.members.length} members answer`,
    );
  }
} finally {
  await deps.close();
}
const sorted = [...times].sort((a, b) => a - b);
const mean = times.reduce((a, b) => a + b, 0) / Math.max(times.length, 1);
console.log(
  `observe(): median ${(median(times) ?? 0).toFixed(0)} ms, mean ${mean.toFixed(0)} ms, min ${(sorted[0] ?? 0).toFixed(0)} ms, max ${(sorted.at(-1) ?? 0).toFixed(0)} ms over ${times.length} runs`,
);
