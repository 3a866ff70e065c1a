#!/usr/bin/env bash
# RestoreFromSnapshot: on the host chosen to carry a cluster that lost quorum and has no usable survivor,
# restore a verified snapshot as a cluster of one, as OpenShift 3.11's "Restoring etcd" does by hand: stop
# etcd (etcd.yaml to pods-stopped/, or `systemctl stop etcd`), move the old data aside, `ETCDCTL_API=3
# etcdctl snapshot restore` with --name, --initial-cluster, --initial-cluster-token and
# --initial-advertise-peer-urls of this host alone (read from /etc/etcd/etcd.conf) into a fresh
# /var/lib/etcd, etcd.conf with ETCD_INITIAL_CLUSTER of this host alone and ETCD_INITIAL_CLUSTER_STATE=new
# (what the restored data says), start etcd, and verify one healthy member at MIN_REVISION or later.
# lib/quorumRestore.sh holds the stop, the start and the checks.
#
# The old data is kept, never deleted: its entries move to /var/lib/etcd/.etcd-replace-before-RUN_ID (the
# data directory is often a mount point of its own, so they stay on its file system; etcd names what it
# does not know in its data directory in a warning, and leaves it). The snapshot is downloaded to
# /var/lib/etcd/.etcd-replace-restore-RUN_ID, checked against SHA256, restored there, and its member
# directory moved into place; that directory is removed once the restore is in place, or fails.
#
# One action per state, so a run killed anywhere finishes when started again, and a rerun after success
# only verifies: no /etc/etcd/restore-quorum/RUN_ID.kept: refuse or stop, then move the old data aside
# (then the marker); no RUN_ID.restored: download, check, restore, move into place, etcd.conf (then the
# marker, {"sha256","revision","at"}); then start etcd when it does not run, and verify.
#
# Usage: RestoreFromSnapshot.sh RUN_ID SHA256 MIN_REVISION WAIT_SECONDS (SNAPSHOT_URL=<url> on stdin,
# lib/secrets.sh; needed until the restore is in place)
# SHA256: the verified snapshot's; MIN_REVISION: the revision its run recorded (the snapshot file's own
# revision must be at least this); WAIT_SECONDS: how long the start may take to answer as a cluster of one.
# Prints {"memberId","clusterId","name","peerUrl","revision","raftIndex","did":[…],"restoredBefore":bool,
# "peerUrlUpdated":bool}, did listing what this call did, in order, of stop, keep, restore, configure,
# start (empty: only verified).
# Exit codes (lib/exitCodes.sh):
#   0  done
#   1  failed: the download, its sha256 or revision, or etcdctl snapshot restore failed (nothing is in
#      place: the same command tries again); etcd still runs 30 s after it was stopped; or it came back
#      and is not one healthy member at MIN_REVISION or later
#   2  bad arguments (a missing SNAPSHOT_URL while the restore is not in place included)
#   3  refused, nothing changed: etcd here serves a working cluster (it answers with a leader), etcd.conf
#      sets ETCD_FORCE_NEW_CLUSTER, names another data directory, or lacks ETCD_NAME or
#      ETCD_INITIAL_ADVERTISE_PEER_URLS; or this run restored another snapshot here already
#   4  not ready yet: etcd did not answer as a cluster of one within WAIT_SECONDS of its start (the same
#      command goes on from there)
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/args.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/args.sh"
# shellcheck source=functions/scripts/lib/secrets.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/secrets.sh"
# shellcheck source=functions/scripts/lib/etcdData.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/etcdData.sh"
# shellcheck source=functions/scripts/lib/etcdBackend.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/etcdBackend.sh"
# shellcheck source=functions/scripts/lib/etcdHost.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/etcdHost.sh"
# shellcheck source=functions/scripts/lib/quorumRestore.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/quorumRestore.sh"

