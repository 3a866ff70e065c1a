#!/usr/bin/env bash
# The test command: installs what is missing, then type-checks, lints and runs every test.
#
#   unit     test/unit, test/aws (faked SDK), test/cdk: on this Node.js, then unit and AWS again on
#            Node.js 22, the Lambda runtime (scripts/test-node22.sh)
#   sandbox  test/sandbox: every behaviour on real etcd, on OpenShift 3.11's 3.2.22 when its build is
#            found under ETCD_REPLACE_ETCD_BUILDS (default: ../shared/etcd beside the checkout)
#   learner  test/sandbox/learner: the learner path, which only etcd 3.4 has, on Debian's 3.4.23
#
# The sandbox files run side by side (ETCD_REPLACE_TEST_WORKERS, default 3): they spend most of their
# time waiting on etcd. The last lines give each phase's wall time, the 10 slowest files with the
# sandboxes each built, and the counts per etcd version.
# Without the 3.2.22 build the sandbox files run on 3.4.23, except the files that need the builds, and
# the last lines say that the 3.2.22 matrix did not run and how to enable it.
set -o errexit -o nounset -o pipefail

cd "$(dirname "$0")/.."

reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
status=0

# Runs a phase and records its wall time; a failed phase fails the command after every phase ran.
phase() {
  local name=$1 started=$EPOCHREALTIME
  shift
  echo "== ${name}" >&2
  "$@" || status=$?
  awk -v name="$name" -v from="$started" -v to="$EPOCHREALTIME" 'BEGIN { printf "%s\t%.1f\n", name, to - from }' >>"$reports/phases"
}

phase deps bash scripts/ensure-deps.sh

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
primary=3.4.23
excludes=()
if [[ -n $builds && -x $builds/v3.2.22/etcd && -x $builds/v3.2.22/etcdctl ]]; then
  primary=3.2.22
else
  for file in "${NEEDS_BUILDS[@]}"; do excludes+=(--exclude "$file"); done
fi
export ETCD_REPLACE_ETCD_VERSION=$primary
export ETCD_REPLACE_SANDBOX_BUILD_LOG=$reports/builds.jsonl
node22=$(bash scripts/node22.sh)
export ETCD_REPLACE_LAMBDA_NODE=$node22
# Files or filters given (npm test -- FILE): a project without a match is no failure.
filters=()
(($# == 0)) || filters=(--passWithNoTests "$@")

phase type-check npx tsc --noEmit
phase lint npm run --silent lint
phase unit npx vitest run --project unit --reporter=dot --reporter=json --outputFile.json="$reports/unit.json" "${filters[@]}"
phase "unit on Node.js 22" bash scripts/test-node22.sh --reporter=dot --reporter=json --outputFile.json="$reports/node22.json" "${filters[@]}"
phase "sandbox (etcd ${primary}) and learner (etcd 3.4.23)" \
  npx vitest run --project sandbox --project learner --maxWorkers="${ETCD_REPLACE_TEST_WORKERS:-3}" \
  --reporter=default --reporter=json --outputFile.json="$reports/sandbox.json" "${excludes[@]}" "${filters[@]}"

if [[ $primary != 3.2.22 ]]; then
  echo "the etcd 3.2.22 matrix did not run: no v3.2.22/etcd and v3.2.22/etcdctl under ETCD_REPLACE_ETCD_BUILDS (${builds:-unset})."
  echo "To run it, point ETCD_REPLACE_ETCD_BUILDS at a directory holding them, e.g. ETCD_REPLACE_ETCD_BUILDS=../shared/etcd npm test"
fi
node scripts/test-report.mjs "$reports" "$primary"
exit "$status"
