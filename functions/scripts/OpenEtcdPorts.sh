#!/usr/bin/env bash
# OpenEtcdPorts: on the new host, open 2379/tcp (clients) and 2380/tcp (peers) in the
# OS_FIREWALL_ALLOW chain with the runbook's iptables commands, and save the rules to
# /etc/sysconfig/iptables so they survive a restart. Each rule is added only when missing.
# Usage: OpenEtcdPorts.sh
# Exit codes (lib/exitCodes.sh): 0 done, prints {"changed":bool}; 1 failed.
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"

yum install -y iptables-services >&2
systemctl enable iptables.service --now >&2

changed=false
if ! iptables -n -L OS_FIREWALL_ALLOW >/dev/null 2>&1; then
  iptables -N OS_FIREWALL_ALLOW
  changed=true
fi
if ! iptables -t filter -C INPUT -j OS_FIREWALL_ALLOW 2>/dev/null; then
  iptables -t filter -I INPUT -j OS_FIREWALL_ALLOW
  changed=true
fi
for port in 2379 2380; do
  if ! iptables -C OS_FIREWALL_ALLOW -p tcp -m state --state NEW -m tcp --dport "$port" -j ACCEPT 2>/dev/null; then
    iptables -A OS_FIREWALL_ALLOW -p tcp -m state --state NEW -m tcp --dport "$port" -j ACCEPT
    changed=true
  fi
done
iptables-save | tee /etc/sysconfig/iptables >/dev/null
printf '{"changed":%s}\n' "$changed"
