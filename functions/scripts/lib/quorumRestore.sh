# shellcheck shell=bash
# quorumRestore.sh: what the restore-quorum host scripts share (FenceFormerMember.sh, ForceNewCluster.sh:
# OpenShift 3.11's "Restoring etcd quorum"); inlined like the other lib files.
# Needs lib/args.sh, lib/secrets.sh, lib/etcdData.sh and lib/etcdHost.sh sourced before it.
#
# Stopping and starting etcd the runbook's way, on a master (static pod) or an etcd host (etcd.service):
#   qr_stop_etcd stop|disable the pod's manifest etcd.yaml to pods-stopped/ (the master's other pods keep
#                             running), or `systemctl stop etcd` (`systemctl disable etcd --now` with
#                             `disable`: a fenced host must not start it at boot); then waits until
#                             2379/2380 are closed and no etcd process runs (exit 1 after 30 s). Sets
#                             QR_STOPPED (true when it stopped or moved anything) and QR_KIND.
#   qr_start_etcd             the manifest back to pods/, or `systemctl start etcd` (a unit that fails to
#                             start is left to the wait that follows)
#   qr_ask                    the first client URL of this host's etcd that answers (lib/etcdHost.sh): sets
#                             QR_URL and the ETCD_HOST_* facts; returns 1 when none does
#   qr_wait_alone SECONDS     waits until this host's etcd answers as the only member of its cluster and
#                             its leader; returns 1 when it has not after SECONDS
#   qr_etcdctl ARGS…          etcdctl (API 3) at QR_URL with the host's peer certificate
#
# ETCD_FORCE_NEW_CLUSTER in /etc/etcd/etcd.conf (what the pod and the unit both source):
#   qr_conf_flag              etcd.conf sets it (any value)
#   qr_conf_value KEY         the value etcd.conf gives KEY (its last assignment, unquoted), or nothing
#   qr_conf_set_flag          one line `ETCD_FORCE_NEW_CLUSTER=true` in place of any earlier one
#   qr_conf_remove_flag       every line setting it removed (the runbook's `sed -i '/ETCD_FORCE_NEW_CLUSTER/d'`)
#                             Both replace the file atomically, keeping a dated copy of it beside it first.
#   qr_started_with_flag      an etcd process here runs with the flag (its environment or arguments)
#
# The backup every change waits for, and the marker that proves it:
#   qr_backup RUN_ID KIND URL when the marker of RUN_ID and KIND exists: sets QR_BACKUP to it with
#                             "marked":true, and uploads nothing (the data may have changed since, by this
#                             run's own hand); otherwise uploads the data directory (etcd_data_backup: exit 3
#                             while etcd runs here, 5 when the upload cannot leave the host) and sets
#                             QR_BACKUP to its JSON with "marked":false
#   qr_confirm RUN_ID KIND BYTES SHA256 MANIFEST
#                             the step has found the upload whole in the store: writes the marker, only
#                             while etcd is stopped and the data directory is still the one backed up
#                             (MANIFEST, or `empty` for an empty directory); exit 3, refused, nothing
#                             changed, otherwise. Sets QR_MARKED_BEFORE (true when the marker was there).
#   Markers: /etc/etcd/restore-quorum/RUN_ID.KIND, one JSON line {"bytes","sha256","manifest","at"}; they
#   stay after the run, as a record of what was backed up where.
#
# Checking the result:
#   qr_fix_localhost_peer     a member listed with a peer URL on localhost gets the address etcd listens on
#                             for peers (`member update`, as FixLocalhostPeerUrls); sets QR_PEER_URL and
#                             QR_PEER_FIXED (true when it updated)
#   qr_verify_alone MIN_REVISION
#                             this host's etcd is the one member of its cluster, its leader, healthy
#                             (`endpoint health`: a read through raft), at revision MIN_REVISION or later;
#                             exit 1 otherwise. Sets QR_NAME and QR_PEER_URL from its member list line.

readonly QR_MARK_DIR=/etc/etcd/restore-quorum
readonly QR_FLAG_RE='^[[:space:]]*(export[[:space:]]+)?ETCD_FORCE_NEW_CLUSTER='

qr_pods_stopped() { printf '%s' "${ETCD_HOST_POD%/*}-stopped/${ETCD_HOST_POD##*/}"; }

# pod when the etcd static pod's manifest is in pods/ or pods-stopped/, unit otherwise.
qr_etcd_kind() {
  if [[ -f $ETCD_HOST_POD || -f $(qr_pods_stopped) ]]; then QR_KIND=pod; else QR_KIND=unit; fi
}

# shellcheck disable=SC2034 # read by the scripts that inline this file
qr_stop_etcd() {
  local how=$1
  QR_STOPPED=false
  qr_etcd_kind
  if [[ $QR_KIND == pod ]]; then
    etcd_host_stop_pods etcd
    ((ETCD_HOST_MOVED == 0)) || QR_STOPPED=true
  fi
  if [[ $how == disable ]]; then
    if systemctl is-active --quiet etcd 2>/dev/null || systemctl is-enabled --quiet etcd 2>/dev/null; then
      systemctl disable etcd --now >&2
      QR_STOPPED=true
    fi
  elif systemctl is-active --quiet etcd 2>/dev/null; then
    systemctl stop etcd >&2
    QR_STOPPED=true
  fi
  etcd_host_wait_stopped || {
    echo "etcd still runs on this host 30 s after it was stopped (pids: $(etcd_host_etcd_pids | tr '\n' ' '))" >&2
    exit 1
  }
}

