#!/usr/bin/env bash
# ForceNewCluster: on the survivor of a cluster that lost quorum, make its member a cluster of one, as
# OpenShift 3.11's "Restoring etcd quorum" does by hand: stop etcd (etcd.yaml to pods-stopped/, or
# `systemctl stop etcd`), ETCD_FORCE_NEW_CLUSTER=true in /etc/etcd/etcd.conf, start etcd, check that the
# member list names it alone, remove the flag, restart, and verify one healthy member at MIN_REVISION or
# later (with a peer URL on localhost updated to the address etcd listens on for peers, as
# FixLocalhostPeerUrls). lib/quorumRestore.sh holds the parts.
# `backup`: before anything changes, etcd stopped and /var/lib/etcd uploaded off the host. Refused (exit
# 3, nothing changed) when etcd here serves a working cluster (it answers with a leader: quorum is not
# lost here, or it is a cluster of one already), when etcd.conf sets ETCD_FORCE_NEW_CLUSTER already (not
# by this run), or when /var/lib/etcd is empty. Once this run has confirmed its backup it uploads nothing
# again (the data may be forced by then) and changes nothing: it says "marked":true.
# `force`, once the step has found the upload whole in the store: writes the run's marker (only while
# etcd is stopped and the directory is the one backed up, lib/quorumRestore.sh), then takes the host
# from wherever it is to the end, one action per state, so a run killed anywhere finishes when started
# again: the flag set and etcd not running: start it; running with the flag and alone: note it
# (/etc/etcd/restore-quorum/RUN_ID.forced), stop it, remove the flag; the flag removed and etcd stopped
# after that: start it; running alone without the flag: verify only.
# Usage: ForceNewCluster.sh backup RUN_ID (UPLOAD_URL=<url> on stdin, lib/secrets.sh)
#      | ForceNewCluster.sh force RUN_ID BYTES SHA256 MANIFEST MIN_REVISION WAIT_SECONDS
# WAIT_SECONDS: how long each start may take to answer as a cluster of one.
# Prints: backup {"stopped":bool,"kind":"pod"|"unit","backup":{"marked":bool,…}} (lib/quorumRestore.sh
# qr_backup); force {"memberId","clusterId","name","peerUrl","revision","raftIndex","did":[…],
# "markedBefore":bool,"peerUrlUpdated":bool}, did listing what this call did, in order, of stop, setFlag,
# startForced, removeFlag, start (empty: only verified).
# Exit codes (lib/exitCodes.sh):
#   0  done
#   1  failed: etcd still runs 30 s after it was stopped; or it came back and is not one healthy member
#      at MIN_REVISION or later (its data before the change is in the backup)
#   2  bad arguments
#   3  refused, nothing changed: see `backup` above; `force`: etcd runs again or the directory changed
#      since the backup
#   4  not ready yet: etcd did not answer as a cluster of one within WAIT_SECONDS of a start (the same
#      command goes on from there)
#   5  the backup cannot leave the host (it is cut off from the store): nothing is forced
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

backup() {
  check_url "$UPLOAD_URL" "no upload URL on stdin"
  if [[ -s $(qr_marker "$run_id" force) ]]; then
    qr_etcd_kind
    qr_backup "$run_id" force "$UPLOAD_URL"
    printf '{"stopped":false,"kind":"%s","backup":%s}\n' "$QR_KIND" "$QR_BACKUP"
    return 0
  fi
  if qr_conf_flag; then
    echo "refusing: $ETCD_HOST_CONF sets ETCD_FORCE_NEW_CLUSTER already, and not for this run; nothing was changed" >&2
    exit 3
  fi
  if qr_ask && [[ $ETCD_HOST_LEADER != 0000000000000000 ]]; then
    echo "refusing: this host's etcd (member $ETCD_HOST_MEMBER at $QR_URL) answers with leader $ETCD_HOST_LEADER and $ETCD_HOST_MEMBERS member(s): it serves a working cluster, there is no quorum to restore here; nothing was changed" >&2
    exit 3
  fi
  if etcd_host_data_empty; then
    echo "refusing: $ETCD_HOST_DATA is empty, there is no member to force a cluster from; nothing was changed" >&2
    exit 3
  fi
  qr_stop_etcd stop
  qr_backup "$run_id" force "$UPLOAD_URL"
  printf '{"stopped":%s,"kind":"%s","backup":%s}\n' "$QR_STOPPED" "$QR_KIND" "$QR_BACKUP"
}

