#!/usr/bin/env bash
# The test command: installs what is missing, then type-checks, lints and runs every test.
set -o errexit -o nounset -o pipefail

cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh

npx tsc --noEmit
npx eslint .
bash scripts/shellcheck.sh

report=$(mktemp -d)/vitest.json
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
if [ -f "$report" ]; then
# shellcheck disable=SC2016 # JavaScript, not shell: its ${} are template literals
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed`);
  ' "$report"
fi
exit "$status"
