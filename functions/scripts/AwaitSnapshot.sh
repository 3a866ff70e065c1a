#!/usr/bin/env bash
# AwaitSnapshot: on the host that runs the run's snapshot job (SnapshotCluster.sh), wait until the job
# has ended and report it.
# Usage: AwaitSnapshot.sh RUN_ID WAIT_SECONDS
# Exit codes (lib/exitCodes.sh):
#   0  done: prints the job's result, {"bytes":N,"sha256":"…","status":{…}}
#   1  the job failed (its log on stderr: a failed save or upload, or `snapshot status` rejecting the
#      snapshot); its state is cleared so SnapshotCluster.sh starts it again
#   2  bad arguments
#   4  not ready yet: the job still runs after WAIT_SECONDS
#   6  no job for this run runs here and none has succeeded (never started, or lost in a reboot)
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"
# shellcheck source=functions/scripts/lib/args.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/args.sh"
# shellcheck source=functions/scripts/lib/jobs.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/jobs.sh"

run_id=${1:-}
wait_seconds=${2:-}
check_run_id "$run_id"
[[ $wait_seconds =~ ^[0-9]{1,5}$ ]] || { echo "bad wait seconds: $wait_seconds" >&2; exit 2; }

job=$(job_dir "$run_id" snapshot)

snapshot_job_wait "$job" "$run_id" "$wait_seconds"
