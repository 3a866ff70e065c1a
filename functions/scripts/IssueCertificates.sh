#!/usr/bin/env bash
# IssueCertificates: on the etcd CA host, issue the new member's server and peer certificates with
# the runbook's own openssl commands, and copy the current etcd.conf and ca.crt beside them.
# Idempotent: certificates already issued for this exact SAN, still valid, are kept.
# Secrets on stdin (lib/secrets.sh), both optional: PROBE_UPLOAD_URL and CA_BACKUP_URL.
# With PROBE_UPLOAD_URL, first proves this host can reach the artifact store (it ships the new member's
# bundle from here after the membership changes) by uploading the CA certificate, a public file; it
# refuses when it cannot, before anything changes.
# With CA_BACKUP_URL (the CA host itself failed), a host holding no CA restores /etc/etcd/ca from that
# backup first, and only when the backup's CA certificate is exactly the one this member trusts
# (/etc/etcd/ca.crt) and its key matches: never a different CA.
# Usage: IssueCertificates.sh NEW_ETCD_HOSTNAME NEW_ETCD_IP [sections]
# With `sections`, prints before its result what VerifyCertificates.sh prints (lib/certificates.sh,
# public material only), so the workflow checks the certificates with the answer of the command that
# issued them: one host command where there were two.
# Exit codes (lib/exitCodes.sh): 0 done, prints {"prefix":"…","issued":"…","restoredCa":bool,"etcdConf":"<the
# copied etcd.conf, base64>"}; 1 failed
# (with `sections`, a file missing after the issue among others);
# 2 bad arguments; 3 refused, nothing changed: the artifact store is out of reach, the CA backup cannot
# be used (missing, incomplete, another CA, a key that does not match), or this host holds no CA.
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/args.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/args.sh"
# shellcheck source=functions/scripts/lib/secrets.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/secrets.sh"
# shellcheck source=functions/scripts/lib/caRestore.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/caRestore.sh"
# shellcheck source=functions/scripts/lib/certificates.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/certificates.sh"

NEW_ETCD_HOSTNAME=${1:-}
NEW_ETCD_IP=${2:-}
SECTIONS=${3:-}
PROBE_UPLOAD_URL='' CA_BACKUP_URL=''
secrets_read PROBE_UPLOAD_URL CA_BACKUP_URL
probe_url=$PROBE_UPLOAD_URL
ca_backup_url=$CA_BACKUP_URL
check_hostname "$NEW_ETCD_HOSTNAME"
check_ipv4 "$NEW_ETCD_IP"
[[ -z $SECTIONS || $SECTIONS == sections ]] || { echo "bad third argument: $SECTIONS" >&2; exit 2; }
[ -z "$probe_url" ] || check_url "$probe_url" "bad probe url"
[ -z "$ca_backup_url" ] || check_url "$ca_backup_url" "bad CA backup url"

export CN=$NEW_ETCD_HOSTNAME
export SAN="IP:${NEW_ETCD_IP}, DNS:${NEW_ETCD_HOSTNAME}"
export PREFIX="/etc/etcd/generated_certs/etcd-$CN/"
export OPENSSLCFG="/etc/etcd/ca/openssl.cnf"

if [ -n "$probe_url" ] && ! curl_url "$probe_url" -fsS --connect-timeout 5 --retry 2 --max-time 60 --upload-file /etc/etcd/ca.crt >&2; then
  echo "this CA host cannot reach the artifact store, so it could not ship the new member's certificates after the membership changes; nothing was changed. Restore its network and run again" >&2
  exit 3
fi

restored=false
if [ -n "$ca_backup_url" ] && ca_restore "$ca_backup_url"; then
  restored=true
fi

if [ ! -f "$OPENSSLCFG" ] || [ ! -f /etc/etcd/ca/ca.key ]; then
  echo "this host holds no etcd CA (/etc/etcd/ca)" >&2
  exit 3
fi

# A certificate is reusable when it names exactly this IP and hostname and stays valid a day more.
reusable() {
  local cert=$1 key=$2
  if [ ! -s "$cert" ] || [ ! -s "$key" ]; then return 1; fi
  openssl x509 -in "$cert" -noout -checkend 86400 >/dev/null || return 1
  local san
  san=$(openssl x509 -in "$cert" -noout -ext subjectAltName 2>/dev/null | tail -n +2 | tr -d ' ')
  [ "$san" = "IPAddress:${NEW_ETCD_IP},DNS:${NEW_ETCD_HOSTNAME}" ] || [ "$san" = "DNS:${NEW_ETCD_HOSTNAME},IPAddress:${NEW_ETCD_IP}" ] || return 1
  [ "$(openssl x509 -in "$cert" -noout -pubkey)" = "$(openssl pkey -in "$key" -pubout)" ]
}

# The runbook's two commands for one certificate: a new key and request, then the CA's signature.
request() {
  local kind=$1
  openssl req -new -config "${OPENSSLCFG}" \
    -keyout "${PREFIX}${kind}.key" \
    -out "${PREFIX}${kind}.csr" \
    -reqexts etcd_v3_req -batch -nodes \
    -subj "/CN=$CN" 2>&1 | sed "s/^/openssl req ($kind): /" >&2
}
sign() {
  local kind=$1
  openssl ca -name etcd_ca -config "${OPENSSLCFG}" \
    -out "${PREFIX}${kind}.crt" \
    -in "${PREFIX}${kind}.csr" \
    -extensions "etcd_v3_ca_${kind}" -batch 2>&1 | sed "s/^/openssl ca ($kind): /" >&2
  chmod 600 "${PREFIX}${kind}.key"
}

umask 077
mkdir -p "${PREFIX}"
issued=()
for kind in server peer; do
  reusable "${PREFIX}${kind}.crt" "${PREFIX}${kind}.key" || issued+=("$kind")
done
# Key generation, the slow part, runs side by side; signing updates the CA's index.txt and serial, so
# it runs one certificate at a time.
requests=()
# ${a[@]+"${a[@]}"}: an empty array under nounset, for bash before 4.4 (RHEL 7 has 4.2).
for kind in ${issued[@]+"${issued[@]}"}; do
  request "$kind" &
  requests+=("$!")
done
for pid in ${requests[@]+"${requests[@]}"}; do
  wait "$pid"
done
for kind in ${issued[@]+"${issued[@]}"}; do
  sign "$kind"
done
cp /etc/etcd/etcd.conf "${PREFIX}"
cp /etc/etcd/ca.crt "${PREFIX}"
[[ -z $SECTIONS ]] || cert_sections "$PREFIX"
# The etcd.conf just copied, for ConfigureNewMember to rewrite without reading it again (it writes only
# over this content: lib/hostFile.sh).
printf '{"prefix":"%s","issued":"%s","restoredCa":%s,"etcdConf":"%s"}\n' "$PREFIX" "${issued[*]:-}" "$restored" "$(base64 -w0 "${PREFIX}/etcd.conf")"