SNAPSHOT_URL=''
secrets_read SNAPSHOT_URL
[[ $# -eq 4 ]] || bad_argument "takes RUN_ID SHA256 MIN_REVISION WAIT_SECONDS"
run_id=$1 sha256=$2 min_revision=$3 wait_seconds=$4
check_run_id "$run_id"
[[ $sha256 =~ ^[0-9a-f]{64}$ ]] || bad_argument "bad snapshot sha256"
[[ $min_revision =~ ^[0-9]{1,15}$ ]] || bad_argument "bad minimum revision: $min_revision"
[[ $wait_seconds =~ ^[1-9][0-9]{0,3}$ ]] || bad_argument "bad wait seconds: $wait_seconds"
[[ -z $SNAPSHOT_URL ]] || check_url "$SNAPSHOT_URL" "bad snapshot URL on stdin"

readonly KEPT=$ETCD_HOST_DATA/.etcd-replace-before-$run_id
readonly STAGING=$ETCD_HOST_DATA/.etcd-replace-restore-$run_id
kept_marker=$(qr_marker "$run_id" kept)
restored_marker=$(qr_marker "$run_id" restored)
readonly kept_marker restored_marker

refuse() {
  echo "refusing: $1; nothing was changed" >&2
  exit 3
}

[[ -f $ETCD_HOST_CONF ]] || refuse "no $ETCD_HOST_CONF on this host"
name=$(qr_conf_value ETCD_NAME)
peer_url=$(qr_conf_value ETCD_INITIAL_ADVERTISE_PEER_URLS)
token=$(qr_conf_value ETCD_INITIAL_CLUSTER_TOKEN)
data_dir=$(qr_conf_value ETCD_DATA_DIR)
[[ $name =~ ^[A-Za-z0-9._-]{1,128}$ ]] || refuse "$ETCD_HOST_CONF gives no ETCD_NAME fit for --name"
[[ $peer_url =~ ^https?://[A-Za-z0-9.-]+:[0-9]{1,5}$ ]] || refuse "$ETCD_HOST_CONF gives no single ETCD_INITIAL_ADVERTISE_PEER_URLS of this host"
[[ -z $token || $token =~ ^[A-Za-z0-9._-]{1,128}$ ]] || refuse "$ETCD_HOST_CONF gives an ETCD_INITIAL_CLUSTER_TOKEN unfit for --initial-cluster-token"
token=${token:-etcd-cluster}
[[ -z $data_dir || ${data_dir%/} == "$ETCD_HOST_DATA" ]] || refuse "$ETCD_HOST_CONF names the data directory $data_dir, not $ETCD_HOST_DATA"
if qr_conf_flag; then refuse "$ETCD_HOST_CONF sets ETCD_FORCE_NEW_CLUSTER"; fi
if [[ -s $restored_marker ]] && ! grep -q "\"sha256\":\"$sha256\"" "$restored_marker"; then
  refuse "this run restored another snapshot here already ($(cat "$restored_marker"))"
fi

did=()
restored_before=false
[[ -s $restored_marker ]] && restored_before=true

# 1. etcd stopped the runbook's way, then the old data aside.
if [[ ! -e $kept_marker ]]; then
  if qr_ask && [[ $ETCD_HOST_LEADER != 0000000000000000 ]]; then
    refuse "this host's etcd (member $ETCD_HOST_MEMBER at $QR_URL) answers with leader $ETCD_HOST_LEADER and $ETCD_HOST_MEMBERS member(s): it serves a working cluster"
  fi
  qr_stop_etcd stop
  [[ $QR_STOPPED == false ]] || did+=(stop)
  mkdir -p "$KEPT" "$QR_MARK_DIR"
  chmod 700 "$KEPT" "$QR_MARK_DIR"
  while IFS= read -r -d '' entry; do
    mv -f "$entry" "$KEPT/"
  done < <(find "$ETCD_HOST_DATA" -mindepth 1 -maxdepth 1 ! -name '.etcd-replace-*' -print0)
  : >"$kept_marker"
  did+=(keep)
fi

# 2. The snapshot downloaded, checked and restored as this host alone; etcd.conf to match.
conf_set() {
  local key=$1 value=$2 tmp
  [[ $(qr_conf_value "$key") != "$value" ]] || return 0
  tmp=$(mktemp "${ETCD_HOST_CONF}.new.XXXXXX")
  # In place of its first assignment (any later one dropped), or at the end when there is none.
  awk -v key="$key" -v line="$key=$value" '
    $0 ~ "^[[:space:]]*(export[[:space:]]+)?" key "=" { if (!done) print line; done = 1; next }
    { print }
    END { if (!done) print line }
  ' "$ETCD_HOST_CONF" >"$tmp"
  cp -p "$ETCD_HOST_CONF" "${ETCD_HOST_CONF}.etcd-replace.$(date -u +%Y%m%dT%H%M%SZ)"
  chmod --reference="$ETCD_HOST_CONF" "$tmp"
  mv -f "$tmp" "$ETCD_HOST_CONF"
}

# A failure before the restore is in place: the download and its directory go, the old data stays kept.
not_in_place() {
  rm -rf "$STAGING"
  echo "$1; nothing is in place" >&2
  exit 1
}

if [[ ! -s $restored_marker ]]; then
  qr_stop_etcd stop
  [[ $QR_STOPPED == false ]] || did+=(stop)
  if [[ ! -d $ETCD_HOST_DATA/member ]]; then
    check_url "$SNAPSHOT_URL" "no snapshot URL on stdin"
    rm -rf "$STAGING"
    mkdir -m 700 "$STAGING"
    curl_url "$SNAPSHOT_URL" -fsS --connect-timeout 5 --retry 2 --max-time 1800 -o "$STAGING/snapshot.db" || not_in_place "the snapshot could not be downloaded"
    actual=$(sha256sum "$STAGING/snapshot.db" | cut -d' ' -f1)
    [[ $actual == "$sha256" ]] || not_in_place "the snapshot downloaded has sha256 $actual, not the $sha256 its run verified"
    etcd_backend_status "$STAGING/snapshot.db" || not_in_place "etcdctl snapshot status rejects the snapshot downloaded"
    ((ETCD_BACKEND_REVISION >= min_revision)) || not_in_place "the snapshot is at revision $ETCD_BACKEND_REVISION, below the $min_revision its run recorded"
    ETCDCTL_API=3 etcdctl snapshot restore "$STAGING/snapshot.db" --data-dir="$STAGING/data" --name="$name" \
      --initial-cluster="$name=$peer_url" --initial-cluster-token="$token" --initial-advertise-peer-urls="$peer_url" >&2 || not_in_place "etcdctl snapshot restore failed"
    # Owned as the data directory etcd runs with is (etcd:etcd on an RPM host, root in the static pod).
    chown -R --reference="$ETCD_HOST_DATA" "$STAGING/data/member"
    chmod 700 "$STAGING/data/member"
    mv "$STAGING/data/member" "$ETCD_HOST_DATA/member"
  fi
  rm -rf "$STAGING"
  conf_before=$(sha256sum "$ETCD_HOST_CONF")
  conf_set ETCD_INITIAL_CLUSTER "$name=$peer_url"
  conf_set ETCD_INITIAL_CLUSTER_STATE new
  did+=(restore)
  [[ $(sha256sum "$ETCD_HOST_CONF") == "$conf_before" ]] || did+=(configure)
  printf '{"sha256":"%s","revision":%s,"at":"%s"}\n' "$sha256" "$min_revision" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$restored_marker.tmp"
  mv -f "$restored_marker.tmp" "$restored_marker"
fi

# 3. Started, alone, verified.
if ! etcd_host_listening && [[ -z $(etcd_host_etcd_pids) ]]; then
  qr_start_etcd
  did+=(start)
fi
qr_wait_alone "$wait_seconds" || {
  echo "etcd restored from the snapshot did not answer as a cluster of one within ${wait_seconds}s" >&2
  exit 4
}
qr_verify_alone "$min_revision"
printf '{"memberId":"%s","clusterId":"%s","name":"%s","peerUrl":"%s","revision":%s,"raftIndex":%s,"did":[%s],"restoredBefore":%s,"peerUrlUpdated":%s}\n' \
  "$ETCD_HOST_MEMBER" "$ETCD_HOST_CLUSTER" "$QR_NAME" "$QR_PEER_URL" "$ETCD_HOST_REVISION" "$ETCD_HOST_RAFT_INDEX" \
  "$(if ((${#did[@]} > 0)); then printf '"%s",' "${did[@]}" | sed 's/,$//'; fi)" "$restored_before" "$QR_PEER_FIXED"
