#!/usr/bin/env bash
# CompensateNewMember: on the new host whose member could not join, stop and disable etcd so it
# cannot rejoin with a removed member ID. Its data directory is left for StartNewMember to back up.
# Usage: CompensateNewMember.sh
set -o errexit -o nounset -o pipefail

stopped=false
if systemctl is-active --quiet etcd || systemctl is-enabled --quiet etcd; then
  systemctl disable etcd --now >&2
  stopped=true
fi
for _ in $(seq 1 120); do
  ss -Hltn '( sport = :2379 or sport = :2380 )' | grep -q . || break
  sleep 0.25
done
printf '{"stopped":%s}\n' "$stopped"
