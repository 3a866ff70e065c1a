// `etcd-replace bench --cost-only`: the cost model with no sandbox. Transitions and Lambda invocations
// come from executing the compiled ASL; SSM commands and step times from the measured runs of the
// last benchmark (docs/benchmarks.json) when it exists. It ends with the modelled detection and
// end-to-end times on AWS (bench/detection.ts).

import { promises as fs } from 'node:fs';
import { costInputs, costReport, type BenchReport, type CostReport } from './run.ts';
import { DOCS_JSON, renderCost } from './report.ts';
import { detectionMarkdown } from './detection.ts';

export async function costOnly(): Promise<{ cost: CostReport; measuredFrom: string; markdown: string }> {
  let last: BenchReport | null = null;
  try {
    last = JSON.parse(await fs.readFile(DOCS_JSON, 'utf8')) as BenchReport;
  } catch {
    last = null;
  }
  const cost = await costReport(costInputs(last?.measurements ?? []));
  const measuredFrom = last
    ? `${DOCS_JSON} (${last.mode} run of ${last.machine.date})`
    : 'no measured runs (docs/benchmarks.json is missing): transitions and invocations only';
  return {
    cost,
    measuredFrom,
    markdown: `# AWS cost per run\n\nSSM commands and step times from: ${measuredFrom}\n\n${renderCost(cost)}\n\n${await detectionMarkdown()}`,
  };
}
