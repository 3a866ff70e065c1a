#!/usr/bin/env bash
# VerifyClusterHealth: on a member, the runbook's two checks across every member's endpoint:
# v2 `etcdctl cluster-health` and v3 `etcdctl endpoint health`.
# Usage: VerifyClusterHealth.sh ENDPOINTS        (comma-separated https://host:2379 list)
# Exit codes (lib/exitCodes.sh): 0 done, prints {"v2":"cluster is healthy","v3Healthy":N}; 1 failed;
# 2 bad arguments; 4 not ready yet: either check finds a problem, its output on stderr (the step reads
# it as ClusterUnhealthyError).
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"

endpoints=${1:-}
[[ $endpoints =~ ^https://[A-Za-z0-9.-]+:[0-9]{1,5}(,https://[A-Za-z0-9.-]+:[0-9]{1,5})*$ ]] || { echo "bad endpoints" >&2; exit 2; }

v2=$(ETCDCTL_API=2 etcdctl --cert-file=/etc/etcd/peer.crt --key-file=/etc/etcd/peer.key --ca-file=/etc/etcd/ca.crt \
  --peers="$endpoints" cluster-health 2>&1) || { printf '%s\n' "$v2" >&2; exit 4; }
printf '%s\n' "$v2" >&2
v3=$(ETCDCTL_API=3 etcdctl --cert=/etc/etcd/peer.crt --key=/etc/etcd/peer.key --cacert=/etc/etcd/ca.crt \
  --endpoints="$endpoints" endpoint health 2>&1) || { printf '%s\n' "$v3" >&2; exit 4; }
printf '%s\n' "$v3" >&2
printf '{"v2":"cluster is healthy","v3Healthy":%d}\n' "$(grep -c 'is healthy' <<<"$v3")"
