# shellcheck shell=bash
# jobs.sh: the run's jobs that outlive the command starting them (the snapshot job: SnapshotCluster.sh
# starts it, AwaitSnapshot.sh waits for it; the scaleup playbook: RunScaleupPlaybook.sh): where each keeps
# its state, and whether it still runs; inlined like the other lib files.
#
#   job_dir RUN_ID KIND           prints the job's state directory, /run/etcd-replace/RUN_ID/KIND (a reboot
#                                 clears it, and ends the job)
#   job_running DIR NAME          the job's process (DIR/pid) is alive and is this run's job: its command
#                                 line is NAME DIR … (not a reused pid)
#   snapshot_job_wait DIR RUN_ID WAIT_SECONDS
#                                 waits for the snapshot job in DIR to end (AwaitSnapshot.sh): prints
#                                 its result.json and returns 0; exits the script 1 when the job failed (its log's tail on
#                                 stderr, its state cleared so it is started again), 4 when it still
#                                 runs after WAIT_SECONDS, 6 when no job runs there and none succeeded

# Each job's $0: its command line names it and its directory.
# shellcheck disable=SC2034 # used by the scripts that source this file
readonly SNAPSHOT_JOB_NAME=etcd-replace-snapshot SCALEUP_JOB_NAME=etcd-replace-scaleup

job_dir() { printf '%s\n' "/run/etcd-replace/$1/$2"; }

job_running() {
  local job=$1 name=$2 pid
  pid=$(cat "$job/pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$name $job "
}

snapshot_job_wait() {
  local job=$1 run_id=$2 wait_seconds=$3 deadline code
  deadline=$((SECONDS + wait_seconds))
  for (( ; ; )); do
    if [[ -s $job/result.json ]]; then
      cat "$job/result.json"
      return 0
    fi
    if [[ -e $job/failed ]]; then
      code=$(cat "$job/failed")
      tail -n 20 "$job/log" >&2 || true
      echo "the snapshot job failed (exit $code)" >&2
      rm -f "$job/failed" "$job/pid"
      exit 1
    fi
    if ! job_running "$job" "$SNAPSHOT_JOB_NAME"; then
      # The job may have ended between the checks above and this one: look once more before calling it lost.
      [[ -s $job/result.json || -e $job/failed ]] && continue
      echo "no snapshot job for run $run_id on this host" >&2
      exit 6
    fi
    if ((SECONDS >= deadline)); then
      echo "the snapshot job still runs after ${wait_seconds}s" >&2
      exit 4
    fi
    sleep 0.2
  done
}
