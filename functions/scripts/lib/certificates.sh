# shellcheck shell=bash
# certificates.sh: the new member's certificates as the workflow checks them, without the private keys
# ever leaving the CA host: the certificates, the CA certificate, and the public key derived from each
# private key. All of it is public material. Inlined like the other lib files.
#
#   cert_sections PREFIX   prints the -----CA-----, -----SERVER-----, -----SERVER-PUBLIC-KEY-----,
#                          -----PEER----- and -----PEER-PUBLIC-KEY----- sections of the files under
#                          PREFIX (VerifyCertificates.sh; IssueCertificates.sh in the command that
#                          issued them); exits the script 1 when a file is missing or empty

cert_sections() {
  local prefix=$1 file
  for file in ca.crt server.crt server.key peer.crt peer.key etcd.conf; do
    [ -s "${prefix}${file}" ] || { echo "missing ${prefix}${file}" >&2; exit 1; }
  done
  openssl x509 -in "${prefix}ca.crt" -noout
  printf -- '-----CA-----\n'; cat "${prefix}ca.crt"
  printf -- '-----SERVER-----\n'; cat "${prefix}server.crt"
  printf -- '-----SERVER-PUBLIC-KEY-----\n'; openssl pkey -in "${prefix}server.key" -pubout
  printf -- '-----PEER-----\n'; cat "${prefix}peer.crt"
  printf -- '-----PEER-PUBLIC-KEY-----\n'; openssl pkey -in "${prefix}peer.key" -pubout
}
