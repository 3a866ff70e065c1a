#!/usr/bin/env bash
# BackUpFailedMemberData: on the failed host, back up /var/lib/etcd off the host, then empty it.
# `backup` packs the data directory and uploads it, printing its size, sha256 and a
# manifest hash (file names and sizes). `wipe MANIFEST` empties the directory, and only while its
# manifest still equals the one that was backed up (lib/etcdData.sh).
# Usage: BackUpFailedMemberData.sh backup (UPLOAD_URL=<url> on stdin, lib/secrets.sh)
#      | BackUpFailedMemberData.sh wipe MANIFEST_SHA256
# Exit codes (lib/exitCodes.sh):
#   0  done: prints etcd_data_backup's or etcd_data_wipe's JSON
#   1  failed
#   2  bad arguments
#   3  refused: etcd still runs here, or the directory changed since the backup; nothing wiped
#   5  the backup cannot leave the host (it is cut off from the artifact store); nothing wiped
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/args.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/args.sh"
# shellcheck source=functions/scripts/lib/secrets.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/secrets.sh"
# shellcheck source=functions/scripts/lib/etcdData.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/etcdData.sh"

mode=${1:-}
UPLOAD_URL=''
secrets_read UPLOAD_URL
case "$mode" in
  backup) etcd_data_backup "$UPLOAD_URL" ;;
  wipe) etcd_data_wipe "${2:-}" ;;
  *)
    echo "unknown mode: $mode" >&2
    exit 2
    ;;
esac
