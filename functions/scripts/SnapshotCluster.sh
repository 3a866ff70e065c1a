#!/usr/bin/env bash
# SnapshotCluster: on a healthy member, start the run's snapshot job in the background and return at
# once. The job saves a snapshot, checks it with `snapshot status`, hashes it and uploads it to the
# artifact store through a short-lived URL, all three side by side; AwaitSnapshot.sh waits for it.
# Usage: SnapshotCluster.sh RUN_ID ENDPOINT, with UPLOAD_URL=<url> on stdin (lib/secrets.sh)
# The job yields, at low CPU and I/O priority, to etcd and to the new member's catch-up, which it
# overlaps: the run waits for it only once the new member has joined.
# Prints {"job":"started"|"running"|"done"}. Idempotent: a job that runs or has succeeded for this run
# is never started twice; a failed or lost one is started again.
#
# Job state, in /run/etcd-replace/RUN_ID/snapshot (cleared by a reboot, which also ends the job):
#   pid          the job's process (its own session, so the end of this command does not end it)
#   upload-url   the URL, for the job to read (root only, 0600); the job removes it once read
#   result.json  written last, only when the snapshot was checked and uploaded
#   failed       written when the job failed (its exit code); its log says why
# Exit codes (lib/exitCodes.sh): 0 the job started, runs or has succeeded; 1 failed; 2 bad arguments.
# The job's own failure is AwaitSnapshot.sh's to report.
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/args.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/args.sh"
# shellcheck source=functions/scripts/lib/jobs.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/jobs.sh"
# shellcheck source=functions/scripts/lib/secrets.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/secrets.sh"

run_id=${1:-}
endpoint=${2:-}
UPLOAD_URL=''
secrets_read UPLOAD_URL
check_run_id "$run_id"
[[ $endpoint =~ ^https://[A-Za-z0-9.-]+:[0-9]{1,5}$ ]] || { echo "bad endpoint: $endpoint" >&2; exit 2; }
check_url "$UPLOAD_URL" "no upload URL on stdin"
(($# <= 2)) || { echo "usage: SnapshotCluster.sh RUN_ID ENDPOINT" >&2; exit 2; }

job=$(job_dir "$run_id" snapshot)

# The detached job. It runs in a shell of its own (errexit set there too); its EXIT trap removes the
# snapshot file and, when the job failed, records the exit code in "failed".
# shellcheck disable=SC2317 # run through declare -f, in the detached job's own shell
snapshot_job() {
  job=$1 endpoint=$2 code=0
  upload_url=$(<"$job/upload-url")
  rm -f "$job/upload-url"
  # Hold no descriptor of the command that started the job (a pipe kept open would make it wait).
  for fd in /proc/self/fd/*; do
    fd=${fd##*/}
    if ((fd > 2)); then eval "exec ${fd}>&-" 2>/dev/null || true; fi
  done
  workdir=$(mktemp -d /var/tmp/etcd-snapshot.XXXXXX)
  trap 'code=$?; rm -rf "$workdir"; ((code == 0)) || echo "$code" >"$job/failed"' EXIT
  # The job yields to etcd on this host and to the new member's catch-up: lowest CPU and disk priority
  # short of idle (which a busy disk could starve). Its children inherit both.
  renice -n 10 -p "$BASHPID" >/dev/null 2>&1 || true
  ionice -c 2 -n 7 -p "$BASHPID" >/dev/null 2>&1 || true
  snapshot="$workdir/snapshot.db"
  ETCDCTL_API=3 etcdctl --cacert=/etc/etcd/ca.crt --cert=/etc/etcd/peer.crt --key=/etc/etcd/peer.key \
    --endpoints="$endpoint" --command-timeout=300s snapshot save "$snapshot"
  bytes=$(stat -c %s "$snapshot")
  # Check, hash and upload read the same file: run them side by side, then require all three to pass.
  ETCDCTL_API=3 etcdctl snapshot status "$snapshot" -w json >"$workdir/status.json" &
  check=$!
  # openssl's SHA-256 uses the CPU's SHA extensions: about 1 s for 1.3 GB where sha256sum took 3.8 s.
  openssl dgst -sha256 -r "$snapshot" >"$workdir/sha256" &
  hash=$!
  curl_url "$upload_url" -fsS --connect-timeout 5 --retry 2 --max-time 1800 --upload-file "$snapshot" &
  upload=$!
  wait "$check" || { echo "snapshot status rejects the snapshot"; exit 1; }
  wait "$hash"
  wait "$upload" || { echo "could not upload the snapshot"; exit 1; }
  printf '{"bytes":%s,"sha256":"%s","status":%s}\n' "$bytes" "$(cut -d' ' -f1 "$workdir/sha256")" "$(cat "$workdir/status.json")" >"$job/result.json.tmp"
  mv "$job/result.json.tmp" "$job/result.json"
}

# The job's state as found or made, printed.
report() {
  printf '{"job":"%s"}\n' "$1"
  exit 0
}

umask 077
mkdir -p "$job"
if [[ -s $job/result.json ]]; then report "done"; fi
if job_running "$job" "$SNAPSHOT_JOB_NAME"; then report running; fi
rm -f "$job/failed" "$job/pid" "$job/result.json.tmp"
printf '%s\n' "$UPLOAD_URL" >"$job/upload-url"
setsid bash -c "set -o errexit -o nounset -o pipefail; $(declare -f snapshot_job curl_url); snapshot_job \"\$@\"" "$SNAPSHOT_JOB_NAME" "$job" "$endpoint" \
  </dev/null >"$job/log" 2>&1 &
echo "$!" >"$job/pid"
# Return once the job shows as running (setsid has exec'd it), so an AwaitSnapshot.sh that follows at
# once finds it; a job that already ended has written its result or its failure by then.
for _ in $(seq 1 100); do
  job_running "$job" "$SNAPSHOT_JOB_NAME" || [[ -e $job/result.json || -e $job/failed ]] && break
  sleep 0.02
done
report started
