#!/usr/bin/env bash
# Creates the etcd CA on the CA host (master-0) as openshift-ansible lays it out, then issues the
# sandbox's certificates with the runbook's own commands. Run inside master-0's namespaces by
# sandbox/certs.ts:
#   bash issue-certs.sh OPENSSL_CNF_TEMPLATE EPOCH < requests
# Each request line is `PREFIX|BASENAME|CN|SAN|EXTENSION`, for example
#   /etc/etcd/generated_certs/etcd-master-0.sandbox.test/|server|master-0.sandbox.test|IP:198.51.100.2, DNS:master-0.sandbox.test|etcd_v3_ca_server
# and produces ${PREFIX}${BASENAME}.key/.csr/.crt. Server and peer requests (EXTENSION
# etcd_v3_ca_server / etcd_v3_ca_peer) use the runbook's command as written (RSA, default_bits 2048
# from openssl.cnf); client requests (etcd_v3_ca_client: the machine's, the masters' and flannel's
# etcd clients) use a P-256 key, which is much faster to make. Keys are generated in parallel;
# `openssl ca` runs one at a time (it updates index.txt and serial), client certificates first,
# while the RSA keys are still being made. Nothing here prints a private key.
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

# make_request INDEX LINE: the CSR (and key) for one request line.
make_request() {
  local index=$1 line=$2 PREFIX basename CN SAN extension
  IFS='|' read -r PREFIX basename CN SAN extension <<<"$line"
  export PREFIX CN SAN
  mkdir -p "$PREFIX"
  if [ "$extension" = etcd_v3_ca_client ]; then
    openssl req -new -config "$OPENSSLCFG" -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
      -keyout "${PREFIX}${basename}.key" \
      -out "${PREFIX}${basename}.csr" \
      -reqexts etcd_v3_req -batch -nodes \
      -subj "/CN=$CN" >"${workdir}/req-${index}.out" 2>&1
  else
    openssl req -new -config "$OPENSSLCFG" \
      -keyout "${PREFIX}${basename}.key" \
      -out "${PREFIX}${basename}.csr" \
      -reqexts etcd_v3_req -batch -nodes \
      -subj "/CN=$CN" >"${workdir}/req-${index}.out" 2>&1
  fi
}

# sign LINE: the runbook's `openssl ca` for one request line.
sign() {
  local PREFIX basename CN SAN extension
  IFS='|' read -r PREFIX basename CN SAN extension <<<"$1"
  export PREFIX CN SAN
  if ! openssl ca -name etcd_ca -config "$OPENSSLCFG" \
    -out "${PREFIX}${basename}.crt" \
    -in "${PREFIX}${basename}.csr" \
    -extensions "$extension" -batch >"${workdir}/ca-sign.out" 2>&1; then
    echo "issue-certs.sh: signing ${PREFIX}${basename}.crt failed:" >&2
    cat "${workdir}/ca-sign.out" >&2
    exit 1
  fi
}

# wait_all PID...: waits for every job; shows their output and fails if any failed.
wait_all() {
  local pid failed=0
  for pid in "$@"; do
    wait "$pid" || failed=1
  done
  if [ "$failed" -ne 0 ]; then
    echo "issue-certs.sh: key or request generation failed:" >&2
    cat "${workdir}"/*.out >&2
    exit 1
  fi
}

# The CA: openssl.cnf references ${ENV::SAN}, so SAN must be set even where it is not used.
(
  cd "$ca_dir"
  SAN='' openssl req -config "$OPENSSLCFG" -newkey rsa:2048 -keyout ca.key -new -out ca.crt -x509 \
    -extensions etcd_v3_ca_self -batch -nodes -days 1825 -subj "/CN=etcd-signer@${epoch}" \
    >"${workdir}/ca.out" 2>&1
) &
ca_pid=$!
client_pids=() member_pids=() clients=() members=()
index=0
for request in "${requests[@]}"; do
  make_request "$index" "$request" &
  case "$request" in
    *'|etcd_v3_ca_client')
      client_pids+=("$!")
      clients+=("$request")
      ;;
    *)
      member_pids+=("$!")
      members+=("$request")
      ;;
  esac
  index=$((index + 1))
done

wait_all "$ca_pid" "${client_pids[@]}"
for request in "${clients[@]}"; do sign "$request"; done
wait_all "${member_pids[@]}"
for request in "${members[@]}"; do sign "$request"; done
echo "issued ${#requests[@]} certificates" >&2
