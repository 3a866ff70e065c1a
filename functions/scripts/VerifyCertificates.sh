#!/usr/bin/env bash
# VerifyCertificates: on the etcd CA host, print what the workflow needs to check the new member's
# certificates without the private keys ever leaving the host: the certificates, the CA certificate,
# and the public key derived from each private key. All of it is public material.
# Usage: VerifyCertificates.sh NEW_ETCD_HOSTNAME
# Exit codes (lib/exitCodes.sh): 0 done, prints the sections; 1 failed (a file is missing, among
# others); 2 bad arguments.
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/args.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/args.sh"

CN=${1:-}
check_hostname "$CN"
PREFIX="/etc/etcd/generated_certs/etcd-$CN/"

for file in ca.crt server.crt server.key peer.crt peer.key etcd.conf; do
  [ -s "${PREFIX}${file}" ] || { echo "missing ${PREFIX}${file}" >&2; exit 1; }
done
openssl x509 -in "${PREFIX}ca.crt" -noout
printf -- '-----CA-----\n'; cat "${PREFIX}ca.crt"
printf -- '-----SERVER-----\n'; cat "${PREFIX}server.crt"
printf -- '-----SERVER-PUBLIC-KEY-----\n'; openssl pkey -in "${PREFIX}server.key" -pubout
printf -- '-----PEER-----\n'; cat "${PREFIX}peer.crt"
printf -- '-----PEER-PUBLIC-KEY-----\n'; openssl pkey -in "${PREFIX}peer.key" -pubout
