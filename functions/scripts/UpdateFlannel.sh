#!/usr/bin/env bash
# UpdateFlannel: on a host running flanneld, after WriteHostFile changed /etc/sysconfig/flanneld
# (leaving the restart-pending marker), restart flanneld and check it is active again.
# Usage: UpdateFlannel.sh
# Exit codes (lib/exitCodes.sh): 0 done, prints {"restarted":bool}; 1 failed (flanneld is not active
# after its restart, among others).
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"

marker=/etc/sysconfig/flanneld.restart-pending
restarted=false
if [ -e "$marker" ]; then
  systemctl restart flanneld.service >&2
  restarted=true
fi
systemctl is-active --quiet flanneld.service || { echo "flanneld is not active" >&2; exit 1; }
rm -f "$marker"
printf '{"restarted":%s}\n' "$restarted"
