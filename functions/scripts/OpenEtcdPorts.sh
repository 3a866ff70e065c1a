#!/usr/bin/env bash
# OpenEtcdPorts: on the new host, open 2379/tcp (clients) and 2380/tcp (peers) in the
# OS_FIREWALL_ALLOW chain with the runbook's iptables commands, and save the rules to
# /etc/sysconfig/iptables so they survive a restart. Each rule is added only when missing
# (lib/firewall.sh; InstallEtcd.sh prepare with `ports` does the same in its own command).
# Usage: OpenEtcdPorts.sh
# Exit codes (lib/exitCodes.sh): 0 done, prints {"changed":bool}; 1 failed.
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/firewall.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/firewall.sh"

open_etcd_ports
printf '{"changed":%s}\n' "$FIREWALL_CHANGED"