did=()
# One action per state, until etcd runs alone without the flag.
force() {
  local wait=$1 forced flag running alone with_flag
  forced=$(qr_marker "$run_id" forced)
  for _ in $(seq 1 12); do
    flag=false running=false alone=false with_flag=false
    if qr_conf_flag; then flag=true; fi
    if etcd_host_listening || [[ -n $(etcd_host_etcd_pids) ]]; then running=true; fi
    if [[ $running == true ]] && qr_ask && [[ $ETCD_HOST_LEADER == "$ETCD_HOST_MEMBER" ]] && ((ETCD_HOST_MEMBERS == 1)); then alone=true; fi
    if [[ $running == true ]] && qr_started_with_flag; then with_flag=true; fi
    case "$flag,$running,$with_flag,$alone" in
      false,true,false,true) return 0 ;;
      true,false,*)
        qr_start_etcd
        did+=(startForced)
        qr_wait_alone "$wait" || {
          echo "etcd started with ETCD_FORCE_NEW_CLUSTER=true and did not answer as a cluster of one within ${wait}s" >&2
          exit 4
        }
        ;;
      true,true,true,true)
        # The runbook: the member list names it alone. Then the flag goes, with etcd stopped.
        : >"$forced"
        qr_stop_etcd stop
        did+=(stop)
        qr_conf_remove_flag
        did+=(removeFlag)
        ;;
      true,true,true,false)
        qr_wait_alone "$wait" || {
          echo "etcd runs with ETCD_FORCE_NEW_CLUSTER=true and did not answer as a cluster of one within ${wait}s" >&2
          exit 4
        }
        ;;
      true,true,false,*)
        # An etcd that started before the flag was set: it must start again with it.
        qr_stop_etcd stop
        did+=(stop)
        ;;
      false,false,*)
        if [[ -e $forced ]]; then
          qr_start_etcd
          did+=(start)
          qr_wait_alone "$wait" || {
            echo "etcd started without ETCD_FORCE_NEW_CLUSTER and did not answer as a cluster of one within ${wait}s" >&2
            exit 4
          }
        else
          qr_conf_set_flag
          did+=(setFlag)
        fi
        ;;
      false,true,true,*)
        # The flag was removed and etcd still runs with it: the restart without it.
        qr_stop_etcd stop
        did+=(stop)
        ;;
      false,true,false,false)
        if [[ -e $forced ]]; then
          qr_wait_alone "$wait" || {
            echo "etcd started without ETCD_FORCE_NEW_CLUSTER and did not answer as a cluster of one within ${wait}s" >&2
            exit 4
          }
        else
          # Started again since the backup, not yet forced: stopped, then forced.
          qr_stop_etcd stop
          did+=(stop)
        fi
        ;;
    esac
  done
  echo "etcd did not settle as a cluster of one after 12 actions (${did[*]})" >&2
  exit 1
}

case "$mode" in
  backup) [[ $# -eq 2 ]] || bad_argument "backup takes RUN_ID" ;;
  force)
    [[ $# -eq 7 ]] || bad_argument "force takes RUN_ID BYTES SHA256 MANIFEST MIN_REVISION WAIT_SECONDS"
    qr_check_backup_args "$3" "$4" "$5"
    [[ $5 != empty ]] || bad_argument "an empty data directory has no member to force a cluster from"
    [[ $6 =~ ^[0-9]{1,15}$ ]] || bad_argument "bad minimum revision: $6"
    [[ $7 =~ ^[1-9][0-9]{0,3}$ ]] || bad_argument "bad wait seconds: $7"
    ;;
  *) bad_argument "unknown mode: $mode" ;;
esac
[[ -f $ETCD_HOST_CONF ]] || {
  echo "refusing: no $ETCD_HOST_CONF on this host; nothing was changed" >&2
  exit 3
}

case "$mode" in
  backup) backup ;;
  force)
    qr_confirm "$run_id" force "$3" "$4" "$5"
    force "$7"
    qr_verify_alone "$6"
    printf '{"memberId":"%s","clusterId":"%s","name":"%s","peerUrl":"%s","revision":%s,"raftIndex":%s,"did":[%s],"markedBefore":%s,"peerUrlUpdated":%s}\n' \
      "$ETCD_HOST_MEMBER" "$ETCD_HOST_CLUSTER" "$QR_NAME" "$QR_PEER_URL" "$ETCD_HOST_REVISION" "$ETCD_HOST_RAFT_INDEX" \
      "$(if ((${#did[@]} > 0)); then printf '"%s",' "${did[@]}" | sed 's/,$//'; fi)" "$QR_MARKED_BEFORE" "$QR_PEER_FIXED"
    ;;
esac
