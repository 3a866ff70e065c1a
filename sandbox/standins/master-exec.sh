#!/usr/bin/env bash
# master-exec stand-in for sandbox masters (/usr/local/sbin/master-exec; on OpenShift 3.11
# /usr/local/bin/master-exec): `master-exec etcd etcd CMD...` runs CMD in the etcd static pod's
# container. The sandbox's pod runs the host's own /usr/bin/etcd, so CMD runs on the host itself,
# with the same binaries (etcdctl of the member's version).
set -o errexit -o nounset -o pipefail

if [ "$#" -lt 3 ]; then
  echo "usage: master-exec COMPONENT CONTAINER CMD..." >&2
  exit 1
fi
if [ "$1" != etcd ] || [ "$2" != etcd ]; then
  echo "master-exec: no container $2 in the $1 pod on this host (the sandbox runs the etcd pod only)" >&2
  exit 1
fi
shift 2
if [ ! -f /etc/origin/node/pods/etcd.yaml ]; then
  echo "Component etcd is stopped or not running" >&2
  exit 1
fi
exec "$@"
