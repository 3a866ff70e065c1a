#!/usr/bin/env bash
# RunScaleupPlaybook: on the installer host, run openshift-ansible's etcd scaleup playbook as the
# runbook does (37.2.1 step 2):
#   cd ANSIBLE_DIR && ansible-playbook -i INVENTORY playbooks/openshift-etcd/scaleup.yml [-e VAR=VALUE...] [--limit 'all:localhost:!FAILED...']
# as a job of its own session that outlives this command (a real scaleup takes longer than one step may
# wait), then wait up to WAIT_SECONDS for it to end. Idempotent: a job that runs or has ended for this
# run is never started twice; this command waits for it, or reports it.
# Usage: RunScaleupPlaybook.sh RUN_ID ANSIBLE_DIR INVENTORY WAIT_SECONDS start|report|restart EXTRA_VARS [FAILED_HOST...]
#   start (default): start the job when this run has none, then wait; report: never start one;
#   restart: start again after a job that was lost (the step has checked it added no member).
#   EXTRA_VARS: `-`, or VAR=VALUE,... (VAR lower case, VALUE digits) passed as -e VAR=VALUE: what the
#   new member must share with the members (etcd_quota_backend_bytes).
#   FAILED_HOST: the names the inventory may give the failed member's host, left out of every play with
#   --limit (it is down, or about to be emptied: gathering its facts would fail the playbook, and its
#   master is RollMasters' to correct); `localhost` stays in, for openshift-ansible's local plays.
#   A master outside [etcd] and [new_etcd] that Ansible cannot reach when the job starts is left out the
#   same way, and the log says so ("left out of every play: HOST"): openshift-ansible stops at the first
#   host it cannot gather facts from, and that master's config is RollMasters' to correct too.
#   UPLOAD_URL on stdin (lib/secrets.sh), optional: once the job has ended, its full output is uploaded
#   there by the command that finds it ended (a URL minted for that command, so it has not expired).
# Prints {"state":"done","exit":N,"seconds":S,"uploaded":bool,"digest":"BASE64"} once the job has ended,
# whatever the playbook's own exit code N; DIGEST is the output's PLAY, TASK, failure and PLAY RECAP lines.
# Prints {"state":"none"} with `report` when this run has no job here (never started, or lost in a
# reboot), and {"state":"lost"} when its job ended without an exit code (killed) and is not restarted.
# Job state, in /run/etcd-replace/RUN_ID/scaleup (lib/jobs.sh): pid, log, exit (written last).
# Exit codes (lib/exitCodes.sh): 0 as above; 1 failed; 2 bad arguments; 3 refused, nothing started:
# ansible-playbook or the playbook is missing; 4 not ready yet: the playbook still runs after
# WAIT_SECONDS (its last TASK line on stderr).
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/args.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/args.sh"
# shellcheck source=functions/scripts/lib/jobs.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/jobs.sh"
# shellcheck source=functions/scripts/lib/secrets.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/secrets.sh"

readonly PLAYBOOK=playbooks/openshift-etcd/scaleup.yml

