#!/usr/bin/env bash
# WriteHostFile: replace one of the files ReadHostFile reads with new content (base64), atomically,
# keeping a dated copy of the old one beside it, and only if the file still has the sha256 the
# workflow read (nobody changed it in between). Writing the content it already has is a no-op.
# With `restart`, it first leaves PATH.restart-pending, which the step's restart script removes once
# the service runs on the new content: a run killed between the write and the restart restarts on resume.
# The write itself is lib/hostFile.sh's, which the steps' own scripts share.
# With `join-etcd-group NEW_HOST [FAILED_HOST]`, UpdateInventory's edit of /etc/ansible/hosts is made here,
# read, edited and written in this one command (lib/hostFile.sh host_file_edit, lib/inventoryEdit.sh: the
# workflow's own edit, byte for byte); a file in a form that edit declines is left untouched for the
# workflow to read and edit itself.
# Usage: WriteHostFile.sh PATH EXPECTED_SHA256 CONTENT_BASE64 [restart]
#        WriteHostFile.sh join-etcd-group NEW_HOST [FAILED_HOST]
# Exit codes (lib/exitCodes.sh): 0 done, prints {"changed":bool[,"sha256":"…"]}, or with join-etcd-group
# {"absent":true} (no inventory here) or {"unedited":"WHY"}; 1 failed; 2 bad arguments; 3 refused: the
# file changed since it was read, nothing written.
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/args.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/args.sh"
# shellcheck source=functions/scripts/lib/hostFile.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/hostFile.sh"
# shellcheck source=functions/scripts/lib/inventoryEdit.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/inventoryEdit.sh"

if [ "${1:-}" = join-etcd-group ]; then
  (($# == 2 || $# == 3)) || bad_argument "usage: WriteHostFile.sh join-etcd-group NEW_HOST [FAILED_HOST]"
  check_hostname "$2"
  [ $# = 2 ] || check_hostname "$3"
  host_file_edit /etc/ansible/hosts inventory_join_etcd_edit "$2${3:+,$3}"
  exit 0
fi
host_file_write "${1:-}" "${2:-}" "${3:-}" "${4:-}"
