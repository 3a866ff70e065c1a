#!/usr/bin/env bash
# Master controllers stand-in (`master-restart controllers`): reads etcdClientInfo from
# /etc/origin/master/master-config.yaml at start, logs the urls it will use, and checks them with
# the master's etcd client certificate every 30 s.
set -o errexit -o nounset -o pipefail

readonly config=/etc/origin/master/master-config.yaml
readonly dir=/etc/origin/master
if [ ! -f "$config" ]; then
  echo "controllers: $config not found" >&2
  exit 1
fi
# The urls list under etcdClientInfo: lines "    - https://…" until the next key.
mapfile -t urls < <(awk '
  /^etcdClientInfo:/ { inblock = 1; next }
  inblock && /^[^ ]/ { inblock = 0 }
  inblock && /^  urls:/ { inurls = 1; next }
  inblock && inurls && /^ *- / { sub(/^ *- */, ""); print; next }
  inblock && inurls && /^  [a-zA-Z]/ { inurls = 0 }
' "$config")
echo "controllers: etcd urls ${urls[*]:-<none>}"
while true; do
  healthy=0
  for url in "${urls[@]}"; do
    if curl --silent --fail --max-time 2 --cacert "${dir}/master.etcd-ca.crt" --cert "${dir}/master.etcd-client.crt" \
      --key "${dir}/master.etcd-client.key" "${url}/health" >/dev/null 2>&1; then
      healthy=$((healthy + 1))
    fi
  done
  echo "controllers: ${healthy}/${#urls[@]} etcd urls healthy"
  sleep 30 &
  wait "$!"
done
