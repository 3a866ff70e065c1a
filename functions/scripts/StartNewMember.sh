#!/usr/bin/env bash
# StartNewMember: on the new host, make sure no etcd pod runs, empty /etc/etcd and /var/lib/etcd
# (uploading the data directory first when it holds anything), unpack the bundle into /etc/etcd and
# `systemctl enable etcd --now`; then wait until etcd listens for clients. A host already running
# etcd as this member is left as it is.
# Usage: StartNewMember.sh NEW_ETCD_HOSTNAME BUNDLE_URL BACKUP_UPLOAD_URL WAIT_SECONDS
set -o errexit -o nounset -o pipefail

CN=${1:?hostname}
bundle_url=${2:?bundle url}
backup_url=${3:?backup upload url}
wait_seconds=${4:?wait seconds}
[[ $CN =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$ ]] || { echo "bad hostname" >&2; exit 2; }
[[ $bundle_url =~ ^https?:// ]] || { echo "bad bundle url" >&2; exit 2; }
[[ $backup_url =~ ^https?:// ]] || { echo "bad backup url" >&2; exit 2; }
[[ $wait_seconds =~ ^[0-9]{1,4}$ ]] || { echo "bad wait" >&2; exit 2; }

listening() { ss -Hltn '( sport = :2379 )' | grep -q .; }
configured_as_member() { [ -f /etc/etcd/etcd.conf ] && grep -qx "ETCD_NAME=${CN}" /etc/etcd/etcd.conf; }

backed_up=false
if systemctl is-active --quiet etcd && configured_as_member; then
  started=already
else
  mkdir -p /etc/origin/node/pods-stopped
  if [ -d /etc/origin/node/pods ]; then
    find /etc/origin/node/pods -mindepth 1 -maxdepth 1 -exec mv -f -t /etc/origin/node/pods-stopped/ {} +
  fi
  if systemctl is-active --quiet etcd || systemctl is-enabled --quiet etcd; then
    systemctl disable etcd --now >&2
  fi
  if [ -n "$(find /var/lib/etcd -mindepth 1 -maxdepth 1 -print -quit)" ]; then
    workdir=$(mktemp -d /var/tmp/etcd-newhost-backup.XXXXXX)
    tar -czf "$workdir/data.tgz" -C /var/lib/etcd .
    curl -fsS --connect-timeout 5 --retry 2 --max-time 1800 --upload-file "$workdir/data.tgz" "$backup_url" >&2
    rm -rf "$workdir"
    backed_up=true
  fi
  rm -rf /etc/etcd/* /var/lib/etcd/*
  umask 077
  bundle="/tmp/${CN}.tgz"
  curl -fsS --connect-timeout 5 --retry 2 --max-time 1800 -o "$bundle" "$bundle_url"
  tar -xzf "$bundle" -C /etc/etcd/
  rm -f "$bundle"
  chmod 600 /etc/etcd/*.key
  systemctl enable etcd --now >&2
  started=now
fi

deadline=$((SECONDS + wait_seconds))
until listening; do
  if (( SECONDS >= deadline )); then
    echo "etcd did not start listening on 2379 within ${wait_seconds}s" >&2
    systemctl status etcd >&2 || true
    exit 4
  fi
  sleep 0.2
done
printf '{"started":"%s","backedUpData":%s}\n' "$started" "$backed_up"
