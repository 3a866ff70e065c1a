#!/usr/bin/env bash
# SnapshotCluster: on a healthy member, save a snapshot, check it with `snapshot status`, upload it to
# the artifact store through a short-lived URL, and report its hash and size.
# Usage: SnapshotCluster.sh ENDPOINT UPLOAD_URL
set -o errexit -o nounset -o pipefail

endpoint=${1:?endpoint}
upload_url=${2:?upload url}
[[ $endpoint =~ ^https://[A-Za-z0-9.-]+:[0-9]{1,5}$ ]] || { echo "bad endpoint: $endpoint" >&2; exit 2; }
[[ $upload_url =~ ^https?:// ]] || { echo "bad upload url" >&2; exit 2; }

workdir=$(mktemp -d /var/tmp/etcd-snapshot.XXXXXX)
trap 'rm -rf "$workdir"' EXIT
snapshot="$workdir/snapshot.db"

ETCDCTL_API=3 etcdctl --cacert=/etc/etcd/ca.crt --cert=/etc/etcd/peer.crt --key=/etc/etcd/peer.key \
  --endpoints="$endpoint" --command-timeout=300s snapshot save "$snapshot" >&2
bytes=$(stat -c %s "$snapshot")
# Check, hash and upload read the same file: run them side by side, then require all three to pass.
ETCDCTL_API=3 etcdctl snapshot status "$snapshot" -w json >"$workdir/status.json" &
check=$!
sha256sum "$snapshot" >"$workdir/sha256" &
hash=$!
curl -fsS --connect-timeout 5 --retry 2 --max-time 1800 --upload-file "$snapshot" "$upload_url" >&2 &
upload=$!
wait "$check" || { echo "snapshot status rejects the snapshot" >&2; exit 3; }
wait "$hash"
wait "$upload" || { echo "could not upload the snapshot" >&2; exit 1; }
status=$(cat "$workdir/status.json")
sha256=$(cut -d' ' -f1 "$workdir/sha256")
printf '{"bytes":%s,"sha256":"%s","status":%s}\n' "$bytes" "$sha256" "$status"
