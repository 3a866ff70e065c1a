#!/usr/bin/env bash
# UpdateFlannel: on a host running flanneld, FLANNEL_ETCD_ENDPOINTS in /etc/sysconfig/flanneld names the
# live members, and flanneld restarts where the file changed (the restart-pending marker) and is active.
# With `live HOSTNAMES`, the host reads, edits and writes the file itself in this one command
# (lib/hostFile.sh host_file_edit, lib/etcdEndpoints.sh: the workflow's own rule and edit, byte for byte);
# a file in a form that edit declines is left untouched, nothing restarted, for the workflow to read and
# edit itself. With EXPECTED_SHA256 and CONTENT_BASE64 (the workflow's edit), first writes the file as
# WriteHostFile.sh does (lib/hostFile.sh, with the marker). Without arguments, only the restart and check.
# Usage: UpdateFlannel.sh live HOSTNAME[,HOSTNAME...] | UpdateFlannel.sh [EXPECTED_SHA256 CONTENT_BASE64]
# Exit codes (lib/exitCodes.sh): 0 done, prints {"restarted":bool[,"written":{"changed":bool…}]}, or with
# `live` {"absent":true} (no flanneld configuration here) or {"unedited":"WHY"}; 1 failed (flanneld is not
# active after its restart, among others); 2 bad arguments; 3 refused: the file changed since it was read,
# nothing written or restarted.
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/args.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/args.sh"
# shellcheck source=functions/scripts/lib/hostFile.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/hostFile.sh"
# shellcheck source=functions/scripts/lib/etcdEndpoints.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/etcdEndpoints.sh"

(($# == 0 || $# == 2)) || { echo "usage: UpdateFlannel.sh live HOSTNAMES | UpdateFlannel.sh [EXPECTED_SHA256 CONTENT_BASE64]" >&2; exit 2; }
marker=/etc/sysconfig/flanneld.restart-pending
written=''
# A command substitution's exit is not the script's: pass host_file_edit's and host_file_write's 2 or 3 on.
if (($# == 2)) && [ "$1" = live ]; then
  IFS=, read -r -a live_hosts <<<"$2"
  [[ $2 =~ ^[^,]+(,[^,]+)*$ ]] || bad_argument "bad hostname list"
  for host in "${live_hosts[@]}"; do check_hostname "$host"; done
  written=$(host_file_edit /etc/sysconfig/flanneld flanneld_endpoints_edit "$2" restart) || exit $?
  case "$written" in
    '{"absent":true}' | '{"unedited":'*)
      printf '%s\n' "$written"
      exit 0
      ;;
  esac
elif (($# == 2)); then
  written=$(host_file_write /etc/sysconfig/flanneld "$1" "$2" restart) || exit $?
fi
restarted=false
if [ -e "$marker" ]; then
  systemctl restart flanneld.service >&2
  restarted=true
fi
systemctl is-active --quiet flanneld.service || { echo "flanneld is not active" >&2; exit 1; }
rm -f "$marker"
printf '{"restarted":%s%s}\n' "$restarted" "${written:+,\"written\":$written}"
