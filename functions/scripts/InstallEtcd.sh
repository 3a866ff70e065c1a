#!/usr/bin/env bash
# InstallEtcd: prepare the new host from whatever state it is in, then install the cluster's etcd
# (runbook: new host step 3). Nothing here changes the cluster's membership.
#
#   prepare CLUSTER_ID [VERSION [ports]]  (UPLOAD_URL=<url> on stdin, lib/secrets.sh)
#       With `ports`, first opens 2379/2380 in the host's firewall as OpenEtcdPorts.sh does
#       (lib/firewall.sh) and adds "firewall":{"changed":bool} to what it prints: one host command where
#       there were two.
#       Looks at the etcd already on the host (lib/etcdHost.sh, refuse_if_started_member: asked at every
#       client URL etcd.conf and the static pod name, whatever the port) and refuses, changing nothing,
#       when it answers as a member of CLUSTER_ID, or as a member of another etcd cluster that is still
#       running (a leader, and more than one member), or when an etcd process runs that cannot be
#       asked (named by pid and command line). Otherwise an etcd from an earlier life is stopped:
#       its static pod manifest moved to /etc/origin/node/pods-stopped, etcd.service disabled and
#       stopped. Refuses when something still listens on 2379/2380, or an etcd process still runs, after
#       that. Then backs
#       /var/lib/etcd up to UPLOAD_URL when it holds anything (lib/etcdData.sh). Without UPLOAD_URL
#       (the caller sends one only once it knows there is data: on SSM a URL costs a one-time key, one more
#       command), data found is left as it is and reported as {"empty":false,"backedUp":false}: the caller
#       runs prepare again with the URL, which backs it up.
#       Prints {"found":[…],"stopped":bool,"data":<etcd_data_backup's JSON>}. With VERSION, when
#       /var/lib/etcd held nothing (no backup to check, nothing to empty), goes on with `install VERSION`
#       in the same command and adds "installed":<install's JSON>: one host command where there were two.
#   wipe MANIFEST
#       Empties /var/lib/etcd once its backup is checked (lib/etcdData.sh).
#   install VERSION
#       The etcd package pinned to VERSION: `yum install -y etcd-VERSION`, or `yum downgrade -y
#       etcd-VERSION` where a newer etcd is installed (yum install never downgrades). A bare
#       `yum install etcd` would take the newest etcd any repository offers: on RHEL 7 that is 3.3.11
#       from Extras, which OpenShift 3.x does not support. Prints
#       {"version":"<etcd --version>","package":"<rpm -q etcd>","action":"none|install|downgrade"}.
#       Refuses when the package cannot be installed at that version (yum's message on stderr): no
#       other version is installed in its place.
# Usage: InstallEtcd.sh prepare CLUSTER_ID [VERSION [ports]] | wipe MANIFEST | install VERSION
# Exit codes (lib/exitCodes.sh):
#   0  done
#   1  failed
#   2  bad arguments
#   3  refused: prepare, a member of this cluster or of another running one, an etcd that cannot be
#      asked, or a port still taken (nothing changed); wipe, the directory changed since its backup; install, etcd-VERSION cannot
#      be installed
#   5  prepare: the earlier data cannot leave the host; the data directory is left as it is
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/args.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/args.sh"
# shellcheck source=functions/scripts/lib/secrets.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/secrets.sh"
# shellcheck source=functions/scripts/lib/etcdHost.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/etcdHost.sh"
# shellcheck source=functions/scripts/lib/etcdData.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/etcdData.sh"
# shellcheck source=functions/scripts/lib/firewall.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/firewall.sh"

refuse() {
  echo "refusing: $1" >&2
  exit 3
}

# An answer's member count, "unlisted" when its member list did not answer.
member_count() {
  if ((ETCD_HOST_MEMBERS >= 0)); then printf '%d' "$ETCD_HOST_MEMBERS"; else printf unlisted; fi
}

