# shellcheck shell=bash
# snapshotJob.sh: where the run's snapshot job (SnapshotCluster.sh starts it, AwaitSnapshot.sh waits
# for it) keeps its state, and whether it still runs; inlined like the other lib files.
#
#   snapshot_job_dir RUN_ID       prints the job's state directory (under /run: a reboot clears it)
#   snapshot_job_running DIR      the job's process is alive and is this run's job (not a reused pid)

# The job's $0: its command line names it and its directory.
readonly JOB_NAME=etcd-replace-snapshot

snapshot_job_dir() { printf '%s\n' "/run/etcd-replace/$1/snapshot"; }

snapshot_job_running() {
  local job=$1 pid
  pid=$(cat "$job/pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$JOB_NAME $job "
}
