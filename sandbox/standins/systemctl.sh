#!/usr/bin/env bash
# systemctl stand-in for sandbox hosts (/usr/local/sbin/systemctl). Units: etcd, flanneld, sshd, iptables
# (unit files in /etc/systemd/system; enabled = symlink in multi-user.target.wants). Verbs: start,
# stop, restart, enable [--now], disable [--now], is-active, is-enabled, status, show (the properties
# Ansible's systemd module reads), daemon-reload.
# --no-block: start, stop and restart return once the request is handed over, as systemd returns once
# the job is queued.
# The host's supervisor (sandbox/standins/init.mjs) runs the units.
set -o errexit -o nounset -o pipefail

here=$(dirname "$(readlink -f "$0")")
# shellcheck source=sandbox/standins/control.sh
source "${here}/control.sh"

readonly unit_dir=/etc/systemd/system
readonly wants_dir=/etc/systemd/system/multi-user.target.wants

now=0 quiet=0 no_block=0 verb='' units=()
for arg in "$@"; do
  case "$arg" in
    --now) now=1 ;;
    -q | --quiet) quiet=1 ;;
    --no-block) no_block=1 ;;
    --no-pager | -l | --full | --system) ;;
    -*)
      echo "systemctl: unrecognized option '$arg'" >&2
      exit 1
      ;;
    *)
      if [ -z "$verb" ]; then verb=$arg; else units+=("${arg%.service}"); fi
      ;;
  esac
done

if [ -z "$verb" ]; then
  echo "systemctl (sandbox stand-in): give a verb" >&2
  exit 1
fi

installed() { [ -f "${unit_dir}/$1.service" ]; }

case "$verb" in
  daemon-reload) exit 0 ;;
  start | stop | restart | try-restart | reload-or-restart)
    [ "${#units[@]}" -gt 0 ] || {
      echo "Too few arguments." >&2
      exit 1
    }
    [ "$verb" = try-restart ] && verb=restart
    [ "$verb" = reload-or-restart ] && verb=restart
    status=0
    for unit in "${units[@]}"; do
      if ! installed "$unit"; then
        echo "Failed to ${verb} ${unit}.service: Unit ${unit}.service not found." >&2
        status=5
        continue
      fi
      if ! control_request "$verb" "$unit" 120 "$no_block"; then
        echo "Job for ${unit}.service failed because the control process exited with error code. See \"systemctl status ${unit}.service\" and \"journalctl -xe\" for details." >&2
        status=1
      fi
    done
    exit "$status"
    ;;
  enable | disable)
    [ "${#units[@]}" -gt 0 ] || {
      echo "Too few arguments." >&2
      exit 1
    }
    status=0
    mkdir -p "$wants_dir"
    for unit in "${units[@]}"; do
      if ! installed "$unit"; then
        echo "Failed to ${verb} unit: Unit file ${unit}.service does not exist." >&2
        status=1
        continue
      fi
      if [ "$verb" = enable ]; then
        if [ ! -L "${wants_dir}/${unit}.service" ]; then
          ln -s "${unit_dir}/${unit}.service" "${wants_dir}/${unit}.service"
          echo "Created symlink from ${wants_dir}/${unit}.service to ${unit_dir}/${unit}.service." >&2
        fi
        if [ "$now" = 1 ]; then
          control_request start "$unit" || {
            echo "Job for ${unit}.service failed because the control process exited with error code. See \"systemctl status ${unit}.service\" and \"journalctl -xe\" for details." >&2
            status=1
          }
        fi
      else
        if [ -L "${wants_dir}/${unit}.service" ]; then
          rm -f "${wants_dir}/${unit}.service"
          echo "Removed symlink ${wants_dir}/${unit}.service." >&2
        fi
        if [ "$now" = 1 ]; then control_request stop "$unit" || status=1; fi
      fi
    done
    exit "$status"
    ;;
  is-active | is-failed)
    # Like systemd: is-active exits 3 when no unit is active, is-failed exits 1 when none has failed.
    want=${verb#is-}
    status=1
    [ "$want" = failed ] || status=3
    for unit in "${units[@]}"; do
      state=$(unit_state "$unit")
      [ "$quiet" = 1 ] || echo "$state"
      if [ "$state" = "$want" ]; then status=0; fi
    done
    exit "$status"
    ;;
  is-enabled)
    status=1
    for unit in "${units[@]}"; do
      if ! installed "$unit"; then
        echo "Failed to get unit file state for ${unit}.service: No such file or directory" >&2
        continue
      fi
      if [ -L "${wants_dir}/${unit}.service" ]; then
        [ "$quiet" = 1 ] || echo enabled
        status=0
      else
        [ "$quiet" = 1 ] || echo disabled
      fi
    done
    exit "$status"
    ;;
  show)
    # The properties Ansible's systemd module reads; an unknown unit is LoadState=not-found, exit 0.
    for unit in "${units[@]}"; do
      load=not-found state=inactive file_state='' pid=0
      if installed "$unit"; then
        load=loaded
        state=$(unit_state "$unit")
        file_state=disabled
        if [ -L "${wants_dir}/${unit}.service" ]; then file_state=enabled; fi
        pid=$(sed -n 's/^MainPID=//p' "${CONTROL_DIR}/state/${unit}" 2>/dev/null || true)
      fi
      case "$state" in active) sub=running ;; activating) sub=start ;; deactivating) sub=stop ;; failed) sub=failed ;; *) sub=dead ;; esac
      printf 'Id=%s.service\nNames=%s.service\nLoadState=%s\nActiveState=%s\nSubState=%s\nUnitFileState=%s\nMainPID=%s\n' \
        "$unit" "$unit" "$load" "$state" "$sub" "$file_state" "${pid:-0}"
    done
    exit 0
    ;;
  status)
    status=0
    for unit in "${units[@]}"; do
      if ! installed "$unit"; then
        echo "Unit ${unit}.service could not be found." >&2
        status=4
        continue
      fi
      state=$(unit_state "$unit")
      enabled=disabled
      if [ -L "${wants_dir}/${unit}.service" ]; then enabled=enabled; fi
      pid=$(sed -n 's/^MainPID=//p' "${CONTROL_DIR}/state/${unit}" 2>/dev/null || true)
      echo "* ${unit}.service"
      echo "   Loaded: loaded (${unit_dir}/${unit}.service; ${enabled}; vendor preset: disabled)"
      echo "   Active: ${state}"
      if [ -n "${pid:-}" ] && [ "$pid" != 0 ]; then echo " Main PID: ${pid}"; fi
      if [ "$state" != active ]; then status=3; fi
    done
    exit "$status"
    ;;
  *)
    echo "systemctl (sandbox stand-in): unsupported verb: $verb" >&2
    exit 1
    ;;
esac
