#!/usr/bin/env bash
# DescribeEtcdHost: read-only. Prints what this host's etcd is (see lib/etcdHost.sh, etcd_host_facts):
#   {"staticPod":bool,"unitActive":bool,"unitEnabled":bool,"installedVersion":"3.2.22"|null,
#    "listening":bool,"running":{"version","memberId","clusterId","leaderId","members"}|null,"dataDirEmpty":bool}
# `data-bytes` prints only {"dataBytes":N}, the bytes under /var/lib/etcd: how far a new member that
# does not answer yet (it replays the cluster's log) has got. `data-space` prints df's numbers for the
# filesystem under /var/lib/etcd: {"dataBytes":N,"sizeBytes":N,"availableBytes":N} (a new member whose
# etcd stops for lack of space is named so).
# `await-member CN MEMBER_ID SELF_URL MEMBER_URLS WATCH_URLS learner|voter WAIT_SECONDS BUDGET_SECONDS`
# waits here until the new member has started (lib/awaitMember.sh: its progress lines, then its JSON):
# StartNewMember's wait when it goes on after a look at the whole cluster.
# Usage: DescribeEtcdHost.sh [data-bytes|data-space|await-member ARGS...]
# Exit codes (lib/exitCodes.sh): 0 done; 1 failed; 2 bad arguments.
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/etcdHost.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/etcdHost.sh"
# shellcheck source=functions/scripts/lib/awaitMember.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/awaitMember.sh"

case "${1:-}" in
  '') etcd_host_facts ;;
  data-bytes) printf '{"dataBytes":%d}\n' "$(du -sb "$ETCD_HOST_DATA" | cut -f1)" ;;
  data-space)
    read -r size available < <(df -P -B1 "$ETCD_HOST_DATA" | awk 'NR == 2 { print $2, $4 }')
    printf '{"dataBytes":%d,"sizeBytes":%d,"availableBytes":%d}\n' "$(du -sb "$ETCD_HOST_DATA" | cut -f1)" "$size" "$available"
    ;;
  await-member)
    (($# == 9)) || { echo "usage: DescribeEtcdHost.sh await-member CN MEMBER_ID SELF_URL MEMBER_URLS WATCH_URLS learner|voter WAIT_SECONDS BUDGET_SECONDS" >&2; exit 2; }
    await_member "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$9"
    ;;
  *)
    echo "usage: DescribeEtcdHost.sh [data-bytes|data-space|await-member ARGS...]" >&2
    exit 2
    ;;
esac
