#!/usr/bin/env bash
# Builds one sandbox host from the inside. Run by sandbox/up.ts as
#   nsenter --net=/run/netns/NS -- unshare --mount=MNTFILE --uts=UTSFILE --propagation private \
#     bash host-setup.sh HOST_ROOT HOSTNAME IP PREFIXLEN KIND SUBNET SG_OPEN ETCD_DIR
# so everything below happens in the host's network namespace and its new (persistent) mount and
# UTS namespaces:
#   - eth0 (the veth end) gets the host's address; lo comes up;
#   - the per-host directories under HOST_ROOT are bind-mounted over the real paths (/etc/etcd,
#     /var/lib/etcd, /etc/origin, /etc/sysconfig, /etc/ansible, /etc/profile.d, /etc/ssh,
#     /etc/systemd/system, /tmp, /var/tmp, /run, /root, /usr/local/sbin, /var/lib/rpm-standin, the file
#     /etc/hosts and, on the installer, /usr/share/ansible (the stand-in openshift-ansible tree)), after dropping this
#     namespace's copy of /run/netns (it would pin other hosts' network namespaces);
#   - ETCD_DIR/etcd and ETCD_DIR/etcdctl are bind-mounted over /usr/bin/etcd and /usr/bin/etcdctl
#     (file bind mounts): the host's own etcd build (STATE/lib/etcd/vX.Y.Z), or the "not
#     installed" stubs (STATE/lib/etcd/absent) on a host without the etcd package; the yum
#     stand-in re-binds them when it installs, upgrades, downgrades or removes etcd;
#   - the hostname is set;
#   - the host firewall is loaded as iptables-services would keep it and saved with iptables-save to
#     /etc/sysconfig/iptables; KIND master gets OS_FIREWALL_ALLOW with 2379, 2380 and 8443, KIND node
#     gets it with 10250, KIND spare has no OS_FIREWALL_ALLOW at all (the workflow creates it);
#   - the security-group stand-in (nft table inet sandbox_sg) drops new tcp to 2379/2380 unless the
#     port is in its set etcd_allowed, from SUBNET only; SG_OPEN=1 opens both ports (masters).
set -o errexit -o nounset -o pipefail

if [ "$#" -ne 8 ]; then
  echo "usage: host-setup.sh HOST_ROOT HOSTNAME IP PREFIXLEN KIND SUBNET SG_OPEN ETCD_DIR" >&2
  exit 2
fi
readonly host_root=$1 host_name=$2 ip=$3 prefix_len=$4 kind=$5 subnet=$6 sg_open=$7 etcd_dir=$8

case "$kind" in master | spare | node) ;; *)
  echo "host-setup.sh: unknown kind: $kind" >&2
  exit 2
  ;;
esac

ip link set lo up
ip addr add "${ip}/${prefix_len}" dev eth0
ip link set eth0 up

# This mount namespace started as a copy of the machine's: drop the copied /run/netns (its entries
# would keep every other sandbox host's network namespace alive) before hiding /run.
if mountpoint -q /run/netns; then
  umount -l /run/netns
fi

readonly dirs=(etc/etcd var/lib/etcd etc/origin etc/sysconfig etc/ansible etc/profile.d etc/ssh etc/systemd/system tmp var/tmp run root usr/local/sbin var/lib/rpm-standin)
for dir in "${dirs[@]}"; do
  mkdir -p "/${dir}"
  mount --bind "${host_root}/${dir}" "/${dir}"
done
mount --bind "${host_root}/etc/hosts" /etc/hosts
if [ -d "${host_root}/usr/share/ansible" ]; then
  mkdir -p /usr/share/ansible
  mount --bind "${host_root}/usr/share/ansible" /usr/share/ansible
fi
for binary in etcd etcdctl; do
  if [ ! -f "/usr/bin/${binary}" ]; then
    echo "host-setup.sh: /usr/bin/${binary} is missing on the machine (install the Debian packages etcd-server etcd-client)" >&2
    exit 1
  fi
  mount --bind "${etcd_dir}/${binary}" "/usr/bin/${binary}"
done
hostname "$host_name"

{
  echo '*filter'
  echo ':INPUT ACCEPT [0:0]'
  echo ':FORWARD ACCEPT [0:0]'
  echo ':OUTPUT ACCEPT [0:0]'
  if [ "$kind" != spare ]; then echo ':OS_FIREWALL_ALLOW - [0:0]'; fi
  echo '-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT'
  echo '-A INPUT -p icmp -j ACCEPT'
  echo '-A INPUT -i lo -j ACCEPT'
  echo '-A INPUT -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT'
  if [ "$kind" != spare ]; then echo '-A INPUT -j OS_FIREWALL_ALLOW'; fi
  echo '-A INPUT -j REJECT --reject-with icmp-host-prohibited'
  echo '-A FORWARD -j REJECT --reject-with icmp-host-prohibited'
  if [ "$kind" = master ]; then
    for port in 2379 2380 8443; do
      echo "-A OS_FIREWALL_ALLOW -p tcp -m state --state NEW -m tcp --dport ${port} -j ACCEPT"
    done
  elif [ "$kind" = node ]; then
    echo '-A OS_FIREWALL_ALLOW -p tcp -m state --state NEW -m tcp --dport 10250 -j ACCEPT'
  fi
  echo 'COMMIT'
} | iptables-restore
iptables-save >/etc/sysconfig/iptables

elements=''
if [ "$sg_open" = 1 ]; then elements='elements = { 2379, 2380 }'; fi
nft -f - <<EOF
table inet sandbox_sg {
  set etcd_allowed {
    type inet_service
    ${elements}
  }
  chain input {
    type filter hook input priority -10; policy accept;
    ct state established,related accept
    iifname "lo" accept
    ip saddr ${subnet} tcp dport @etcd_allowed accept
    tcp dport { 2379, 2380 } drop
  }
}
EOF
