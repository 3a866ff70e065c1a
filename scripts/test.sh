#!/usr/bin/env bash
# The test command: installs what is missing, then type-checks, lints and runs every test.
#
# The sandbox suites run on two etcd versions:
#   - 3.2.22, OpenShift 3.11's, as the primary version (every test file), when the build is found under
#     ETCD_REPLACE_ETCD_BUILDS (default: ../shared/etcd beside the checkout, where it exists);
#   - 3.4.23, Debian's, for the learner path: the workflow suites below.
# Without the 3.2.22 build every test runs on 3.4.23, except the files that need the builds, and the
# last lines say that the 3.2.22 matrix did not run and how to enable it.
set -o errexit -o nounset -o pipefail

cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh

# The workflow suites that also run on 3.4.23 when 3.2.22 is the primary version.
readonly LEARNER_SUITES=(
  test/sandbox/replace.test.ts
  test/sandbox/resume.test.ts
  test/sandbox/safety.test.ts
  test/sandbox/faults.test.ts
  test/sandbox/aws-e2e.test.ts
  test/sandbox/asl-conformance.test.ts
  test/sandbox/etcdMembership.test.ts
  test/sandbox/healthyMember.test.ts
)
# Files that need the 3.2.22 and 3.3.11 builds (RHEL 7's yum, mixed versions).
readonly NEEDS_BUILDS=(
  test/sandbox/etcdVersions.test.ts
  test/sandbox/newHost.test.ts
)

if [[ -z ${ETCD_REPLACE_ETCD_BUILDS:-} && -d ../shared/etcd ]]; then
  ETCD_REPLACE_ETCD_BUILDS=$(cd ../shared/etcd && pwd)
  export ETCD_REPLACE_ETCD_BUILDS
fi
builds=${ETCD_REPLACE_ETCD_BUILDS:-}
have_builds=0
if [[ -n $builds && -x $builds/v3.2.22/etcd && -x $builds/v3.2.22/etcdctl ]]; then
  have_builds=1
fi

npx tsc --noEmit
npx eslint .
bash scripts/shellcheck.sh

reports=$(mktemp -d)
status=0
if ((have_builds)); then
  echo "== etcd 3.2.22 (OpenShift 3.11) from ${builds}/v3.2.22: every test" >&2
  ETCD_REPLACE_ETCD_VERSION=3.2.22 npx vitest run --reporter=default --reporter=json --outputFile.json="$reports/3.2.22.json" "$@" || status=$?
  echo "== etcd 3.4.23 (Debian): the workflow suites, learner path" >&2
  ETCD_REPLACE_ETCD_VERSION=3.4.23 npx vitest run --project sandbox --reporter=default --reporter=json --outputFile.json="$reports/3.4.23.json" "${LEARNER_SUITES[@]}" || status=$?
else
  excludes=()
  for file in "${NEEDS_BUILDS[@]}"; do excludes+=(--exclude "$file"); done
  echo "== etcd 3.4.23 (Debian): every test (no 3.2.22 build found)" >&2
  ETCD_REPLACE_ETCD_VERSION=3.4.23 npx vitest run "${excludes[@]}" --reporter=default --reporter=json --outputFile.json="$reports/3.4.23.json" "$@" || status=$?
fi

# shellcheck disable=SC2016 # JavaScript, not shell: its ${} are template literals
node -e '
  const fs = require("fs");
  const [dir, haveBuilds, builds] = process.argv.slice(1);
  let passed = 0, failed = 0;
  for (const version of ["3.2.22", "3.4.23"]) {
    const file = `${dir}/${version}.json`;
    if (!fs.existsSync(file)) continue;
    const r = JSON.parse(fs.readFileSync(file, "utf8"));
    console.log(`etcd ${version}: ${r.numPassedTests} passed, ${r.numFailedTests} failed`);
    passed += r.numPassedTests;
    failed += r.numFailedTests;
  }
  if (haveBuilds !== "1") {
    console.log(`the etcd 3.2.22 matrix did not run: no v3.2.22/etcd and v3.2.22/etcdctl under ETCD_REPLACE_ETCD_BUILDS (${builds || "unset"}).`);
    console.log("To run it, point ETCD_REPLACE_ETCD_BUILDS at a directory holding them, e.g. ETCD_REPLACE_ETCD_BUILDS=../shared/etcd npm test");
  }
  console.log(`tests: ${passed} passed, ${failed} failed`);
' "$reports" "$have_builds" "$builds"
exit "$status"