prepare() {
  local cluster=$1 upload_url=$2 version=$3 ports=$4 stopped=false found=() i data pids pid installed='' firewall=''
  [[ $cluster =~ ^[0-9a-f]{16}$ ]] || { echo "bad cluster id" >&2; exit 2; }
  [[ -z $version || $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "bad version" >&2; exit 2; }
  [[ -z $ports || ($ports == ports && -n $version) ]] || { echo "bad fourth argument: $ports" >&2; exit 2; }
  if [[ -n $ports ]]; then
    open_etcd_ports
    firewall="{\"changed\":$FIREWALL_CHANGED}"
  fi
  # Nothing is stopped or emptied on a host whose etcd serves this cluster, serves another running one,
  # or cannot be asked (lib/etcdHost.sh): exit 3 from there.
  refuse_if_started_member "$cluster"
  if ((ETCD_HOST_ANSWERS)); then
    found+=("etcd ${ETCD_HOST_VERSION} answers as member ${ETCD_HOST_MEMBER}${ETCD_HOST_NAME:+ (${ETCD_HOST_NAME})} of cluster ${ETCD_HOST_CLUSTER} ($(member_count) members, leader ${ETCD_HOST_LEADER})")
  fi
  if [[ -f $ETCD_HOST_POD ]]; then
    found+=("static pod $ETCD_HOST_POD")
    mkdir -p /etc/origin/node/pods-stopped
    mv -f "$ETCD_HOST_POD" /etc/origin/node/pods-stopped/
    stopped=true
  fi
  if systemctl is-active --quiet etcd || systemctl is-enabled --quiet etcd; then
    found+=("etcd.service $(systemctl is-active etcd || true), $(systemctl is-enabled etcd || true)")
  fi
  [[ $(etcd_host_stop_unit) == false ]] || stopped=true
  if etcd_host_listening; then
    refuse "something still listens on 2379/2380 that is neither etcd.service nor the etcd static pod: $(ss -Hltnp '( sport = :2379 or sport = :2380 )' | tr '\n' ' ')"
  fi
  pids=$(etcd_host_etcd_pids)
  if [[ -n $pids ]]; then
    refuse "etcd still runs here after etcd.service and the static pod were stopped: $(for pid in $pids; do etcd_host_describe_pid "$pid"; printf ' '; done)"
  fi
  etcd_host_data_empty || found+=("data in /var/lib/etcd")
  if [[ -z $upload_url ]]; then
    # No URL: only an empty directory goes on (nothing to back up); data waits for a prepare with one.
    if etcd_host_data_empty; then data='{"empty":true}'; else data='{"empty":false,"backedUp":false}'; fi
  else
    # A command substitution's exit is not the script's: pass etcd_data_backup's 2, 3 or 5 on.
    data=$(etcd_data_backup "$upload_url") || exit $?
  fi
  # Nothing to check or empty: install now (a command substitution's exit passed on, as above).
  if [[ -n $version && $data == '{"empty":true}' ]]; then installed=$(install "$version") || exit $?; fi
  printf '{"found":['
  for i in "${!found[@]}"; do
    ((i == 0)) || printf ','
    printf '"%s"' "${found[i]//\"/\'}"
  done
  printf '],"stopped":%s,"data":%s%s%s}\n' "$stopped" "$data" "${installed:+,\"installed\":$installed}" "${firewall:+,\"firewall\":$firewall}"
}

install() {
  local version=$1 installed action=none actual package
  [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "bad version" >&2; exit 2; }
  installed=$(etcd_host_installed_version)
  if [[ $installed != "$version" ]]; then
    action=install
    if [[ -n $installed && $(printf '%s\n%s\n' "$installed" "$version" | sort -V | tail -n 1) == "$installed" ]]; then
      action=downgrade
    fi
    yum "$action" -y "etcd-${version}" >&2 || refuse "etcd-${version} cannot be installed, and no other version is installed in its place: yum ${action} etcd-${version} failed"
  fi
  package=$(rpm -q etcd) || refuse "etcd-${version} cannot be installed: etcd is not installed after yum ${action}"
  actual=$(etcd --version | sed -n 's/^etcd Version: *//p')
  [[ $actual =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || refuse "etcd-${version} cannot be installed: cannot read the installed etcd's version: $actual"
  printf '{"version":"%s","package":"%s","action":"%s"}\n' "$actual" "$package" "$action"
}

mode=${1:-}
UPLOAD_URL=''
secrets_read UPLOAD_URL
case "$mode" in
  prepare) prepare "${2:-}" "$UPLOAD_URL" "${3:-}" "${4:-}" ;;
  wipe) etcd_data_wipe "${2:-}" ;;
  install) install "${2:-}" ;;
  *)
    echo "unknown mode: $mode" >&2
    exit 2
    ;;
esac
