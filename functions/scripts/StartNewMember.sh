#!/usr/bin/env bash
# StartNewMember: on the new host, make sure no etcd pod runs (its manifest alone moved to pods-stopped), empty /etc/etcd and /var/lib/etcd
# (uploading the data directory first when it holds anything), unpack the bundle into /etc/etcd,
# `systemctl enable etcd` and `systemctl restart --no-block etcd` (an etcd.service already active from
# an earlier life would survive `enable --now` and keep the ports; and a new member catching up on a
# large cluster can take longer than the unit's start timeout, after which systemd restarts it and it
# goes on from its own data: the workflow waits on the member's progress, not on systemctl); then wait
# until etcd listens for clients; with SELF_URL and what follows, then waits on this host until the member
# has started (lib/awaitMember.sh: named in the member list and, as a voter, healthy: caught up), so that
# the step sends no command per poll.
# A host whose etcd already answers as NEW_MEMBER_ID of CLUSTER_ID is left as it is, and so is one
# where an earlier attempt unpacked NEW_MEMBER_ID's bundle and enabled etcd (its data is that member
# catching up: never emptied). A host whose etcd answers as any other member of CLUSTER_ID, or as a
# member of another running etcd cluster, or runs an etcd that cannot be asked (other than the unit an
# earlier attempt started), is refused before anything is stopped or emptied (lib/etcdHost.sh, asked at
# every client URL etcd.conf and the static pod name).
# Usage: StartNewMember.sh NEW_ETCD_HOSTNAME CLUSTER_ID NEW_MEMBER_ID WAIT_SECONDS
#          [SELF_URL MEMBER_URLS WATCH_URLS learner|voter BUDGET_SECONDS] (lib/awaitMember.sh), with BUNDLE_URL=<url>
# and BACKUP_UPLOAD_URL=<url> on stdin (lib/secrets.sh). The downloaded bundle is removed whatever the
# outcome; its keys live on only in /etc/etcd.
# Exit codes (lib/exitCodes.sh): 0 done, prints {"started":"now"|"already","backedUpData":bool} (with the
# wait's fields after them, lib/awaitMember.sh, when it waited); 1 failed;
# 2 bad arguments; 3 refused: this host runs another member of CLUSTER_ID, a member of another running
# cluster, or an etcd that cannot be asked; nothing changed; 4 not ready
# yet: etcd did not start listening within WAIT_SECONDS (the step reads it as NewMemberFailedError).
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/args.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/args.sh"
# shellcheck source=functions/scripts/lib/secrets.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/secrets.sh"
# shellcheck source=functions/scripts/lib/etcdHost.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/etcdHost.sh"
# shellcheck source=functions/scripts/lib/awaitMember.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/awaitMember.sh"

