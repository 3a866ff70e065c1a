#!/usr/bin/env bash
# FenceFormerMember: on a reachable member that will not be the survivor of a cluster that lost quorum,
# stop its etcd the runbook's way and keep its data, backed up off the host (OpenShift 3.11 "Restoring
# etcd quorum"; the data directory is NOT emptied: a later replacement of this member does that, and
# until then it is the fallback should the survivor's data turn out worse).
# `fence`: refused (exit 3, nothing stopped) while this host's etcd answers with a leader: it serves a
# working cluster, this one with quorum or the survivor's new one. Otherwise etcd.yaml goes to
# pods-stopped/ (the master's other pods keep running) and etcd.service is stopped and disabled, then
# /var/lib/etcd is uploaded (lib/etcdData.sh). `confirm`, once the step has found the upload whole in the
# store: the marker /etc/etcd/restore-quorum/RUN_ID.fence, written only while etcd is stopped and the
# directory is the one backed up (lib/quorumRestore.sh). A host fenced for the run already: `fence`
# stops what runs again, uploads nothing and says "marked":true.
# Usage: FenceFormerMember.sh fence RUN_ID (UPLOAD_URL=<url> on stdin, lib/secrets.sh)
#      | FenceFormerMember.sh confirm RUN_ID BYTES SHA256 MANIFEST (`0 empty empty` for an empty directory)
# Prints: fence {"stopped":bool,"kind":"pod"|"unit","backup":{"marked":bool,…}} where backup is the marker
# ({"bytes","sha256","manifest","at"}) or etcd_data_backup's JSON ({"empty":true} or
# {"empty":false,"bytes","sha256","manifest"}); confirm {"confirmed":true,"markedBefore":bool}.
# Exit codes (lib/exitCodes.sh):
#   0  done
#   1  failed (etcd still runs 30 s after it was stopped, among others)
#   2  bad arguments
#   3  refused: etcd here serves a working cluster; or (confirm) etcd runs again, or the directory
#      changed since the backup; nothing was changed
#   5  the backup cannot leave the host (it is cut off from the store): etcd is stopped, the data kept
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/args.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/args.sh"
# shellcheck source=functions/scripts/lib/secrets.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/secrets.sh"
# shellcheck source=functions/scripts/lib/etcdData.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/etcdData.sh"
# shellcheck source=functions/scripts/lib/etcdHost.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/etcdHost.sh"
# shellcheck source=functions/scripts/lib/quorumRestore.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/quorumRestore.sh"

mode=${1:-}
run_id=${2:-}
UPLOAD_URL=''
secrets_read UPLOAD_URL
check_run_id "$run_id"

case "$mode" in
  fence)
    [[ $# -eq 2 ]] || bad_argument "fence takes RUN_ID"
    check_url "$UPLOAD_URL" "no upload URL on stdin"
    if qr_ask && [[ $ETCD_HOST_LEADER != 0000000000000000 ]]; then
      echo "refusing: this host's etcd (member $ETCD_HOST_MEMBER at $QR_URL) answers with leader $ETCD_HOST_LEADER and $ETCD_HOST_MEMBERS member(s): it serves a working cluster; nothing was stopped" >&2
      exit 3
    fi
    qr_stop_etcd disable
    qr_backup "$run_id" fence "$UPLOAD_URL"
    printf '{"stopped":%s,"kind":"%s","backup":%s}\n' "$QR_STOPPED" "$QR_KIND" "$QR_BACKUP"
    ;;
  confirm)
    [[ $# -eq 5 ]] || bad_argument "confirm takes RUN_ID BYTES SHA256 MANIFEST"
    qr_check_backup_args "$3" "$4" "$5"
    qr_confirm "$run_id" fence "$3" "$4" "$5"
    printf '{"confirmed":true,"markedBefore":%s}\n' "$QR_MARKED_BEFORE"
    ;;
  *) bad_argument "unknown mode: $mode" ;;
esac
