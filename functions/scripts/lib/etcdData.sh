# shellcheck shell=bash
# etcdData.sh: back /var/lib/etcd up off the host, then empty it; inlined like lib/etcdHost.sh.
# Needs lib/secrets.sh (curl_url) and lib/args.sh (check_url), sourced before it. Exit codes as lib/exitCodes.sh names them.
#
#   etcd_data_backup UPLOAD_URL   packs the data directory and uploads it; prints
#                                 {"empty":true} or {"empty":false,"bytes":N,"sha256":"…","manifest":"…"}
#                                 (manifest: a hash of file names and sizes). Exit 2 without an upload
#                                 URL; exit 3 (refused) while etcd still listens here; exit 5 when the
#                                 upload cannot leave the host (nothing is changed either way)
#   etcd_data_wipe MANIFEST       empties the directory, only while its manifest still equals the one
#                                 backed up (exit 3, refused, otherwise; exit 2 for a malformed
#                                 MANIFEST); prints {"wiped":bool,"alreadyEmpty":bool}

readonly ETCD_DATA_DIR=/var/lib/etcd

etcd_data_manifest() { (cd "$ETCD_DATA_DIR" && find . -type f -printf '%P %s\n' | LC_ALL=C sort) | sha256sum | cut -d' ' -f1; }
etcd_data_entries() { find "$ETCD_DATA_DIR" -mindepth 1 -maxdepth 1 | wc -l; }

etcd_data_backup() {
  local upload_url=$1 workdir bytes sha256
  check_url "$upload_url" "no upload URL on stdin"
  if [ "$(etcd_data_entries)" -eq 0 ]; then
    printf '{"empty":true}\n'
    return 0
  fi
  if ss -Hltn '( sport = :2379 or sport = :2380 )' | grep -q .; then
    echo "etcd is still running on this host; refusing to back up a live data directory" >&2
    exit 3
  fi
  workdir=$(mktemp -d /var/tmp/etcd-backup.XXXXXX)
  # shellcheck disable=SC2064 # expand now: the path is fixed
  trap "rm -rf '$workdir'" EXIT
  tar -czf "$workdir/data.tgz" -C "$ETCD_DATA_DIR" .
  bytes=$(stat -c %s "$workdir/data.tgz")
  sha256=$(openssl dgst -sha256 -r "$workdir/data.tgz" | cut -d' ' -f1)
  if ! curl_url "$upload_url" -fsS --connect-timeout 5 --retry 2 --max-time 1800 --upload-file "$workdir/data.tgz" >&2; then
    echo "could not upload the backup off this host; the data directory is left as it is" >&2
    exit 5
  fi
  printf '{"empty":false,"bytes":%s,"sha256":"%s","manifest":"%s"}\n' "$bytes" "$sha256" "$(etcd_data_manifest)"
}

etcd_data_wipe() {
  local expected=$1 actual
  [[ $expected =~ ^[0-9a-f]{64}$ ]] || { echo "bad manifest hash" >&2; exit 2; }
  if [ "$(etcd_data_entries)" -eq 0 ]; then
    printf '{"wiped":false,"alreadyEmpty":true}\n'
    return 0
  fi
  actual=$(etcd_data_manifest)
  if [ "$actual" != "$expected" ]; then
    echo "the data directory changed since it was backed up (manifest $actual, backed up $expected); not wiping" >&2
    exit 3
  fi
  find "$ETCD_DATA_DIR" -mindepth 1 -delete
  printf '{"wiped":true,"alreadyEmpty":false}\n'
}
