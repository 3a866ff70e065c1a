#!/usr/bin/env bash
# BackUpFailedMemberData: on the failed host, back up /var/lib/etcd off the host, then empty it.
# `backup UPLOAD_URL` packs the data directory and uploads it, printing its size, sha256 and a
# manifest hash (file names and sizes). `wipe MANIFEST` empties the directory, and only while its
# manifest still equals the one that was backed up.
# Exit 5: the backup could not leave the host (it is cut off); nothing was wiped.
# Usage: BackUpFailedMemberData.sh backup UPLOAD_URL | BackUpFailedMemberData.sh wipe MANIFEST_SHA256
set -o errexit -o nounset -o pipefail

data=/var/lib/etcd
mode=${1:?mode}

manifest() { (cd "$data" && find . -type f -printf '%P %s\n' | LC_ALL=C sort) | sha256sum | cut -d' ' -f1; }
entries() { find "$data" -mindepth 1 -maxdepth 1 | wc -l; }

case "$mode" in
  backup)
    upload_url=${2:?upload url}
    [[ $upload_url =~ ^https?:// ]] || { echo "bad upload url" >&2; exit 2; }
    if [ "$(entries)" -eq 0 ]; then
      printf '{"empty":true}\n'
      exit 0
    fi
    if ss -Hltn '( sport = :2379 or sport = :2380 )' | grep -q .; then
      echo "etcd is still running on this host; refusing to back up a live data directory" >&2
      exit 3
    fi
    workdir=$(mktemp -d /var/tmp/etcd-backup.XXXXXX)
    trap 'rm -rf "$workdir"' EXIT
    tar -czf "$workdir/data.tgz" -C "$data" .
    bytes=$(stat -c %s "$workdir/data.tgz")
    sha256=$(openssl dgst -sha256 -r "$workdir/data.tgz" | cut -d' ' -f1)
    if ! curl -fsS --connect-timeout 5 --retry 2 --max-time 1800 --upload-file "$workdir/data.tgz" "$upload_url" >&2; then
      echo "could not upload the backup off this host; the data directory is left as it is" >&2
      exit 5
    fi
    printf '{"empty":false,"bytes":%s,"sha256":"%s","manifest":"%s"}\n' "$bytes" "$sha256" "$(manifest)"
    ;;
  wipe)
    expected=${2:?manifest sha256}
    [[ $expected =~ ^[0-9a-f]{64}$ ]] || { echo "bad manifest hash" >&2; exit 2; }
    if [ "$(entries)" -eq 0 ]; then
      printf '{"wiped":false,"alreadyEmpty":true}\n'
      exit 0
    fi
    actual=$(manifest)
    if [ "$actual" != "$expected" ]; then
      echo "the data directory changed since it was backed up (manifest $actual, backed up $expected); not wiping" >&2
      exit 3
    fi
    find "$data" -mindepth 1 -delete
    printf '{"wiped":true}\n'
    ;;
  *)
    echo "unknown mode: $mode" >&2
    exit 2
    ;;
esac