CN=${1:-}
cluster_id=${2:-}
member_id=${3:-}
wait_seconds=${4:-}
self_url=${5:-}
(($# == 4 || $# == 9)) || { echo "usage: StartNewMember.sh NEW_ETCD_HOSTNAME CLUSTER_ID NEW_MEMBER_ID WAIT_SECONDS [SELF_URL MEMBER_URLS WATCH_URLS learner|voter BUDGET_SECONDS]" >&2; exit 2; }
BUNDLE_URL='' BACKUP_UPLOAD_URL=''
secrets_read BUNDLE_URL BACKUP_UPLOAD_URL
check_hostname "$CN"
[[ $cluster_id =~ ^[0-9a-f]{16}$ ]] || { echo "bad cluster id" >&2; exit 2; }
[[ $member_id =~ ^[0-9a-f]{16}$ ]] || { echo "bad member id" >&2; exit 2; }
check_url "$BUNDLE_URL" "no bundle URL on stdin"
check_url "$BACKUP_UPLOAD_URL" "no backup upload URL on stdin"
[[ $wait_seconds =~ ^[0-9]{1,4}$ ]] || { echo "bad wait" >&2; exit 2; }
if [[ -n $self_url ]]; then
  [[ $self_url =~ $AWAIT_URL_RE ]] || { echo "bad client URL" >&2; exit 2; }
  await_url_list "$6" || { echo "bad member URLs" >&2; exit 2; }
  [[ $7 == - ]] || await_url_list "$7" || { echo "bad watch URLs" >&2; exit 2; }
  [[ $8 == learner || $8 == voter ]] || { echo "bad learner flag" >&2; exit 2; }
  [[ $9 =~ ^[0-9]{1,5}$ ]] || { echo "bad budget" >&2; exit 2; }
fi

listening() { ss -Hltn '( sport = :2379 )' | grep -q .; }
# Which member's bundle this step unpacked here, written with it.
readonly MARKER=/etc/etcd/etcd-replace-member-id
unpacked_by_earlier_attempt() {
  [[ -f $MARKER && $(<"$MARKER") == "$member_id" ]] && systemctl is-enabled --quiet etcd
}

backed_up=false
# The etcd.service an earlier attempt started as this member may run without answering yet (it catches
# up): that process is this run's own. Any other etcd here must answer, and not as a member of another
# running cluster or of this one other than NEW_MEMBER_ID (lib/etcdHost.sh).
ours=''
if unpacked_by_earlier_attempt; then ours=unit; fi
refuse_if_started_member "$cluster_id" "$member_id" "$ours"
if ((ETCD_HOST_ANSWERS)) && [[ $ETCD_HOST_CLUSTER == "$cluster_id" ]]; then
  started=already
elif unpacked_by_earlier_attempt; then
  systemctl is-active --quiet etcd || systemctl start --no-block etcd >&2
  started=already
else
  # The etcd static pod alone: on a former master added back on its own host (a restore of quorum) the
  # master's other pods keep running, as "Restoring etcd quorum" leaves them.
  etcd_host_stop_pods etcd
  if systemctl is-active --quiet etcd; then
    systemctl stop etcd >&2
  fi
  if ! etcd_host_data_empty; then
    workdir=$(mktemp -d /var/tmp/etcd-newhost-backup.XXXXXX)
    tar -czf "$workdir/data.tgz" -C /var/lib/etcd .
    curl_url "$BACKUP_UPLOAD_URL" -fsS --connect-timeout 5 --retry 2 --max-time 1800 --upload-file "$workdir/data.tgz" >&2
    rm -rf "$workdir"
    backed_up=true
  fi
  # /etc/etcd emptied but for the CA and the certificates it issued, where this host is the CA host: a
  # former member added back on its own host (a restore of quorum) may be the one that holds them.
  find /etc/etcd -mindepth 1 -maxdepth 1 ! -name ca ! -name generated_certs -exec rm -rf {} +
  rm -rf /var/lib/etcd/*
  umask 077
  bundle_dir=$(mktemp -d /var/tmp/etcd-bundle.XXXXXX)
  trap 'rm -rf "$bundle_dir"' EXIT
  curl_url "$BUNDLE_URL" -fsS --connect-timeout 5 --retry 2 --max-time 1800 -o "$bundle_dir/${CN}.tgz"
  tar -xzf "$bundle_dir/${CN}.tgz" -C /etc/etcd/
  rm -rf "$bundle_dir"
  chmod 600 /etc/etcd/*.key
  printf '%s\n' "$member_id" >"$MARKER"
  systemctl enable etcd >&2
  systemctl restart --no-block etcd >&2
  started=now
fi

deadline=$((SECONDS + wait_seconds))
until listening; do
  if (( SECONDS >= deadline )); then
    echo "etcd did not start listening on 2379 within ${wait_seconds}s" >&2
    systemctl status etcd >&2 || true
    exit 4
  fi
  sleep 0.2
done
if [[ -z $self_url ]]; then
  printf '{"started":"%s","backedUpData":%s}\n' "$started" "$backed_up"
  exit 0
fi
# shellcheck disable=SC2034 # read by await_member
AWAIT_EXTRA_JSON=$(printf '"started":"%s","backedUpData":%s,' "$started" "$backed_up")
budget=$(($9 > SECONDS ? $9 - SECONDS : 0))
await_member "$CN" "$member_id" "$self_url" "$6" "$7" "$8" "$wait_seconds" "$budget"
