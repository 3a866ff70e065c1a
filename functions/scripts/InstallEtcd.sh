#!/usr/bin/env bash
# InstallEtcd: on the new host, `yum install -y etcd` and check the installed etcd is at least the
# runbook's minimum (etcd-2.3.7-4). Prints the version so the workflow can choose learner or plain add.
# Usage: InstallEtcd.sh
set -o errexit -o nounset -o pipefail

yum install -y etcd >&2
version=$(etcd --version | sed -n 's/^etcd Version: *//p')
[[ $version =~ ^([0-9]+)\.([0-9]+)\.([0-9]+) ]] || { echo "cannot read the etcd version: $version" >&2; exit 3; }
major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]} patch=${BASH_REMATCH[3]}
if (( major < 2 || (major == 2 && (minor < 3 || (minor == 3 && patch < 7))) )); then
  echo "etcd $version is older than the required 2.3.7" >&2
  exit 3
fi
printf '{"version":"%s"}\n' "$version"
