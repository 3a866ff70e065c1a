#!/usr/bin/env bash
# Lint every shell script the project tracks with ShellCheck.
set -o errexit -o nounset -o pipefail

cd "$(dirname "$0")/.."
mapfile -t scripts < <(git ls-files -co --exclude-standard -- '*.sh' '.ci/run' | sort -u)
[ "${#scripts[@]}" -eq 0 ] || shellcheck --external-sources "${scripts[@]}"
