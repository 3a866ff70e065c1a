#!/usr/bin/env bash
# flanneld stand-in (unit flanneld): reads /etc/sysconfig/flanneld at start as the real service's
# EnvironmentFile, logs what it sees, and checks each of FLANNEL_ETCD_ENDPOINTS with the client
# certificate FLANNEL_OPTIONS names (-etcd-cafile, -etcd-certfile, -etcd-keyfile), every 30 s.
set -o errexit -o nounset -o pipefail

readonly config=/etc/sysconfig/flanneld
if [ ! -f "$config" ]; then
  echo "flanneld: $config not found" >&2
  exit 1
fi
set -o allexport
# shellcheck source=/dev/null
source "$config"
set +o allexport

cafile='' certfile='' keyfile=''
read -r -a options <<<"${FLANNEL_OPTIONS:-}"
for option in "${options[@]}"; do
  case "$option" in
    -etcd-cafile=*) cafile=${option#*=} ;;
    -etcd-certfile=*) certfile=${option#*=} ;;
    -etcd-keyfile=*) keyfile=${option#*=} ;;
  esac
done
IFS=',' read -r -a endpoints <<<"${FLANNEL_ETCD_ENDPOINTS:-}"
echo "flanneld: etcd endpoints ${FLANNEL_ETCD_ENDPOINTS:-<none>} prefix ${FLANNEL_ETCD_PREFIX:-<none>}"
echo "flanneld: ca ${cafile:-<none>} cert ${certfile:-<none>} key ${keyfile:-<none>}"

while true; do
  healthy=0
  for endpoint in "${endpoints[@]}"; do
    if curl --silent --show-error --fail --max-time 2 --cacert "$cafile" --cert "$certfile" --key "$keyfile" \
      "${endpoint}/health" >/dev/null 2>&1; then
      healthy=$((healthy + 1))
      echo "flanneld: ${endpoint} healthy"
    else
      echo "flanneld: ${endpoint} unreachable"
    fi
  done
  echo "flanneld: ${healthy}/${#endpoints[@]} etcd endpoints healthy"
  sleep 30 &
  wait "$!"
done
