#!/usr/bin/env bash
# ReadHostFile: print one of the configuration files the workflow edits, with its sha256 first, so a
# later WriteHostFile can refuse to overwrite a file that changed in between. Only these files:
# the new member's etcd.conf under /etc/etcd/generated_certs, /etc/ansible/hosts (and the copy a run kept
# of it before the scaleup playbook, /etc/ansible/hosts.before-RUN_ID), /etc/origin/master/master-config.yaml,
# /etc/sysconfig/flanneld.
# Usage: ReadHostFile.sh PATH       (prints "absent" when the file does not exist)
# Exit codes (lib/exitCodes.sh): 0 done; 1 failed; 2 bad arguments (a path this workflow does not read).
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"

path=${1:-}
case "$path" in
  /etc/ansible/hosts | /etc/origin/master/master-config.yaml | /etc/sysconfig/flanneld) ;;
  /etc/etcd/generated_certs/etcd-*/etcd.conf)
    [[ $path =~ ^/etc/etcd/generated_certs/etcd-[a-z0-9.-]+/etcd\.conf$ ]] || { echo "bad path" >&2; exit 2; }
    ;;
  /etc/ansible/hosts.before-*)
    [[ $path =~ ^/etc/ansible/hosts\.before-[a-z0-9][a-z0-9-]{5,79}$ ]] || { echo "bad path" >&2; exit 2; }
    ;;
  *) echo "not a file this workflow reads: $path" >&2; exit 2 ;;
esac
if [ ! -e "$path" ]; then
  echo absent
  exit 0
fi
sha256sum "$path" | cut -d' ' -f1
cat "$path"
