#!/usr/bin/env bash
# yum stand-in for sandbox hosts (/usr/local/sbin/yum): `yum install [-y] PKG…`.
#   etcd: checks the real /usr/bin/etcd runs, prints its version, installs etcd.service and the
#         package's default /etc/etcd/etcd.conf (when absent), as the RPM does.
#   iptables-services: installed on every sandbox host already ("Nothing to do").
#   anything else: "No package X available." and exit 1, as yum does.
set -o errexit -o nounset -o pipefail

readonly unit_dir=/etc/systemd/system
verb='' packages=()
for arg in "$@"; do
  case "$arg" in
    -y | --assumeyes | -q | --quiet) ;;
    -*) ;;
    *) if [ -z "$verb" ]; then verb=$arg; else packages+=("$arg"); fi ;;
  esac
done
if [ "$verb" != install ] || [ "${#packages[@]}" -eq 0 ]; then
  echo "yum (sandbox stand-in): only 'yum install -y PKG...' is supported" >&2
  exit 1
fi

etcd_version() {
  /usr/bin/etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p'
}

echo "Loaded plugins: product-id, search-disabled-repos, subscription-manager"
status=0
to_install=()
for package in "${packages[@]}"; do
  case "$package" in
    etcd | etcd-*)
      version=$(etcd_version || true)
      if [ -z "$version" ]; then
        echo "No package ${package} available."
        status=1
      elif [ -f "${unit_dir}/etcd.service" ]; then
        echo "Package etcd-${version}-1.el7.x86_64 already installed and latest version"
      else
        to_install+=("etcd:${version}")
      fi
      ;;
    iptables-services | iptables)
      echo "Package ${package}-1.4.21-35.el7.x86_64 already installed and latest version"
      ;;
    *)
      echo "No package ${package} available."
      status=1
      ;;
  esac
done
if [ "$status" -ne 0 ]; then
  echo "Error: Nothing to do" >&2
  exit 1
fi
if [ "${#to_install[@]}" -eq 0 ]; then
  echo "Nothing to do"
  exit 0
fi
for item in "${to_install[@]}"; do
  version=${item#etcd:}
  echo "Installing : etcd-${version}-1.el7.x86_64"
  cp "$(dirname "$(readlink -f "$0")")/../templates/etcd.service" "${unit_dir}/etcd.service"
  mkdir -p /etc/etcd /var/lib/etcd
  if [ ! -f /etc/etcd/etcd.conf ]; then
    cat >/etc/etcd/etcd.conf <<'CONF'
#[Member]
#ETCD_CORS=""
ETCD_DATA_DIR="/var/lib/etcd/default.etcd"
ETCD_LISTEN_CLIENT_URLS="http://localhost:2379"
ETCD_NAME="default"
#[Clustering]
ETCD_ADVERTISE_CLIENT_URLS="http://localhost:2379"
CONF
  fi
  echo "Installed:"
  echo "  etcd.x86_64 0:${version}-1.el7"
done
echo "Complete!"
