# shellcheck shell=bash
# scaleupJob.sh: where the run's scaleup playbook job (RunScaleupPlaybook.sh) keeps its state, and
# whether it still runs; inlined like the other lib files.
#
#   scaleup_job_dir RUN_ID        prints the job's state directory
#   scaleup_job_running DIR       the job's process is alive and is this run's job (not a reused pid)
#
# The state lives under /run, as the snapshot job's: a reboot of the installer host ends the job and
# clears it. What a playbook that ran halfway has changed is read from the cluster, not from here
# (RunScaleupPlaybook.ts looks for a member at the new host's peer URL before it starts a job).

readonly SCALEUP_JOB_NAME=etcd-replace-scaleup

scaleup_job_dir() { printf '%s\n' "/run/etcd-replace/$1/scaleup"; }

scaleup_job_running() {
  local job=$1 pid
  pid=$(cat "$job/pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$SCALEUP_JOB_NAME $job "
}
