#!/usr/bin/env bash
# UpdateFlannel: on a host running flanneld, after WriteHostFile changed /etc/sysconfig/flanneld
# (leaving the restart-pending marker), restart flanneld and check it is active again. With
# EXPECTED_SHA256 and CONTENT_BASE64, first writes /etc/sysconfig/flanneld as WriteHostFile.sh does
# (lib/hostFile.sh, with the marker): the write and the restart in one host command.
# Usage: UpdateFlannel.sh [EXPECTED_SHA256 CONTENT_BASE64]
# Exit codes (lib/exitCodes.sh): 0 done, prints {"restarted":bool[,"written":{"changed":bool…}]}; 1 failed
# (flanneld is not active after its restart, among others); 2 bad arguments; 3 refused: the file changed
# since it was read, nothing written or restarted.
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/hostFile.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/hostFile.sh"

(($# == 0 || $# == 2)) || { echo "usage: UpdateFlannel.sh [EXPECTED_SHA256 CONTENT_BASE64]" >&2; exit 2; }
marker=/etc/sysconfig/flanneld.restart-pending
written=''
# A command substitution's exit is not the script's: pass host_file_write's 2 or 3 on.
if (($# == 2)); then written=$(host_file_write /etc/sysconfig/flanneld "$1" "$2" restart) || exit $?; fi
restarted=false
if [ -e "$marker" ]; then
  systemctl restart flanneld.service >&2
  restarted=true
fi
systemctl is-active --quiet flanneld.service || { echo "flanneld is not active" >&2; exit 1; }
rm -f "$marker"
printf '{"restarted":%s%s}\n' "$restarted" "${written:+,\"written\":$written}"
