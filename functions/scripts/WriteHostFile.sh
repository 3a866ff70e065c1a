#!/usr/bin/env bash
# WriteHostFile: replace one of the files ReadHostFile reads with new content (base64), atomically,
# keeping a dated copy of the old one beside it, and only if the file still has the sha256 the
# workflow read (nobody changed it in between). Writing the content it already has is a no-op.
# With `restart`, it first leaves PATH.restart-pending, which the step's restart script removes once
# the service runs on the new content: a run killed between the write and the restart restarts on resume.
# The write itself is lib/hostFile.sh's, which the steps' own scripts share.
# Usage: WriteHostFile.sh PATH EXPECTED_SHA256 CONTENT_BASE64 [restart]
# Exit codes (lib/exitCodes.sh): 0 done, prints {"changed":bool[,"sha256":"…"]}; 1 failed; 2 bad
# arguments; 3 refused: the file changed since it was read, nothing written.
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"

# shellcheck source=functions/scripts/lib/hostFile.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/hostFile.sh"

host_file_write "${1:-}" "${2:-}" "${3:-}" "${4:-}"
