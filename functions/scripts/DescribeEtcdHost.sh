#!/usr/bin/env bash
# DescribeEtcdHost: read-only. Prints what this host's etcd is (see lib/etcdHost.sh, etcd_host_facts):
#   {"staticPod":bool,"unitActive":bool,"unitEnabled":bool,"installedVersion":"3.2.22"|null,
#    "listening":bool,"running":{"version","memberId","clusterId","leaderId","members"}|null,"dataDirEmpty":bool}
# Usage: DescribeEtcdHost.sh
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/etcdHost.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/etcdHost.sh"

[[ $# -eq 0 ]] || { echo "usage: DescribeEtcdHost.sh" >&2; exit 2; }
etcd_host_facts
