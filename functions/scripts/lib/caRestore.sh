# shellcheck shell=bash
# caRestore.sh: when the CA host itself failed, the survivor that takes over restores /etc/etcd/ca from
# the operator's backup; inlined like the other lib files (IssueCertificates.sh, CheckScaleupPlaybook.sh).
#
#   ca_restore URL   on a host holding no CA (/etc/etcd/ca/ca.key), download the backup (a tar.gz of
#                    /etc/etcd/ca) and restore it, only when its CA certificate is exactly the one this
#                    member trusts (/etc/etcd/ca.crt) and its key matches: never a different CA. Returns 0
#                    when it restored, 1 when the host already holds a CA; exits 3 (refused, nothing
#                    changed) when the backup cannot be used. Needs lib/secrets.sh (curl_url).

ca_restore() {
  local url=$1 restore file
  [ ! -f /etc/etcd/ca/ca.key ] || return 1
  restore=$(mktemp -d /var/tmp/etcd-ca-restore.XXXXXX)
  # shellcheck disable=SC2064 # the directory is known now, and removed whatever ends the script
  trap "rm -rf '$restore'" EXIT
  (umask 077 && curl_url "$url" -fsS --connect-timeout 5 --retry 2 --max-time 300 -o "$restore/ca.tgz") || {
    echo "cannot download the CA backup" >&2
    exit 3
  }
  mkdir -m 700 "$restore/ca"
  tar -xzf "$restore/ca.tgz" -C "$restore/ca" --no-same-owner
  for file in ca.crt ca.key openssl.cnf serial index.txt; do
    [ -f "$restore/ca/$file" ] || { echo "the CA backup has no $file" >&2; exit 3; }
  done
  if ! cmp -s "$restore/ca/ca.crt" /etc/etcd/ca.crt; then
    echo "the CA backup's certificate is not the CA this cluster trusts (/etc/etcd/ca.crt); refusing to sign with another CA" >&2
    exit 3
  fi
  if [ "$(openssl x509 -in "$restore/ca/ca.crt" -noout -pubkey)" != "$(openssl pkey -in "$restore/ca/ca.key" -pubout)" ]; then
    echo "the CA backup's key does not match its certificate" >&2
    exit 3
  fi
  mkdir -p /etc/etcd/ca
  cp -a "$restore/ca/." /etc/etcd/ca/
  rm -rf "$restore"
  return 0
}
