#!/usr/bin/env bash
# rpm stand-in for sandbox hosts (/usr/local/sbin/rpm): only `rpm -q PKG…`. etcd answers from the
# record the yum stand-in keeps (/var/lib/rpm-standin/etcd: `VERSION REPO`; `sandbox up` writes it
# on masters, which have the etcd RPM installed for etcdctl).
set -o errexit -o nounset -o pipefail

readonly record=/var/lib/rpm-standin/etcd

if [ "${1:-}" != -q ] || [ "$#" -lt 2 ]; then
  echo "rpm (sandbox stand-in): only 'rpm -q PKG...' is supported" >&2
  exit 1
fi
shift
status=0
for package in "$@"; do
  case "$package" in
    etcd | etcd.x86_64)
      version=''
      if [ -f "$record" ]; then version=$(awk '{ print $1; exit }' "$record"); fi
      if [ -n "$version" ]; then
        echo "etcd-${version}-1.el7.x86_64"
      else
        echo "package ${package} is not installed"
        status=1
      fi
      ;;
    iptables-services) echo "iptables-services-1.4.21-35.el7.x86_64" ;;
    *)
      echo "package ${package} is not installed"
      status=1
      ;;
  esac
done
exit "$status"