run_id=${1:-}
ansible_dir=${2:-}
inventory=${3:-}
wait_seconds=${4:-}
mode=${5:-start}
extra_vars=${6:--}
shift $(($# < 6 ? $# : 6))
vars=()
if [[ $extra_vars != - ]]; then
  IFS=, read -r -a pairs <<<"$extra_vars"
  for pair in "${pairs[@]}"; do
    [[ $pair =~ ^[a-z_]{1,64}=[0-9]{1,20}$ ]] || bad_argument "bad extra var: $pair"
    vars+=(-e "$pair")
  done
fi
excluded=()
for host in "$@"; do
  [[ $host =~ $ARGS_HOSTNAME_RE || $host =~ $ARGS_IPV4_RE ]] || bad_argument "bad failed host: $host"
  excluded+=("$host")
done
UPLOAD_URL=''
secrets_read UPLOAD_URL
check_run_id "$run_id"
check_path "$ansible_dir" "openshift-ansible directory"
check_path "$inventory" "inventory path"
[[ $wait_seconds =~ ^[0-9]{1,5}$ ]] || bad_argument "bad wait seconds: $wait_seconds"
[[ $mode =~ ^(start|report|restart)$ ]] || bad_argument "bad mode: $mode"
[ -z "$UPLOAD_URL" ] || check_url "$UPLOAD_URL" "bad upload url"

job=$(job_dir "$run_id" scaleup)

# The detached job: the playbook, its output in the log, its exit code written last.
scaleup_job() {
  job=$1 ansible_dir=$2 inventory=$3 playbook=$4
  shift 4
  # "$@": -e VAR=VALUE..., then -- and the hosts to leave out.
  local args=() pattern='all:localhost' host
  while (($# > 0)) && [[ $1 != -- ]]; do args+=("$1"); shift; done
  shift
  for host in "$@"; do pattern+=":!$host"; done
  for fd in /proc/self/fd/*; do
    fd=${fd##*/}
    if ((fd > 2)); then eval "exec ${fd}>&-" 2>/dev/null || true; fi
  done
  code=0
  date +%s >"$job/started"
  cd "$ansible_dir"
  export HOME=${HOME:-/root}
  # Masters no etcd work needs that cannot be reached now: left out, as the failed host is.
  while read -r host _; do
    [[ -n $host ]] || continue
    echo "etcd-replace: left out of every play: $host (a master Ansible cannot reach)"
    pattern+=":!$host"
  done < <(ANSIBLE_NOCOLOR=1 ansible -i "$inventory" 'masters:!etcd:!new_etcd' --limit "$pattern" -m ping -o 2>/dev/null | grep -E '\| UNREACHABLE' | cut -d' ' -f1 || true)
  [[ $pattern == all:localhost ]] || args+=(--limit "$pattern")
  ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_RETRY_FILES_ENABLED=0 \
    ansible-playbook -i "$inventory" "$playbook" ${args[@]+"${args[@]}"} || code=$?
  date +%s >"$job/ended"
  echo "$code" >"$job/exit.tmp"
  mv "$job/exit.tmp" "$job/exit"
}

report() {
  local started ended uploaded=false
  started=$(cat "$job/started" 2>/dev/null || echo 0)
  ended=$(cat "$job/ended" 2>/dev/null || echo "$started")
  if [ -n "$UPLOAD_URL" ] && curl_url "$UPLOAD_URL" -fsS --connect-timeout 5 --retry 2 --max-time 300 --upload-file "$job/log" >&2; then
    uploaded=true
  fi
  printf '{"state":"done","exit":%s,"seconds":%s,"uploaded":%s,"digest":"%s"}\n' "$(cat "$job/exit")" "$((ended - started))" "$uploaded" \
    "$(digest <"$job/log" | base64 -w0)"
}

# What the workflow reads of the output, small enough for any command's output limit: each failure
# with the TASK line before it, Ansible's own ERROR!, the last TASK line, and the PLAY RECAP.
digest() {
  awk '
    /^TASK \[/ { task = $0; shown = 0; next }
    /^etcd-replace: / { print; next }
    /^(fatal|failed): / || /^ERROR! / { if (task != "" && !shown) { print task; shown = 1 } print substr($0, 1, 600); next }
    /^PLAY RECAP/ { recap = 1 }
    recap && NF { print substr($0, 1, 300) }
    END { if (!recap && task != "") print task }
  '
}

umask 077
if [[ $mode == restart ]]; then
  # Only after the step has found that the lost job added no member (RunScaleupPlaybook.ts).
  ! job_running "$job" "$SCALEUP_JOB_NAME" || { echo "the scaleup job of run $run_id still runs; not restarting it" >&2; exit 3; }
  rm -rf "$job"
fi
if [[ ! -e $job/exit ]] && ! job_running "$job" "$SCALEUP_JOB_NAME"; then
  if [[ $mode == report || -e $job/pid ]]; then
    # Never started here, or started and lost without an exit code (its process ended with the host).
    [[ -e $job/pid ]] && echo '{"state":"lost"}' || echo '{"state":"none"}'
    exit 0
  fi
  command -v ansible-playbook >/dev/null || { echo "ansible-playbook is not installed on this host; nothing was started" >&2; exit 3; }
  [[ -f $ansible_dir/$PLAYBOOK ]] || { echo "$ansible_dir/$PLAYBOOK does not exist on this host; nothing was started" >&2; exit 3; }
  [[ -f $inventory ]] || { echo "$inventory does not exist on this host; nothing was started" >&2; exit 3; }
  mkdir -p "$job"
  setsid bash -c "set -o nounset -o pipefail; $(declare -f scaleup_job); scaleup_job \"\$@\"" "$SCALEUP_JOB_NAME" "$job" "$ansible_dir" "$inventory" "$PLAYBOOK" ${vars[@]+"${vars[@]}"} -- ${excluded[@]+"${excluded[@]}"} \
    </dev/null >"$job/log" 2>&1 &
  echo "$!" >"$job/pid"
  # Go on once the job shows as running (setsid has exec'd it) or has already ended.
  for _ in $(seq 1 100); do
    job_running "$job" "$SCALEUP_JOB_NAME" || [[ -e $job/exit ]] && break
    sleep 0.02
  done
fi

deadline=$((SECONDS + wait_seconds))
for (( ; ; )); do
  if [[ -e $job/exit ]]; then
    report
    exit 0
  fi
  if ! job_running "$job" "$SCALEUP_JOB_NAME"; then
    [[ -e $job/exit ]] && continue
    echo '{"state":"lost"}'
    exit 0
  fi
  if ((SECONDS >= deadline)); then
    echo "the scaleup playbook still runs after ${wait_seconds}s, at $(grep -E '^TASK \[' "$job/log" | tail -n 1 || echo 'its start')" >&2
    exit 4
  fi
  sleep 0.5
done
