#!/usr/bin/env bash
# InstallEtcd: prepare the new host from whatever state it is in, then install the cluster's etcd
# (runbook: new host step 3). Nothing here changes the cluster's membership.
#
#   prepare CLUSTER_ID            (UPLOAD_URL=<url> on stdin, lib/secrets.sh)
#       Looks at the etcd already on the host (lib/etcdHost.sh) and refuses, changing nothing, when it
#       answers as a member of CLUSTER_ID, or as a member of another etcd cluster that is still
#       running (more than one member and a leader). Otherwise an etcd from an earlier life is stopped:
#       its static pod manifest moved to /etc/origin/node/pods-stopped, etcd.service disabled and
#       stopped. Refuses when something still listens on 2379/2380 after that. Then backs
#       /var/lib/etcd up to UPLOAD_URL when it holds anything (lib/etcdData.sh).
#       Prints {"found":[…],"stopped":bool,"data":<etcd_data_backup's JSON>}.
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
# Usage: InstallEtcd.sh prepare CLUSTER_ID | wipe MANIFEST | install VERSION
# Exit codes (lib/exitCodes.sh):
#   0  done
#   1  failed
#   2  bad arguments
#   3  refused: prepare, a member of this cluster or of another running one, or a port still taken
#      (nothing changed); wipe, the directory changed since its backup; install, etcd-VERSION cannot
#      be installed
#   5  prepare: the earlier data cannot leave the host; the data directory is left as it is
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/secrets.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/secrets.sh"
# shellcheck source=functions/scripts/lib/etcdHost.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/etcdHost.sh"
# shellcheck source=functions/scripts/lib/etcdData.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/etcdData.sh"

refuse() {
  echo "refusing: $1" >&2
  exit 3
}

prepare() {
  local cluster=$1 upload_url=$2 stopped=false found=() i data
  [[ $cluster =~ ^[0-9a-f]{16}$ ]] || { echo "bad cluster id" >&2; exit 2; }
  if etcd_host_ask; then
    found+=("etcd ${ETCD_HOST_VERSION} answers as member ${ETCD_HOST_MEMBER} of cluster ${ETCD_HOST_CLUSTER} (${ETCD_HOST_MEMBERS} members)")
    if [[ $ETCD_HOST_CLUSTER == "$cluster" ]]; then
      refuse "this host runs member ${ETCD_HOST_MEMBER} of this cluster (${cluster}); it cannot be the replacement"
    fi
    if ((ETCD_HOST_MEMBERS > 1)) && [[ $ETCD_HOST_LEADER != 0000000000000000 ]]; then
      refuse "this host is member ${ETCD_HOST_MEMBER} of another etcd cluster that is still running: cluster ${ETCD_HOST_CLUSTER} with ${ETCD_HOST_MEMBERS} members and leader ${ETCD_HOST_LEADER}"
    fi
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
  etcd_host_data_empty || found+=("data in /var/lib/etcd")
  # A command substitution's exit is not the script's: pass etcd_data_backup's 2, 3 or 5 on.
  data=$(etcd_data_backup "$upload_url") || exit $?
  printf '{"found":['
  for i in "${!found[@]}"; do
    ((i == 0)) || printf ','
    printf '"%s"' "${found[i]//\"/\'}"
  done
  printf '],"stopped":%s,"data":%s}\n' "$stopped" "$data"
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
  prepare) prepare "${2:-}" "$UPLOAD_URL" ;;
  wipe) etcd_data_wipe "${2:-}" ;;
  install) install "${2:-}" ;;
  *)
    echo "unknown mode: $mode" >&2
    exit 2
    ;;
esac
