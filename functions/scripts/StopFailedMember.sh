#!/usr/bin/env bash
# StopFailedMember: on the failed host, stop etcd the way the runbook does (move the static pod
# manifests to pods-stopped) and, where etcd runs as a systemd unit, stop and disable it; then wait
# until nothing listens on 2379/2380 any more. Refused, before anything is stopped, on a host whose etcd
# answers (at any client URL etcd.conf or the static pod names) as a member of a cluster that is still
# running: the failed member, removed, does not (lib/etcdHost.sh).
# Usage: StopFailedMember.sh
# Exit codes (lib/exitCodes.sh): 0 done, prints {"movedManifests":N,"stoppedUnit":bool}; 1 failed
# (something still listens on 2379/2380 after 30 s, among others); 3 refused: this host's etcd is a
# member of a running cluster, nothing was stopped.
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/etcdHost.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/etcdHost.sh"

refuse_if_running_cluster_member

etcd_host_stop_pods all
moved=$ETCD_HOST_MOVED

unit=0
if systemctl is-active --quiet etcd 2>/dev/null || systemctl is-enabled --quiet etcd 2>/dev/null; then
  systemctl disable etcd --now >&2
  unit=1
fi

listening() { ss -Hltn '( sport = :2379 or sport = :2380 )' | grep -q .; }
for _ in $(seq 1 120); do
  listening || break
  sleep 0.25
done
if listening; then
  echo "etcd still listens on 2379/2380 after 30 s" >&2
  exit 1
fi
printf '{"movedManifests":%d,"stoppedUnit":%s}\n' "$moved" "$([ "$unit" -eq 1 ] && echo true || echo false)"
