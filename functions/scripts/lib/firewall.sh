# shellcheck shell=bash
# firewall.sh: 2379/tcp (clients) and 2380/tcp (peers) opened on this host, in the OS_FIREWALL_ALLOW
# chain with the runbook's iptables commands, the rules saved to /etc/sysconfig/iptables so they survive
# a restart; each rule added only when missing. Inlined like the other lib files.
#
#   open_etcd_ports   opens them; sets FIREWALL_CHANGED to true when it added anything, else false
#                     (OpenEtcdPorts.sh; InstallEtcd.sh prepare with `ports`, in its own command)

# shellcheck disable=SC2034 # read by the scripts that source this file
FIREWALL_CHANGED=false

open_etcd_ports() {
  local port
  FIREWALL_CHANGED=false
  yum install -y iptables-services >&2
  systemctl enable iptables.service --now >&2
  if ! iptables -n -L OS_FIREWALL_ALLOW >/dev/null 2>&1; then
    iptables -N OS_FIREWALL_ALLOW
    FIREWALL_CHANGED=true
  fi
  if ! iptables -t filter -C INPUT -j OS_FIREWALL_ALLOW 2>/dev/null; then
    iptables -t filter -I INPUT -j OS_FIREWALL_ALLOW
    FIREWALL_CHANGED=true
  fi
  for port in 2379 2380; do
    if ! iptables -C OS_FIREWALL_ALLOW -p tcp -m state --state NEW -m tcp --dport "$port" -j ACCEPT 2>/dev/null; then
      iptables -A OS_FIREWALL_ALLOW -p tcp -m state --state NEW -m tcp --dport "$port" -j ACCEPT
      FIREWALL_CHANGED=true
    fi
  done
  iptables-save | tee /etc/sysconfig/iptables >/dev/null
}
