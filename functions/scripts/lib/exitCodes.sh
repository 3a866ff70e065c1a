# shellcheck shell=bash
# exitCodes.sh: the exit codes every host script speaks. Inlined like the other lib files
# (functions/adapters/scriptText.ts); each script sources it right after `set`, and its header says
# which of these codes it uses.
#
#   0  done: the result is the last line on stdout (JSON)
#   1  failed: anything the codes below do not name, a command that failed under errexit included
#   2  bad arguments: refused before anything ran; never retried
#   3  refused: going on could cost quorum, data or the CA; nothing was changed
#   4  not ready yet: what the script waits for did not come within its wait; another try may find it
#   5  the upload cannot leave the host (the artifact store is out of its reach); nothing was changed
#      or emptied (lib/etcdData.sh: BackUpFailedMemberData, InstallEtcd prepare)
#   6  no snapshot job for this run runs on this host, and none has succeeded (AwaitSnapshot)
#
# Codes from 5 on are named here once, so one number never means two things. The steps read the codes
# in one place (functions/hosts/hostScript.ts: 2 InvalidInputError, 3 RefusedError, 4 ScriptTimedOutError,
# any other ScriptFailedError); a step maps a code itself only where it gives it a meaning of its own.
#
# Without the trap below, a command that fails under errexit ends the script with that command's own
# status (tar's 2, curl's 3 or 6, iptables' 4, systemctl's 5), which would read as one of the words
# above: in the script's own shell, functions included (errtrace), such a failure exits 1. In a subshell
# or command substitution the trap does nothing; the failure reaches the script's shell as that
# command's status, and is 1 there. So a code other than 1 comes only from an explicit `exit N` in the
# script's own shell.

set -o errtrace
trap '((BASH_SUBSHELL > 0)) || exit 1' ERR
