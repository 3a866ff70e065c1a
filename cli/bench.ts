// `etcd-replace bench`: the replacement benchmark (workflow against the scripted runbook) and the AWS
// cost model; writes docs/benchmarks.json and docs/benchmarks.md. See bench/run.ts.

import { integerOption, parse, printJson, progress, runCommand, UsageError } from './common.ts';
import { helpText } from './help.ts';

const USAGE = helpText('bench').trimEnd();

export function benchCommand(argv: string[]): Promise<number> {
  return runCommand(async () => {
    const { values } = parse(
      argv,
      {
        quick: { type: 'boolean', default: false },
        scenario: { type: 'string', multiple: true },
        reps: { type: 'string' },
        json: { type: 'boolean', default: false },
        'cost-only': { type: 'boolean', default: false },
        render: { type: 'boolean', default: false },
      },
      USAGE,
    );
    const reps = integerOption('reps', values.reps, values.quick ? 2 : 3);
    if (reps < 1 || reps > 20) throw new UsageError(`--reps must be from 1 to 20\n${USAGE}`);

    if (values.render) {
      const { renderFromJson, DOCS_MD } = await import('../bench/report.ts');
      await renderFromJson();
      progress(`wrote ${DOCS_MD}`);
      return 0;
    }

    if (values['cost-only']) {
      const { costOnly } = await import('../bench/costOnly.ts');
      const report = await costOnly();
      if (values.json) printJson(report);
      else process.stdout.write(`${report.markdown}\n`);
      return 0;
    }

    if (process.getuid?.() !== 0) throw new UsageError('bench builds sandboxes (network namespaces): run it as root');
    const { runBenchmark, pickScenarios } = await import('../bench/run.ts');
    const { writeReport, DOCS_MD, DOCS_JSON } = await import('../bench/report.ts');
    let picked: ReturnType<typeof pickScenarios> | undefined;
    try {
      picked = values.scenario ? pickScenarios(values.scenario) : undefined;
    } catch (error) {
      throw new UsageError(`${(error as Error).message}\n${USAGE}`);
    }
    const command = [
      'npm run bench --',
      ...(values.quick ? ['--quick'] : []),
      ...(values.scenario ?? []).flatMap((s) => ['--scenario', s]),
      ...(values.reps !== undefined ? ['--reps', String(reps)] : []),
    ]
      .join(' ')
      .replace(/ --$/, '');
    const report = await runBenchmark({ quick: values.quick, reps, log: progress, command, ...(picked ? { scenarios: picked } : {}) });
    await writeReport(report);
    progress(`wrote ${DOCS_MD} and ${DOCS_JSON}`);
    if (values.json) printJson(report);
    else {
      for (const c of report.scenarios) {
        const f = (ms: number | null) => (ms === null ? '–' : `${(ms / 1000).toFixed(2)} s`);
        progress(`${c.scenario}: floor ${f(c.floorMs)}, workflow ${f(c.workflowCaughtUpMs)} to caught up (${c.ratio ?? '–'}×), ${f(c.workflowTotalMs)} to the end`);
      }
    }
    const failures = report.scenarios.reduce((n, c) => n + c.floorFailures + c.workflowFailures, 0);
    return failures > 0 ? 1 : 0;
  });
}
