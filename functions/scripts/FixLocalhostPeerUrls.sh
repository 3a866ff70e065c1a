#!/usr/bin/env bash
# FixLocalhostPeerUrls: on a member whose peer URL still says localhost, print the IPv4 address etcd
# listens on for peers (the runbook's `ss -l4n | grep 2380`), for `member update`.
# Usage: FixLocalhostPeerUrls.sh
# Exit codes (lib/exitCodes.sh): 0 done, prints {"listenIp":"…"}; 1 failed (etcd listens for peers on
# no routable IPv4 address).
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/etcdHost.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/etcdHost.sh"

address=$(etcd_host_peer_listen_ip) || { echo "etcd does not listen for peers on a routable IPv4 address" >&2; exit 1; }
printf '{"listenIp":"%s"}\n' "$address"
