#!/usr/bin/env bash
# Creates the etcd CA on the CA host (master-0) as openshift-ansible lays it out, then issues the
# sandbox's certificates with the runbook's own commands. Run inside master-0's namespaces by
# sandbox/certs.ts:
#   bash issue-certs.sh OPENSSL_CNF_TEMPLATE EPOCH < requests
# Each request line is `PREFIX|BASENAME|CN|SAN|EXTENSION`, for example
#   /etc/etcd/generated_certs/etcd-master-0.sandbox.test/|server|master-0.sandbox.test|IP:198.51.100.2, DNS:master-0.sandbox.test|etcd_v3_ca_server
# and produces ${PREFIX}${BASENAME}.key/.csr/.crt. Keys are generated in parallel; `openssl ca`
# runs one at a time (it updates index.txt and serial). Nothing here prints a private key.
set -o errexit -o nounset -o pipefail

if [ "$#" -ne 2 ]; then
  echo "usage: issue-certs.sh OPENSSL_CNF_TEMPLATE EPOCH < requests" >&2
  exit 2
fi
readonly template=$1 epoch=$2
readonly ca_dir=/etc/etcd/ca
export OPENSSLCFG="${ca_dir}/openssl.cnf"
umask 077

mkdir -p "${ca_dir}/certs" "${ca_dir}/crl" "${ca_dir}/fragments"
cp "$template" "$OPENSSLCFG"
chmod 0644 "$OPENSSLCFG"
touch "${ca_dir}/index.txt"
echo 01 >"${ca_dir}/serial"

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT

mapfile -t requests
pids=()
# The CA: openssl.cnf references ${ENV::SAN}, so SAN must be set even where it is not used.
(
  cd "$ca_dir"
  SAN='' openssl req -config "$OPENSSLCFG" -newkey rsa:2048 -keyout ca.key -new -out ca.crt -x509 \
    -extensions etcd_v3_ca_self -batch -nodes -days 1825 -subj "/CN=etcd-signer@${epoch}" \
    >"${workdir}/ca.out" 2>&1
) &
pids+=("$!")
index=0
for request in "${requests[@]}"; do
  IFS='|' read -r PREFIX basename CN SAN _extension <<<"$request"
  export PREFIX CN SAN
  mkdir -p "$PREFIX"
  openssl req -new -config "$OPENSSLCFG" \
    -keyout "${PREFIX}${basename}.key" \
    -out "${PREFIX}${basename}.csr" \
    -reqexts etcd_v3_req -batch -nodes \
    -subj "/CN=$CN" >"${workdir}/req-${index}.out" 2>&1 &
  pids+=("$!")
  index=$((index + 1))
done
failed=0
for pid in "${pids[@]}"; do
  wait "$pid" || failed=1
done
if [ "$failed" -ne 0 ]; then
  echo "issue-certs.sh: key or request generation failed:" >&2
  cat "${workdir}"/*.out >&2
  exit 1
fi

for request in "${requests[@]}"; do
  IFS='|' read -r PREFIX basename CN SAN extension <<<"$request"
  export PREFIX CN SAN
  if ! openssl ca -name etcd_ca -config "$OPENSSLCFG" \
    -out "${PREFIX}${basename}.crt" \
    -in "${PREFIX}${basename}.csr" \
    -extensions "$extension" -batch >"${workdir}/ca-sign.out" 2>&1; then
    echo "issue-certs.sh: signing ${PREFIX}${basename}.crt failed:" >&2
    cat "${workdir}/ca-sign.out" >&2
    exit 1
  fi
done
echo "issued ${#requests[@]} certificates" >&2