qr_start_etcd() {
  qr_etcd_kind
  if [[ $QR_KIND == pod ]]; then
    [[ -f $ETCD_HOST_POD ]] || mv -f "$(qr_pods_stopped)" "$ETCD_HOST_POD"
  else
    systemctl start etcd >&2 || echo "systemctl start etcd failed" >&2
  fi
}

qr_ask() {
  local url
  while IFS= read -r url; do
    if etcd_host_ask_url "$url"; then
      QR_URL=$url
      return 0
    fi
  done < <(etcd_host_client_urls "$ETCD_HOST_CONF" "$ETCD_HOST_POD")
  return 1
}

qr_wait_alone() {
  local deadline=$((SECONDS + $1))
  for (( ; ; )); do
    if qr_ask && [[ $ETCD_HOST_LEADER == "$ETCD_HOST_MEMBER" ]] && ((ETCD_HOST_MEMBERS == 1)); then return 0; fi
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

qr_etcdctl() {
  local -a tls=()
  if [[ $QR_URL == https://* ]]; then
    tls=(--cacert="$ETCD_HOST_TLS_DIR/ca.crt" --cert="$ETCD_HOST_TLS_DIR/peer.crt" --key="$ETCD_HOST_TLS_DIR/peer.key")
  fi
  ETCDCTL_API=3 timeout 20 etcdctl "${tls[@]}" --endpoints="$QR_URL" --dial-timeout=2s --command-timeout=10s "$@"
}

qr_conf_flag() { grep -qE "$QR_FLAG_RE" "$ETCD_HOST_CONF"; }

# The value etcd.conf gives KEY (its last assignment, quotes removed), or nothing.
qr_conf_value() {
  local line
  line=$(grep -E "^[[:space:]]*(export[[:space:]]+)?$1=" "$ETCD_HOST_CONF" | tail -n 1) || return 0
  line=${line#*=}
  line=${line//\"/}
  printf '%s' "${line//\'/}"
}

# Replaces etcd.conf with its lines without ETCD_FORCE_NEW_CLUSTER, then LINE (none when empty).
qr_conf_write() {
  local line=$1 tmp
  tmp=$(mktemp "${ETCD_HOST_CONF}.new.XXXXXX")
  grep -vE "$QR_FLAG_RE" "$ETCD_HOST_CONF" >"$tmp" || true
  [[ -z $line ]] || printf '%s\n' "$line" >>"$tmp"
  if cmp -s "$tmp" "$ETCD_HOST_CONF"; then
    rm -f "$tmp"
    return 0
  fi
  cp -p "$ETCD_HOST_CONF" "${ETCD_HOST_CONF}.etcd-replace.$(date -u +%Y%m%dT%H%M%SZ)"
  chmod --reference="$ETCD_HOST_CONF" "$tmp"
  mv -f "$tmp" "$ETCD_HOST_CONF"
}

qr_conf_set_flag() { qr_conf_write ETCD_FORCE_NEW_CLUSTER=true; }
qr_conf_remove_flag() { qr_conf_write ''; }

qr_started_with_flag() {
  local pid environment arguments
  while IFS= read -r pid; do
    [[ -n $pid ]] || continue
    environment=$(tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null) || continue
    arguments=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null) || continue
    if grep -qE '^ETCD_FORCE_NEW_CLUSTER=("|'"'"')?true("|'"'"')?$' <<<"$environment" ||
      grep -qE '^--?force-new-cluster(=true)?$' <<<"$arguments"; then
      return 0
    fi
  done < <(etcd_host_etcd_pids)
  return 1
}

qr_marker() { printf '%s/%s.%s' "$QR_MARK_DIR" "$1" "$2"; }

# shellcheck disable=SC2034 # read by the scripts that inline this file
qr_backup() {
  local run=$1 kind=$2 url=$3 marker out
  marker=$(qr_marker "$run" "$kind")
  if [[ -s $marker ]]; then
    QR_BACKUP="{\"marked\":true,$(sed 's/^{//' "$marker")"
    return 0
  fi
  # etcd_data_backup runs in this shell (its exits are the script's), its JSON kept in a file of the run's.
  out=/run/etcd-replace/$run/$kind-backup.json
  mkdir -p "${out%/*}"
  chmod 700 "${out%/*}"
  etcd_data_backup "$url" >"$out"
  QR_BACKUP="{\"marked\":false,$(sed 's/^{//' "$out")"
  rm -f "$out"
}

# Exits 2 unless BYTES SHA256 MANIFEST describe a backup (or `0 empty empty`).
qr_check_backup_args() {
  local bytes=$1 sha256=$2 manifest=$3
  if [[ $sha256 == empty || $manifest == empty ]]; then
    [[ $bytes == 0 && $sha256 == empty && $manifest == empty ]] || bad_argument "bad backup: an empty one is 0 empty empty"
    return 0
  fi
  [[ $bytes =~ ^[0-9]{1,15}$ ]] || bad_argument "bad backup size: $bytes"
  [[ $sha256 =~ ^[0-9a-f]{64}$ ]] || bad_argument "bad backup sha256"
  [[ $manifest =~ ^[0-9a-f]{64}$ ]] || bad_argument "bad backup manifest"
}

# shellcheck disable=SC2034 # read by the scripts that inline this file
qr_confirm() {
  local run=$1 kind=$2 bytes=$3 sha256=$4 manifest=$5 marker actual
  marker=$(qr_marker "$run" "$kind")
  QR_MARKED_BEFORE=false
  if [[ -s $marker ]]; then
    QR_MARKED_BEFORE=true
    return 0
  fi
  if etcd_host_listening || [[ -n $(etcd_host_etcd_pids) ]]; then
    echo "etcd runs on this host again since its data was backed up; nothing was changed (back it up again)" >&2
    exit 3
  fi
  if [[ $manifest == empty ]]; then
    etcd_host_data_empty || {
      echo "$ETCD_DATA_DIR holds data now and was empty when it was backed up; nothing was changed" >&2
      exit 3
    }
  else
    actual=$(etcd_data_manifest)
    [[ $actual == "$manifest" ]] || {
      echo "$ETCD_DATA_DIR changed since it was backed up (manifest $actual, backed up $manifest); nothing was changed" >&2
      exit 3
    }
  fi
  mkdir -p "$QR_MARK_DIR"
  chmod 700 "$QR_MARK_DIR"
  printf '{"bytes":%s,"sha256":"%s","manifest":"%s","at":"%s"}\n' "$bytes" "$sha256" "$manifest" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$marker.tmp"
  mv -f "$marker.tmp" "$marker"
}

# This member's line of `member list` (simple format: "ID, status, name, peer URLs, client URLs"); sets
# QR_NAME and QR_PEER_URL (the first of its peer URLs), QR_LISTED (how many members are listed).
# shellcheck disable=SC2034 # read by the scripts that inline this file
qr_member_line() {
  local list line id=${ETCD_HOST_MEMBER#"${ETCD_HOST_MEMBER%%[!0]*}"}
  list=$(qr_etcdctl member list) || {
    echo "member list does not answer at $QR_URL" >&2
    exit 1
  }
  QR_LISTED=$(grep -cE '^[0-9a-f]+, ' <<<"$list" || true)
  line=$(grep -E "^0*${id}, " <<<"$list" | head -n 1 || true)
  [[ $line =~ ^[0-9a-f]+,\ [a-z]+,\ ([A-Za-z0-9._-]{0,128}),\ (https?://[A-Za-z0-9.:-]+|https?://\[[0-9A-Fa-f:.]+\]:[0-9]+)[,[:space:]] ]] || {
    echo "member $ETCD_HOST_MEMBER is not in its own member list: $list" >&2
    exit 1
  }
  QR_NAME=${BASH_REMATCH[1]}
  QR_PEER_URL=${BASH_REMATCH[2]}
}

# shellcheck disable=SC2034 # read by the scripts that inline this file
qr_fix_localhost_peer() {
  local ip url
  QR_PEER_FIXED=false
  qr_member_line
  [[ $QR_PEER_URL =~ ^https?://(localhost|127\.[0-9.]+)(:[0-9]+)?$ ]] || return 0
  ip=$(etcd_host_peer_listen_ip) || {
    echo "the peer URL is $QR_PEER_URL and etcd listens for peers on no routable IPv4 address" >&2
    exit 1
  }
  url="https://${ip}:2380"
  qr_etcdctl member update "$ETCD_HOST_MEMBER" --peer-urls="$url" >&2
  qr_member_line
  [[ $QR_PEER_URL == "$url" ]] || {
    echo "member update did not take: the peer URL is still $QR_PEER_URL" >&2
    exit 1
  }
  QR_PEER_FIXED=true
}

qr_verify_alone() {
  local min=$1
  if ! qr_ask || [[ $ETCD_HOST_LEADER != "$ETCD_HOST_MEMBER" ]] || ((ETCD_HOST_MEMBERS != 1)); then
    echo "etcd on this host is not the one member and leader of its cluster (member ${ETCD_HOST_MEMBER:-?}, leader ${ETCD_HOST_LEADER:-?}, ${ETCD_HOST_MEMBERS:-?} members)" >&2
    exit 1
  fi
  qr_etcdctl endpoint health >&2 || {
    echo "etcd on this host answers and is not healthy" >&2
    exit 1
  }
  qr_fix_localhost_peer
  if ((QR_LISTED != 1)); then
    echo "the member list names $QR_LISTED members" >&2
    exit 1
  fi
  # The health check wrote nothing, so the revision read now is the one the data came back at.
  qr_ask
  if ((ETCD_HOST_REVISION < min)); then
    echo "etcd on this host is at revision $ETCD_HOST_REVISION, below the $min expected; its data before the change is in the backup" >&2
    exit 1
  fi
}
