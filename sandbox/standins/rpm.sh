#!/usr/bin/env bash
# rpm stand-in for sandbox hosts (/usr/local/sbin/rpm): only `rpm -q PKG…`, answering from what the
# yum stand-in installed.
set -o errexit -o nounset -o pipefail

if [ "${1:-}" != -q ] || [ "$#" -lt 2 ]; then
  echo "rpm (sandbox stand-in): only 'rpm -q PKG...' is supported" >&2
  exit 1
fi
shift
status=0
for package in "$@"; do
  case "$package" in
    etcd)
      if [ -f /etc/systemd/system/etcd.service ]; then
        echo "etcd-$(/usr/bin/etcd --version | sed -n 's/^etcd Version: //p')-1.el7.x86_64"
      else
        echo "package etcd is not installed"
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
