#!/usr/bin/env bash
# VerifyCertificates: on the etcd CA host, print what the workflow needs to check the new member's
# certificates without the private keys ever leaving the host: the certificates, the CA certificate,
# and the public key derived from each private key (lib/certificates.sh). All of it is public material.
# Usage: VerifyCertificates.sh NEW_ETCD_HOSTNAME
# Exit codes (lib/exitCodes.sh): 0 done, prints the sections; 1 failed (a file is missing, among
# others); 2 bad arguments.
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/args.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/args.sh"
# shellcheck source=functions/scripts/lib/certificates.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/certificates.sh"

CN=${1:-}
check_hostname "$CN"
cert_sections "/etc/etcd/generated_certs/etcd-$CN/"
