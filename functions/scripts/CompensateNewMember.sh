#!/usr/bin/env bash
# CompensateNewMember: on the new host whose member could not join, stop and disable etcd so it
# cannot rejoin with a removed member ID. Its data directory is left for StartNewMember to back up.
# A host whose etcd answers as a member of CLUSTER_ID other than NEW_MEMBER_ID is refused before
# anything is stopped (lib/etcdHost.sh).
# Usage: CompensateNewMember.sh CLUSTER_ID [NEW_MEMBER_ID]
# Exit codes (lib/exitCodes.sh): 0 done, prints {"stopped":bool}; 1 failed; 2 bad arguments;
# 3 refused: this host runs another member of CLUSTER_ID, nothing was stopped.
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/etcdHost.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/etcdHost.sh"

refuse_if_started_member "${1:-}" "${2:-}"
printf '{"stopped":%s}\n' "$(etcd_host_stop_unit)"
