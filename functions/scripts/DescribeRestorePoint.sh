#!/usr/bin/env bash
# DescribeRestorePoint: on a host of a cluster that lost quorum, what its member holds, so the survivor
# can be chosen (OpenShift 3.11 "Restoring etcd quorum"). Read-only: nothing is stopped or written
# outside a temporary copy.
# - etcd answers here (at any client URL etcd.conf or the static pod names, lib/etcdHost.sh): its
#   member, cluster, leader, member count and version, revision, raft index and term, from
#   `etcdctl endpoint status` (API 3, the host's peer certificate). A member that lost quorum still
#   answers it (leader 0).
# - no etcd runs here: /var/lib/etcd itself (lib/etcdBackend.sh): the revision from
#   `etcdctl snapshot status` on a copy of member/snap/db, the raft index of the last entry applied to
#   the backend (its consistent_index), the member and cluster IDs its WAL was written for. Both may lag
#   what the member had applied by the backend's last batch (100 ms), which etcd replays from its WAL
#   when it starts. The raft index also leaves out the entries after it that wrote nothing to the
#   backend (v2 requests and quorum reads such as the v2 /health check, membership attributes, a
#   leader's empty entry), so it may be below the raft index the member last answered with; compare
#   members by revision first.
# Usage: DescribeRestorePoint.sh
# Prints one JSON line: {"etcd":"running"|"stopped","source":"endpoint"|"backend"|"none","memberId",
# "clusterId","name","leaderId","members","version","revision","raftIndex","raftTerm","dbBytes","keys"}:
# dbBytes is the backend's size as etcd counts it (endpoint status dbSize, snapshot status totalSize),
# not the file's, which etcd grows ahead of its data. Null where the source does not tell (from the
# backend: name, leader, members, version, raftTerm; from the endpoint: keys), and every one of them
# null for a stopped member with no member/snap/db (source none). IDs are 16 hex digits; leaderId "0000000000000000" for a member without a leader.
# Exit codes (lib/exitCodes.sh): 0 done; 1 failed (etcdctl rejects the backend, no etcdctl on this host);
# 2 bad arguments (it takes none); 4 not ready yet: an etcd process runs here and answers at no client URL (starting, or hung), so its
# data, which it may be writing, is not read.
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/etcdHost.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/etcdHost.sh"
# shellcheck source=functions/scripts/lib/etcdBackend.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/etcdBackend.sh"

(($# == 0)) || {
  echo "DescribeRestorePoint takes no arguments" >&2
  exit 2
}

str() { if [[ -n $1 ]]; then printf '"%s"' "$1"; else printf null; fi; }
num() { if [[ $1 =~ ^[0-9]+$ ]]; then printf '%s' "$1"; else printf null; fi; }

describe() {
  local etcd=$1 source=$2 member=$3 cluster=$4 name=$5 leader=$6 members=$7 version=$8 revision=$9
  shift 9
  printf '{"etcd":"%s","source":"%s","memberId":%s,"clusterId":%s,"name":%s,"leaderId":%s,"members":%s,"version":%s,"revision":%s,"raftIndex":%s,"raftTerm":%s,"dbBytes":%s,"keys":%s}\n' \
    "$etcd" "$source" "$(str "$member")" "$(str "$cluster")" "$(str "$name")" "$(str "$leader")" "$(num "$members")" "$(str "$version")" \
    "$(num "$revision")" "$(num "$1")" "$(num "$2")" "$(num "$3")" "$(num "$4")"
}

url=''
while IFS= read -r url; do
  if etcd_host_ask_url "$url"; then
    describe running endpoint "$ETCD_HOST_MEMBER" "$ETCD_HOST_CLUSTER" "$ETCD_HOST_NAME" "$ETCD_HOST_LEADER" "$ETCD_HOST_MEMBERS" \
      "$ETCD_HOST_VERSION" "$ETCD_HOST_REVISION" "$ETCD_HOST_RAFT_INDEX" "$ETCD_HOST_RAFT_TERM" "$ETCD_HOST_DB_SIZE" ''
    exit 0
  fi
done < <(etcd_host_client_urls "$ETCD_HOST_CONF" "$ETCD_HOST_POD")

still_running() {
  if [[ -n $(etcd_host_etcd_pids) ]]; then
    echo "etcd runs on this host and answers at no client URL (starting, or hung); its data is not read while it may be written" >&2
    exit 4
  fi
}
still_running

db=$ETCD_HOST_DATA/member/snap/db
if [[ ! -f $db ]]; then
  describe stopped none '' '' '' '' '' '' '' '' '' '' ''
  exit 0
fi
command -v etcdctl >/dev/null || {
  echo "no etcdctl on this host to read $db with" >&2
  exit 1
}

workdir=$(mktemp -d /var/tmp/etcd-restore-point.XXXXXX)
# shellcheck disable=SC2064 # expand now: the path is fixed
trap "rm -rf '$workdir'" EXIT
cp --sparse=always "$db" "$workdir/db"
# An etcd that started while the copy was made may have written it: the copy is not trusted then.
still_running

etcd_backend_status "$workdir/db" || {
  echo "etcdctl snapshot status rejects a copy of $db" >&2
  exit 1
}
index=$(etcd_backend_consistent_index "$workdir/db") || index=''
member='' cluster=''
if etcd_wal_identity "$ETCD_HOST_DATA/member/wal"; then
  member=$ETCD_WAL_MEMBER
  cluster=$ETCD_WAL_CLUSTER
fi
describe stopped backend "$member" "$cluster" '' '' '' '' "$ETCD_BACKEND_REVISION" "$index" '' "${ETCD_BACKEND_SIZE:-}" "${ETCD_BACKEND_KEYS:-}"
