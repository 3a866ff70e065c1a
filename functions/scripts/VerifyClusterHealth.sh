#!/usr/bin/env bash
# VerifyClusterHealth: on a member, the runbook's two checks across every member's endpoint:
# v2 `etcdctl cluster-health` and v3 `etcdctl endpoint health`.
# Usage: VerifyClusterHealth.sh ENDPOINTS [MEMBERSHIP_ENDPOINTS]   (comma-separated https://host:2379 lists)
# With MEMBERSHIP_ENDPOINTS, first the member list through them (as etcdctl.sh member-list asks it),
# printed as {"members":<etcdctl's member list JSON>} on a line of its own, so the step checks the list
# and the health in one host command; a member list that cannot be read is exit 4.
# Exit codes (lib/exitCodes.sh): 0 done, prints {"v2":"cluster is healthy","v3Healthy":N}; 1 failed;
# 2 bad arguments; 4 not ready yet: either check finds a problem, its output on stderr (the step reads
# it as ClusterUnhealthyError).
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"

endpoints=${1:-}
membership=${2:-}
list_re='^https://[A-Za-z0-9.-]+:[0-9]{1,5}(,https://[A-Za-z0-9.-]+:[0-9]{1,5})*$'
[[ $endpoints =~ $list_re ]] || { echo "bad endpoints" >&2; exit 2; }
[[ -z $membership || $membership =~ $list_re ]] || { echo "bad membership endpoints" >&2; exit 2; }

if [[ -n $membership ]]; then
  members=$(ETCDCTL_API=3 etcdctl --cert=/etc/etcd/peer.crt --key=/etc/etcd/peer.key --cacert=/etc/etcd/ca.crt \
    --endpoints="$membership" --dial-timeout=5s --command-timeout=15s -w json member list 2>&1) || {
    printf 'member list: %s\n' "$members" >&2
    exit 4
  }
  printf '{"members":%s}\n' "$members"
fi

v2=$(ETCDCTL_API=2 etcdctl --cert-file=/etc/etcd/peer.crt --key-file=/etc/etcd/peer.key --ca-file=/etc/etcd/ca.crt \
  --peers="$endpoints" cluster-health 2>&1) || { printf '%s\n' "$v2" >&2; exit 4; }
printf '%s\n' "$v2" >&2
v3=$(ETCDCTL_API=3 etcdctl --cert=/etc/etcd/peer.crt --key=/etc/etcd/peer.key --cacert=/etc/etcd/ca.crt \
  --endpoints="$endpoints" endpoint health 2>&1) || { printf '%s\n' "$v3" >&2; exit 4; }
printf '%s\n' "$v3" >&2
printf '{"v2":"cluster is healthy","v3Healthy":%d}\n' "$(grep -c 'is healthy' <<<"$v3")"
