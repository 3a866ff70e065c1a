#!/usr/bin/env bash
# Runs test/unit and test/aws (vitest's `unit` project without test/cdk) on Node.js 22, the runtime of
# the Lambda functions (nodejs22.x), from scripts/node22.sh. Vitest's workers are forks of the process
# that runs vitest, so the tests run on that Node.js too (test/unit/nodeRuntime.test.ts checks it).
# test/cdk synthesizes the stack, which the CDK CLI does on the deploying machine's Node.js; the
# bundles it builds run on Node.js 22 in test/sandbox/rehearsal.test.ts.
# Arguments go to vitest: `bash scripts/test-node22.sh test/aws` runs that directory only.
set -o errexit -o nounset -o pipefail

cd "$(dirname "$0")/.."
[[ -d node_modules/vitest ]] || npm ci >&2
node22=$(bash scripts/node22.sh)
ETCD_REPLACE_TEST_NODE=$("$node22" --version)
export ETCD_REPLACE_TEST_NODE
echo "== test/unit and test/aws on Node.js ${ETCD_REPLACE_TEST_NODE} (${node22})" >&2
exec "$node22" node_modules/vitest/vitest.mjs run --project unit --exclude 'test/cdk/**' "$@"
