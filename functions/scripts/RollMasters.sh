#!/usr/bin/env bash
# RollMasters: on one master, after WriteHostFile changed master-config.yaml (leaving the
# restart-pending marker), `master-restart api` and `master-restart controllers`, then wait until the
# API reports healthy. Without the marker the master already runs on its current config: only check.
# With EXPECTED_SHA256 and CONTENT_BASE64, first writes master-config.yaml as WriteHostFile.sh does
# (lib/hostFile.sh, with the marker): the write and the restart in one host command.
# Usage: RollMasters.sh WAIT_SECONDS [EXPECTED_SHA256 CONTENT_BASE64]
# Exit codes (lib/exitCodes.sh): 0 done, prints {"restarted":bool,"healthy":true[,"written":{"changed":bool…}]};
# 1 failed; 2 bad arguments; 3 refused: master-config.yaml changed since it was read, nothing written or
# restarted; 4 not ready yet: the API is not healthy WAIT_SECONDS after the restart (the step reads it
# as MasterUnhealthyError).
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/hostFile.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/hostFile.sh"

wait_seconds=${1:-}
[[ $wait_seconds =~ ^[0-9]{1,4}$ ]] || { echo "bad wait" >&2; exit 2; }
(($# == 1 || $# == 3)) || { echo "usage: RollMasters.sh WAIT_SECONDS [EXPECTED_SHA256 CONTENT_BASE64]" >&2; exit 2; }
marker=/etc/origin/master/master-config.yaml.restart-pending
written=''
# A command substitution's exit is not the script's: pass host_file_write's 2 or 3 on.
if (($# == 3)); then written=$(host_file_write /etc/origin/master/master-config.yaml "$2" "$3" restart) || exit $?; fi

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
printf '{"restarted":%s,"healthy":true%s}\n' "$restarted" "${written:+,\"written\":$written}"
