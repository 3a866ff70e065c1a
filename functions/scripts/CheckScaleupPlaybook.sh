#!/usr/bin/env bash
# CheckScaleupPlaybook: before any membership change, prove the scaleup playbook can run (runbook 37.2.1).
# Usage:
#   CheckScaleupPlaybook.sh installer ANSIBLE_DIR INVENTORY_BASE64
#     on the installer host: ansible-playbook is installed, ANSIBLE_DIR holds
#     playbooks/openshift-etcd/scaleup.yml, and every host of [etcd] and [new_etcd] of the inventory as
#     the run will write it (INVENTORY_BASE64, kept in a temporary file only: the failed host is no longer
#     in [etcd]) answers Ansible's ping over SSH with the inventory's own connection settings: the hosts
#     the playbook needs to add the member. A master it cannot reach later is left to RollMasters.
#     Prints {"ansible":"<ansible-playbook --version, first line>","reached":N}.
#   CheckScaleupPlaybook.sh ca
#     on the CA host: it holds the etcd CA (/etc/etcd/ca/ca.key, openssl.cnf), restored first from
#     CA_BACKUP_URL on stdin (optional, lib/secrets.sh; lib/caRestore.sh) when the CA host itself failed.
#     Prints {"restoredCa":bool,"quotaBackendBytes":"N"|null}: ETCD_QUOTA_BACKEND_BYTES of this member's
#     etcd.conf, which the new member must share (the playbook's own default is 8 GiB).
# Exit codes (lib/exitCodes.sh): 0 done; 1 failed; 2 bad arguments; 3 refused, nothing changed: no
# ansible-playbook, no playbook, a host Ansible cannot reach, no CA (or a CA backup that cannot be used).
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/args.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/args.sh"
# shellcheck source=functions/scripts/lib/secrets.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/secrets.sh"
# shellcheck source=functions/scripts/lib/caRestore.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/caRestore.sh"

readonly PLAYBOOK=playbooks/openshift-etcd/scaleup.yml

role=${1:-}
case "$role" in
  installer)
    ansible_dir=${2:-}
    inventory_b64=${3:-}
    check_path "$ansible_dir" "openshift-ansible directory"
    [[ $inventory_b64 =~ ^[A-Za-z0-9+/=]+$ ]] || bad_argument "the inventory is not base64"
    command -v ansible-playbook >/dev/null || { echo "ansible-playbook is not installed on this host" >&2; exit 3; }
    [[ -f $ansible_dir/$PLAYBOOK ]] || { echo "$ansible_dir/$PLAYBOOK does not exist on this host" >&2; exit 3; }
    version=$(ansible-playbook --version 2>/dev/null | head -n 1)
    planned=$(mktemp /tmp/etcd-replace-inventory.XXXXXX)
    trap 'rm -f "$planned"' EXIT
    base64 -d <<<"$inventory_b64" >"$planned"
    # One line per host (-o): "HOST | SUCCESS => ..." or "HOST | UNREACHABLE! => ...".
    pings=$(cd "$ansible_dir" && HOME=${HOME:-/root} ANSIBLE_NOCOLOR=1 ansible -i "$planned" 'etcd:new_etcd' -m ping -o 2>&1) || {
      printf '%s\n' "$pings" | grep -E '\| (UNREACHABLE|FAILED)|ERROR' | cut -c1-400 >&2 || printf '%s\n' "$pings" | tail -n 5 >&2
      echo "Ansible cannot reach every host the scaleup playbook works on (above); nothing was changed" >&2
      exit 3
    }
    reached=$(grep -c '| SUCCESS' <<<"$pings" || true)
    printf '{"ansible":"%s","reached":%s}\n' "${version//\"/}" "$reached"
    ;;
  ca)
    CA_BACKUP_URL=''
    secrets_read CA_BACKUP_URL
    [ -z "$CA_BACKUP_URL" ] || check_url "$CA_BACKUP_URL" "bad CA backup url"
    restored=false
    if [ -n "$CA_BACKUP_URL" ] && ca_restore "$CA_BACKUP_URL"; then restored=true; fi
    if [ ! -f /etc/etcd/ca/openssl.cnf ] || [ ! -f /etc/etcd/ca/ca.key ]; then
      echo "this host holds no etcd CA (/etc/etcd/ca): the scaleup playbook signs the new member's certificates on the first [etcd] host" >&2
      exit 3
    fi
    quota=$(sed -n 's/^ETCD_QUOTA_BACKEND_BYTES=\([0-9]\{1,20\}\)$/\1/p' /etc/etcd/etcd.conf 2>/dev/null | tail -n 1)
    printf '{"restoredCa":%s,"quotaBackendBytes":%s}\n' "$restored" "$([ -n "$quota" ] && printf '"%s"' "$quota" || echo null)"
    ;;
  *) bad_argument "bad role: $role" ;;
esac
