#!/usr/bin/env bash
# FixLocalhostPeerUrls: on a member whose peer URL still says localhost, print the IPv4 address etcd
# listens on for peers (the runbook's `ss -l4n | grep 2380`), for `member update`.
# Usage: FixLocalhostPeerUrls.sh
set -o errexit -o nounset -o pipefail

address=$(ss -Hl4n '( sport = :2380 )' | awk '{print $4}' | sed 's/:2380$//' | grep -v '^127\.' | head -n 1)
[[ $address =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || { echo "etcd does not listen for peers on a routable IPv4 address" >&2; exit 3; }
printf '{"listenIp":"%s"}\n' "$address"
