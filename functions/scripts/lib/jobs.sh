# shellcheck shell=bash
# jobs.sh: the run's jobs that outlive the command starting them (the snapshot job: SnapshotCluster.sh
# starts it, AwaitSnapshot.sh waits for it; the scaleup playbook: RunScaleupPlaybook.sh): where each keeps
# its state, and whether it still runs; inlined like the other lib files.
#
#   job_dir RUN_ID KIND           prints the job's state directory, /run/etcd-replace/RUN_ID/KIND (a reboot
#                                 clears it, and ends the job)
#   job_running DIR NAME          the job's process (DIR/pid) is alive and is this run's job: its command
#                                 line is NAME DIR … (not a reused pid)

# Each job's $0: its command line names it and its directory.
# shellcheck disable=SC2034 # used by the scripts that source this file
readonly SNAPSHOT_JOB_NAME=etcd-replace-snapshot SCALEUP_JOB_NAME=etcd-replace-scaleup

job_dir() { printf '%s\n' "/run/etcd-replace/$1/$2"; }

job_running() {
  local job=$1 name=$2 pid
  pid=$(cat "$job/pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$name $job "
}
