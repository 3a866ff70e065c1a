#!/usr/bin/env bash
# ConfigureNewMember: on the etcd CA host, after the new member's etcd.conf was rewritten, check it
# the way etcd will read it (a shell environment file naming this member and address), pack the
# certificates, configuration and CA certificate into <hostname>.tgz and upload it for the new host.
# The runbook's tarball is only the carrier of the new member's keys: it lives in a private temporary
# directory for this command and is removed whatever the outcome. The certificates stay in
# generated_certs/etcd-<hostname>/ as the runbook and openshift-ansible keep them (root only).
# With EXPECTED_SHA256 and CONTENT_BASE64, first writes generated_certs/etcd-<hostname>/etcd.conf as
# WriteHostFile.sh does (lib/hostFile.sh): the write, the check and the bundle in one host command.
# Usage: ConfigureNewMember.sh NEW_ETCD_HOSTNAME NEW_ETCD_IP [EXPECTED_SHA256 CONTENT_BASE64], with
# UPLOAD_URL=<url> on stdin (lib/secrets.sh)
# Exit codes (lib/exitCodes.sh): 0 done, prints {"bytes":N,"sha256":"…"[,"written":{"changed":bool…}]}; 1
# failed (the etcd.conf or a certificate does not pass its check, or the upload failed; nothing was
# uploaded then); 2 bad arguments; 3 refused: etcd.conf changed since it was read, nothing written.
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/args.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/args.sh"
# shellcheck source=functions/scripts/lib/secrets.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/secrets.sh"
# shellcheck source=functions/scripts/lib/hostFile.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/hostFile.sh"

CN=${1:-}
NEW_ETCD_IP=${2:-}
UPLOAD_URL=''
secrets_read UPLOAD_URL
check_hostname "$CN"
check_ipv4 "$NEW_ETCD_IP"
check_url "$UPLOAD_URL" "no upload URL on stdin"
(($# == 2 || $# == 4)) || { echo "usage: ConfigureNewMember.sh NEW_ETCD_HOSTNAME NEW_ETCD_IP [EXPECTED_SHA256 CONTENT_BASE64]" >&2; exit 2; }
PREFIX="/etc/etcd/generated_certs/etcd-$CN/"
conf="${PREFIX}etcd.conf"
written=''
# A command substitution's exit is not the script's: pass host_file_write's 2 or 3 on.
if (($# == 4)); then written=$(host_file_write "$conf" "$3" "$4") || exit $?; fi

bash -n "$conf" || { echo "$conf has a syntax error" >&2; exit 1; }
(
  set -o allexport
  # shellcheck disable=SC1090
  source "$conf"
  [ "$ETCD_NAME" = "$CN" ] || { echo "ETCD_NAME is $ETCD_NAME, expected $CN" >&2; exit 1; }
  [ "$ETCD_INITIAL_CLUSTER_STATE" = existing ] || { echo "ETCD_INITIAL_CLUSTER_STATE is not existing" >&2; exit 1; }
  for key in ETCD_LISTEN_PEER_URLS ETCD_INITIAL_ADVERTISE_PEER_URLS; do
    [ "${!key}" = "https://${NEW_ETCD_IP}:2380" ] || { echo "$key is ${!key}" >&2; exit 1; }
  done
  for key in ETCD_LISTEN_CLIENT_URLS ETCD_ADVERTISE_CLIENT_URLS; do
    [ "${!key}" = "https://${NEW_ETCD_IP}:2379" ] || { echo "$key is ${!key}" >&2; exit 1; }
  done
  [[ ",$ETCD_INITIAL_CLUSTER," == *",${CN}=https://${NEW_ETCD_IP}:2380,"* ]] || { echo "ETCD_INITIAL_CLUSTER misses ${CN}" >&2; exit 1; }
)
for file in ca.crt server.crt server.key peer.crt peer.key; do
  [ -s "${PREFIX}${file}" ] || { echo "missing ${PREFIX}${file}" >&2; exit 1; }
done

umask 077
chmod 700 "${PREFIX}"
workdir=$(mktemp -d /var/tmp/etcd-bundle.XXXXXX)
trap 'rm -rf "$workdir"' EXIT
bundle="$workdir/${CN}.tgz"
tar -czf "$bundle" -C "${PREFIX}" .
curl_url "$UPLOAD_URL" -fsS --connect-timeout 5 --retry 2 --max-time 1800 --upload-file "$bundle" >&2
printf '{"bytes":%s,"sha256":"%s"%s}\n' "$(stat -c %s "$bundle")" "$(sha256sum "$bundle" | cut -d' ' -f1)" "${written:+,\"written\":$written}"
