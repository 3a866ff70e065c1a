#!/usr/bin/env bash
# PrepareInventory: on the installer host, keep the inventory as it is before the scaleup playbook's
# edits, once per run, beside it: /etc/ansible/hosts.before-RUN_ID (RestoreInventory puts it back when
# the scaleup does not add a member). The edits themselves are made through WriteHostFile.sh.
# Usage: PrepareInventory.sh RUN_ID
# Prints {"copy":"/etc/ansible/hosts.before-RUN_ID","kept":bool} (kept: made now; false: made earlier).
# Exit codes (lib/exitCodes.sh): 0 done; 1 failed; 2 bad arguments; 3 refused: no inventory.
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/args.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/args.sh"

readonly INVENTORY=/etc/ansible/hosts
run_id=${1:-}
check_run_id "$run_id"
copy="$INVENTORY.before-$run_id"
[ -f "$INVENTORY" ] || { echo "$INVENTORY does not exist on this host" >&2; exit 3; }
kept=false
if [ ! -e "$copy" ]; then
  tmp=$(mktemp "$copy.XXXXXX")
  trap 'rm -f "$tmp"' EXIT
  cp -p "$INVENTORY" "$tmp"
  sync "$tmp"
  # A copy made by an earlier try wins (ln fails when it exists): it holds the inventory before any edit.
  if ln "$tmp" "$copy" 2>/dev/null; then kept=true; fi
fi
printf '{"copy":"%s","kept":%s}\n' "$copy" "$kept"
