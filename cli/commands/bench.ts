// `etcd-replace bench`: the replacement benchmark (workflow against the scripted runbook) and the AWS
// cost model; writes docs/benchmarks.json and docs/benchmarks.md. See bench/run.ts. The restore of quorum
// (`--scenario restore-…`): bench/restore.ts, its own docs/benchmarks-restore.json and section of the page.

import type { RestoreReport } from '../../bench/restoreReport.ts';
import { EXIT, exitCodesText } from '../../functions/exitCodes.ts';
import { integerOption, parse, runCommand, UsageError } from '../common.ts';
import { HELP_FLAG, helpText, type Help } from '../help.ts';
import { printJson } from '../printers/json.ts';
import { progress } from '../printers/text.ts';

export const help: Help = {
  usage: ['etcd-replace bench [--quick] [--scenario MxMB[@X.Y.Z] | restore-3xMB[@X.Y.Z]]... [--reps N] [--json] [--render] [--cost-only]'],
  about: `Benchmarks the workflow against the scripted runbook on sandboxes and models the AWS cost per run;
writes docs/benchmarks.json and docs/benchmarks.md (the restore of quorum: docs/benchmarks-restore.json and its
section of the page). Needs root, except --cost-only and --render.`,
  sections: [
    {
      title: 'options',
      flags: [
        ['--quick', '3 members @ 32 MB on etcd 3.2.22 and on 3.4.23, 2 repetitions (a few minutes)'],
        [
          '--scenario MxMB[@X.Y.Z]',
          'only this scenario, e.g. 3x32@3.2.22; MxMB alone (3x32, 3x256, 5x32, 3x1024) means that shape on both versions (repeatable)',
        ],
        [
          '--scenario restore-3xMB[@X.Y.Z]',
          'the restore of quorum: two of three masters powered off under writes, restore-quorum approved at once; RTO and RPO (restore-3x32@3.2.22, restore-3x1024@3.2.22; a full run includes both)',
        ],
        ['--reps N', 'repetitions per scenario and kind (default 3; 2 with --quick; 1 to 20)'],
        ['--json', 'print the report as JSON on stdout (progress goes to stderr)'],
        ['--render', 'rewrite docs/benchmarks.md from docs/benchmarks.json (after editing bench/analysis.md)'],
        [
          '--cost-only',
          'the AWS cost model alone: transitions by executing the compiled ASL, SSM commands and step times from the last docs/benchmarks.json; needs no sandbox and writes nothing',
        ],
        HELP_FLAG,
      ],
    },
  ],
  examples: ['npm run bench -- --quick', 'npm run bench -- --scenario restore-3x32@3.2.22 --reps 1', 'etcd-replace bench --cost-only --json'],
  exits: exitCodesText([
    ['succeeded', 'every run succeeded'],
    ['failed', 'a run failed'],
    ['invalidInput', 'bad arguments'],
  ]),
};

export const topics = { bench: help };

const USAGE = helpText(help).trimEnd();

export function run(argv: string[]): Promise<number> {
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
      const { renderFromJson, DOCS_MD } = await import('../../bench/report.ts');
      await renderFromJson();
      await (await import('../../bench/restoreReport.ts')).placeRestoreSection();
      progress(`wrote ${DOCS_MD}`);
      return 0;
    }

    if (values['cost-only']) {
      const { costOnly } = await import('../../bench/costOnly.ts');
      const report = await costOnly();
      if (values.json) printJson(report);
      else process.stdout.write(`${report.markdown}\n`);
      return 0;
    }

    if (process.getuid?.() !== 0) throw new UsageError('bench builds sandboxes (network namespaces): run it as root');
    const { runBenchmark, pickScenarios } = await import('../../bench/run.ts');
    const { writeReport, DOCS_MD, DOCS_JSON } = await import('../../bench/report.ts');
    const restore = await import('../../bench/restoreReport.ts');
    const replacementKeys = (values.scenario ?? []).filter((k) => !restore.isRestoreKey(k));
    const restoreKeys = (values.scenario ?? []).filter(restore.isRestoreKey);
    let picked: ReturnType<typeof pickScenarios> | undefined;
    let restorePicked: ReturnType<typeof restore.pickRestoreScenarios>;
    try {
      picked = replacementKeys.length > 0 ? pickScenarios(replacementKeys) : undefined;
      restorePicked = values.scenario ? restore.pickRestoreScenarios(restoreKeys) : values.quick ? [] : [...restore.RESTORE_SCENARIOS];
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
    // Only restore scenarios named: the replacement's report is left as it is.
    const report =
      restoreKeys.length > 0 && replacementKeys.length === 0
        ? null
        : await runBenchmark({ quick: values.quick, reps, log: progress, command, ...(picked ? { scenarios: picked } : {}) });
    if (report) {
      await writeReport(report);
      await restore.placeRestoreSection();
      progress(`wrote ${DOCS_MD} and ${DOCS_JSON}`);
    }
    let restoreReport: RestoreReport | null = null;
    if (restorePicked.length > 0) {
      const { runRestoreBenchmark } = await import('../../bench/restore.ts');
      restoreReport = await runRestoreBenchmark({ scenarios: restorePicked, reps, log: progress, command, skipMissingBuilds: restoreKeys.length === 0 });
      if (restoreReport.measurements.length > 0) {
        await restore.writeRestoreReport(restoreReport);
        progress(`wrote ${restore.RESTORE_JSON} and its section of ${DOCS_MD}`);
      }
    }
    if (values.json) printJson(report && restoreReport ? { ...report, restore: restoreReport } : (report ?? restoreReport));
    else if (report) {
      for (const c of report.scenarios) {
        const f = (ms: number | null) => (ms === null ? '–' : `${(ms / 1000).toFixed(2)} s`);
        progress(
          `${c.scenario}: floor ${f(c.floorMs)}, workflow ${f(c.workflowCaughtUpMs)} to caught up (${c.ratio ?? '–'}×), ${f(c.workflowTotalMs)} to the end`,
        );
      }
    }
    if (restoreReport && !values.json) for (const m of restoreReport.measurements) progress(restore.summaryLine(m));
    const failures =
      (report?.scenarios.reduce((n, c) => n + c.floorFailures + c.workflowFailures, 0) ?? 0) + (restoreReport?.measurements.filter((m) => !m.ok).length ?? 0);
    return failures > 0 ? EXIT.failed : EXIT.succeeded;
  });
}
