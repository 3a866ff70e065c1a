#!/usr/bin/env bash
# Installs what the product needs on this machine when it is missing: Debian packages for the
# sandbox hosts (etcd, etcdctl, iptables, nftables, iproute2, openssl, curl, shellcheck, and sshd, ssh
# and ansible-playbook for the Ansible scaleup path) and node modules.
set -o errexit -o nounset -o pipefail

cd "$(dirname "$0")/.."

readonly DEBIAN_PACKAGES=(etcd-server etcd-client iptables iproute2 openssl curl nftables shellcheck procps psmisc util-linux tar ansible-core openssh-server openssh-client)

missing=()
for package in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query --show --showformat='${db:Status-Status}' "$package" 2>/dev/null | grep -qx installed || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: installing packages needs root; run as root or install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing node modules (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi

# The CLI runs from its build in dist/ (npm ci builds it through the `prepare` script); build it here
# too when it is missing or older than its sources, before anything starts the CLI in parallel.
node scripts/build.mjs --if-stale >&2
