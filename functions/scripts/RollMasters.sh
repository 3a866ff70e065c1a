#!/usr/bin/env bash
# RollMasters: on one master, after WriteHostFile changed master-config.yaml (leaving the
# restart-pending marker), `master-restart api` and `master-restart controllers`, then wait until the
# API reports healthy. Without the marker the master already runs on its current config: only check.
# Usage: RollMasters.sh WAIT_SECONDS
# Exit codes (lib/exitCodes.sh): 0 done, prints {"restarted":bool,"healthy":true}; 1 failed; 2 bad
# arguments; 4 not ready yet: the API is not healthy WAIT_SECONDS after the restart (the step reads it
# as MasterUnhealthyError).
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"

wait_seconds=${1:-}
[[ $wait_seconds =~ ^[0-9]{1,4}$ ]] || { echo "bad wait" >&2; exit 2; }
marker=/etc/origin/master/master-config.yaml.restart-pending

restarted=false
if [ -e "$marker" ]; then
  master-restart api >&2
  master-restart controllers >&2
  restarted=true
fi
deadline=$((SECONDS + wait_seconds))
until curl -ksf --max-time 2 https://localhost:8443/healthz >/dev/null; do
  if (( SECONDS >= deadline )); then
    echo "the master API is not healthy ${wait_seconds}s after the restart: $(curl -ks --max-time 2 https://localhost:8443/healthz || true)" >&2
    exit 4
  fi
  sleep 0.2
done
rm -f "$marker"
printf '{"restarted":%s,"healthy":true}\n' "$restarted"
