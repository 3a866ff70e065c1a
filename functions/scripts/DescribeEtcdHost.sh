#!/usr/bin/env bash
# DescribeEtcdHost: read-only. Prints what this host's etcd is (see lib/etcdHost.sh, etcd_host_facts):
#   {"staticPod":bool,"unitActive":bool,"unitEnabled":bool,"installedVersion":"3.2.22"|null,
#    "listening":bool,"running":{"version","memberId","clusterId","leaderId","members"}|null,"dataDirEmpty":bool}
# `data-bytes` prints only {"dataBytes":N}, the bytes under /var/lib/etcd: how far a new member that
# does not answer yet (it replays the cluster's log) has got.
# Usage: DescribeEtcdHost.sh [data-bytes]
# Exit codes (lib/exitCodes.sh): 0 done; 1 failed; 2 bad arguments.
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/etcdHost.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/etcdHost.sh"

case "${1:-}" in
  '') etcd_host_facts ;;
  data-bytes) printf '{"dataBytes":%d}\n' "$(du -sb "$ETCD_HOST_DATA" | cut -f1)" ;;
  *)
    echo "usage: DescribeEtcdHost.sh [data-bytes]" >&2
    exit 2
    ;;
esac
