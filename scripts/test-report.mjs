// The closing lines of `npm test`: the wall time of each phase, the slowest test files with what each
// built on the sandbox, and the counts per etcd version. Reads what scripts/test.sh leaves in its
// report directory: `phases` (one "name<TAB>seconds" line per phase), vitest's JSON reports (*.json)
// and the sandbox's build log (builds.jsonl, sandbox/buildLog.ts).
//
// usage: node scripts/test-report.mjs REPORT_DIR PRIMARY_VERSION
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

const [dir, primary] = process.argv.slice(2);
if (!dir || !primary) {
  console.error('usage: node scripts/test-report.mjs REPORT_DIR PRIMARY_VERSION');
  process.exit(2);
}
const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const rel = (file) => path.relative(repo, file);
const plural = (n, word) => `${n} ${word}${n === 1 ? '' : word.endsWith('x') ? 'es' : 's'}`;
const seconds = (s) => `${s.toFixed(s < 10 ? 1 : 0)} s`;

const phases = existsSync(path.join(dir, 'phases'))
  ? readFileSync(path.join(dir, 'phases'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t'))
  : [];

/** Every test file of every JSON report, with the report it came from. */
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .flatMap((report) => {
    const parsed = JSON.parse(readFileSync(path.join(dir, report), 'utf8'));
    return parsed.testResults.map((r) => ({
      report: report.replace(/\.json$/, ''),
      file: rel(r.name),
      startTime: r.startTime,
      endTime: r.endTime,
      passed: r.assertionResults.filter((a) => a.status === 'passed').length,
      failed:
        r.assertionResults.filter((a) => a.status === 'failed').length +
        (r.status === 'failed' && r.assertionResults.every((a) => a.status !== 'failed') ? 1 : 0),
    }));
  });

const builds = existsSync(path.join(dir, 'builds.jsonl'))
  ? readFileSync(path.join(dir, 'builds.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
  : [];
const builtBy = (file) => builds.filter((b) => b.tag === file);

/** Which etcd a file's tests ran on: the learner directory on 3.4.23, the other sandbox files on the primary. */
const tierOf = (f) => {
  if (f.file.startsWith('test/sandbox/learner/')) return 'learner';
  if (f.file.startsWith('test/sandbox/')) return 'sandbox';
  return f.report === 'node22' ? 'node22' : 'unit';
};
const TIERS = {
  unit: 'unit, AWS (faked SDK) and CDK on Node.js ' + process.versions.node,
  node22: 'unit and AWS on Node.js 22',
  sandbox: `sandbox on etcd ${primary}: every behaviour`,
  learner: 'sandbox on etcd 3.4.23: the learner path',
};

console.log('');
console.log(`phase times: ${phases.map(([name, s]) => `${name} ${seconds(Number(s))}`).join(' · ')}`);
for (const tier of ['sandbox', 'learner']) {
  const of = files.filter((f) => tierOf(f) === tier);
  if (of.length === 0) continue;
  const span = (Math.max(...of.map((f) => f.endTime)) - Math.min(...of.map((f) => f.startTime))) / 1000;
  const sum = of.reduce((n, f) => n + (f.endTime - f.startTime), 0) / 1000;
  const tagged = builds.filter((b) => of.some((f) => f.file === b.tag));
  console.log(
    `  ${TIERS[tier]}: ${plural(of.length, 'file')} in ${seconds(span)} of wall time (${seconds(sum)} of file time side by side), ` +
      `${plural(tagged.filter((b) => b.kind === 'sandbox').length, 'sandbox')} and ${plural(tagged.filter((b) => b.kind === 'host').length, 'launched host')} built`,
  );
}
const untagged = builds.filter((b) => !files.some((f) => f.file === b.tag));
if (untagged.length > 0) console.log(`  built outside any test file: ${untagged.length}`);

console.log('the 10 slowest test files:');
for (const f of [...files].sort((a, b) => b.endTime - b.startTime - (a.endTime - a.startTime)).slice(0, 10)) {
  const mine = builtBy(f.file);
  const sandboxes = mine.filter((b) => b.kind === 'sandbox').length;
  const hosts = mine.filter((b) => b.kind === 'host').length;
  const built =
    tierOf(f) === 'sandbox' || tierOf(f) === 'learner' ? `, ${plural(sandboxes, 'sandbox')}${hosts ? ` + ${plural(hosts, 'launched host')}` : ''}` : '';
  console.log(`  ${seconds((f.endTime - f.startTime) / 1000).padStart(7)}  ${f.file} (${tierOf(f)}${built})`);
}

let passed = 0;
let failed = 0;
for (const tier of Object.keys(TIERS)) {
  const of = files.filter((f) => tierOf(f) === tier);
  if (of.length === 0) continue;
  const p = of.reduce((n, f) => n + f.passed, 0);
  const x = of.reduce((n, f) => n + f.failed, 0);
  console.log(`${TIERS[tier]}: ${p} passed, ${x} failed`);
  passed += p;
  failed += x;
}
console.log(`tests: ${passed} passed, ${failed} failed`);
