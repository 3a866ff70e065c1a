#!/usr/bin/env bash
# Shared by the systemctl and master-restart stand-ins: hands a request to the host's supervisor
# (sandbox/standins/init.mjs) through /run/systemd-standin and waits for its answer.
set -o errexit -o nounset -o pipefail

readonly CONTROL_DIR=/run/systemd-standin

# control_request ACTION UNIT [TIMEOUT_SECONDS [NO_BLOCK]]: prints the supervisor's message on failure
# and returns its exit code (0 on success). NO_BLOCK=1 (systemctl --no-block) hands the request over and
# returns at once, as systemd returns once the job is queued; the supervisor's answer is not read.
control_request() {
  local action=$1 unit=$2 timeout=${3:-120} no_block=${4:-0}
  local nonce ack deadline
  if [ ! -d "${CONTROL_DIR}/requests" ]; then
    echo "System has not been booted with systemd as init system (PID 1). Can't operate." >&2
    return 1
  fi
  nonce="$(date +%s%N)-$$-${RANDOM}"
  if [ "$no_block" = 1 ]; then
    printf '%s %s noack\n' "$action" "$unit" >"${CONTROL_DIR}/requests/${nonce}.tmp"
  else
    printf '%s %s\n' "$action" "$unit" >"${CONTROL_DIR}/requests/${nonce}.tmp"
  fi
  mv "${CONTROL_DIR}/requests/${nonce}.tmp" "${CONTROL_DIR}/requests/${nonce}.req"
  if [ "$no_block" = 1 ]; then
    return 0
  fi
  ack="${CONTROL_DIR}/acks/${nonce}"
  deadline=$((SECONDS + timeout))
  while [ ! -f "$ack" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "Timed out waiting for ${action} of ${unit}" >&2
      return 1
    fi
    sleep 0.05
  done
  local result code message
  result=$(sed -n 's/^result=//p' "$ack")
  code=$(sed -n 's/^code=//p' "$ack")
  message=$(sed -n 's/^message=//p' "$ack")
  rm -f "$ack"
  if [ "$result" != success ]; then
    if [ -n "$message" ]; then echo "$message" >&2; fi
    return "${code:-1}"
  fi
  return 0
}

# unit_state UNIT: prints the ActiveState the supervisor recorded (inactive if none).
unit_state() {
  local file="${CONTROL_DIR}/state/$1"
  if [ -f "$file" ]; then
    sed -n 's/^ActiveState=//p' "$file"
  else
    echo inactive
  fi
}
