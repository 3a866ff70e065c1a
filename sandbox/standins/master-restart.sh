#!/usr/bin/env bash
# master-restart stand-in for sandbox masters (/usr/local/sbin/master-restart): `master-restart api`
# and `master-restart controllers` restart the master API / controllers stand-in, which re-reads
# /etc/origin/master/master-config.yaml. Exits 0 once the new process has started.
set -o errexit -o nounset -o pipefail

here=$(dirname "$(readlink -f "$0")")
# shellcheck source=sandbox/standins/control.sh
source "${here}/control.sh"

if [ "$#" -ne 1 ]; then
  echo "usage: master-restart api|controllers" >&2
  exit 1
fi
case "$1" in
  api) control_request restart master-api ;;
  controllers) control_request restart master-controllers ;;
  *)
    echo "master-restart: unknown component '$1' (api or controllers)" >&2
    exit 1
    ;;
esac
