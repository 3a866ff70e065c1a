#!/usr/bin/env bash
# CompensateNewMember: on the new host whose member could not join, stop and disable etcd so it
# cannot rejoin with a removed member ID. Its data directory is left for StartNewMember to back up.
# A host whose etcd answers as a member of CLUSTER_ID other than NEW_MEMBER_ID, or as a member of
# another running etcd cluster, or runs an etcd that cannot be asked is refused before anything is
# stopped (lib/etcdHost.sh, asked at every client URL etcd.conf and the static pod name). The etcd.service
# StartNewMember started as NEW_MEMBER_ID (its marker says so) is this run's own even when it does not
# answer: a member that cannot join often cannot.
# Usage: CompensateNewMember.sh CLUSTER_ID [NEW_MEMBER_ID]
# Exit codes (lib/exitCodes.sh): 0 done, prints {"stopped":bool}; 1 failed; 2 bad arguments;
# 3 refused: this host runs another member of CLUSTER_ID, a member of another running cluster, or an
# etcd that cannot be asked; nothing was stopped.
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/etcdHost.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/etcdHost.sh"

cluster_id=${1:-}
member_id=${2:-}
[[ -z $member_id || $member_id =~ ^[0-9a-f]{16}$ ]] || { echo "bad member id" >&2; exit 2; }
# Written by StartNewMember with the bundle it unpacked.
readonly MARKER=/etc/etcd/etcd-replace-member-id
ours=''
if [[ -n $member_id && -f $MARKER && $(<"$MARKER") == "$member_id" ]]; then ours=unit; fi
refuse_if_started_member "$cluster_id" "$member_id" "$ours"
printf '{"stopped":%s}\n' "$(etcd_host_stop_unit)"
