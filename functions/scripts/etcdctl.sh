#!/usr/bin/env bash
# etcdctl.sh VERB ENDPOINTS [ARGS...]
#
# Runs one whitelisted etcdctl v3 verb on an etcd member host, with the host's peer certificate as the
# client identity, and prints etcdctl's JSON (-w json) on stdout.
# Exit codes (lib/exitCodes.sh):
#   0  done
#   1  etcdctl failed: its stderr on stderr, then "etcdctl exited N" (etcdctl's own code, which says
#      little: etcd's message does, functions/adapters/etcdctl.ts reads it)
#   2  bad arguments: refused before etcdctl ran
#
#   member-list        ENDPOINTS
#   endpoint-status    ENDPOINTS   one JSON line per endpoint (see below), exit 0
#   endpoint-health    ENDPOINTS   one JSON line per endpoint (see below), exit 0
#   observe            ENDPOINTS STATUS_ENDPOINTS [QUICK_ENDPOINTS]   member-list and endpoint-status at once (see below)
#   member-add         ENDPOINTS PEER_URL [NAME]
#   member-add-learner ENDPOINTS PEER_URL [NAME]
#   member-remove      ENDPOINTS MEMBER_ID
#   member-promote     ENDPOINTS MEMBER_ID
#   member-update      ENDPOINTS MEMBER_ID PEER_URLS
#   guarded-remove       ENDPOINTS STATUS_ENDPOINTS CLUSTER_ID EXPECT MEMBER_ID
#   guarded-add          ENDPOINTS STATUS_ENDPOINTS CLUSTER_ID EXPECT PEER_URL [NAME]
#   guarded-add-learner  ENDPOINTS STATUS_ENDPOINTS CLUSTER_ID EXPECT PEER_URL [NAME]
#
# ENDPOINTS, STATUS_ENDPOINTS: comma-separated https://host:port. MEMBER_ID: 16 hex digits.
# PEER_URL: https://host:2380. PEER_URLS: comma-separated PEER_URL. NAME: a hostname (only printed by
# etcdctl; etcd does not store it).
#
# Works with etcdctl 3.2, 3.3 and 3.4: only verbs and flags all three have (no --cluster, which 3.2
# lacks; `endpoint status` asks exactly the endpoints given in every version), and the learner verbs
# only where the workflow found every member on 3.4 or later.
#
# endpoint-status and endpoint-health ask each endpoint on its own, all at once, so one
# endpoint that does not answer cannot hide the others' answers nor add its timeout to theirs. Each
# endpoint gets one line, in the order ENDPOINTS names them:
#   {"endpoint":"https://...","ok":true,"result":<etcdctl's JSON array>}
#   {"endpoint":"https://...","ok":false,"exitCode":N,"error":"<etcdctl's stderr>","output":"<etcdctl's stdout>"}
# While etcdctl asks an endpoint, TCP connects to it run alongside, each bounded to 2 s (etcdctl's
# status timeout, so none ever makes an answer later). When a connect is refused (nothing listens: etcd
# is down) or finds no route to the host (it is gone from the network), etcdctl is stopped and the line
# says so at once, with etcdctl's exit code for an endpoint it cannot reach:
#   {"endpoint":"https://...","ok":false,"exitCode":1,"error":"connection refused (TCP probe)","output":""}
#   {"endpoint":"https://...","ok":false,"exitCode":1,"error":"no route to host (TCP probe)","output":""}
# A host that is up completes a TCP handshake within milliseconds on its own network, however busy its
# etcd: the kernel answers the SYN and the listen queue holds the connection. So when CONNECT_TRIES
# connects, started CONNECT_GAP_MS apart (each its own SYN, and its own retransmissions), have none of
# them connected after CONNECT_WAIT_MS, the host does not answer on the network (powered off: a stopped
# EC2 instance, whose packets the VPC drops; cut off) and the line says so:
#   {"endpoint":"https://...","ok":false,"exitCode":1,"error":"no answer to 3 TCP connects in 450 ms (TCP probe)","output":""}
# One dropped SYN, or two, never makes a live member look down. Anything else (a connect that succeeded,
# a name that does not resolve, no `timeout` or /dev/tcp) leaves the answer to etcdctl. A host that is
# powered off answers "no route to host" once its neighbours' ARP entries have expired (measured in the
# sandbox: from about 25 s after power-off, within 0.1-1.3 s); before that, and on networks that drop
# its packets, the connects' silence tells.
#
# observe runs `member list` over ENDPOINTS (as member-list does) and endpoint-status over
# STATUS_ENDPOINTS concurrently: one host command for one observation of the cluster. It prints first
#   {"members":<etcdctl's member list JSON>}
# (with "etcdctl":"<this host's etcdctl release>" beside "members") then the endpoint-status lines, and exits 0. When member list fails the first line is
#   {"members":null,"exitCode":N,"error":"<etcdctl's stderr>"}
# (the status lines still follow), etcdctl's stderr goes to stderr and the verb exits 1.
# QUICK_ENDPOINTS (comma-separated, of STATUS_ENDPOINTS): endpoints of a member final evidence reports gone
# (EC2: its instance terminated), asked within QUICK_DIAL and QUICK_COMMAND: a live member on the same
# network answers `endpoint status` in milliseconds, and such a member answers no more.
#
# The guarded verbs make one membership change in the same host command as the observation it is safe
# for: the workflow predicts the view (which members, which of them answer), judges that prediction,
# and the host changes nothing unless it sees exactly that view. Each observes first, exactly as
# observe does, and prints the same lines; then one verdict line:
#   {"guard":"accepted","expected":"<fingerprint>","seen":"<fingerprint>"}
#   {"guard":"refused","expected":"<fingerprint>","seen":"<fingerprint>"}
# Refused: nothing was changed and the verb exits 0 (the workflow observes again and judges the real
# view). Accepted: the change runs, as member-remove or member-add would, and its JSON follows as
#   {"change":<etcdctl's JSON>}
# and, after an add, the member list as it stands then (null when that read failed; the add stands):
#   {"membersAfter":<etcdctl's member list JSON>}
# A change etcd refuses exits 1 with etcd's message on stderr, as the plain verbs do.
# CLUSTER_ID: 16 hex digits. EXPECT: comma list of ID:FLAG:ANSWERS, one per member the workflow
# predicts, FLAG v (voter) or l (learner), ANSWERS the client URL at which the member must answer
# `endpoint status` as itself, or - when the prediction does not count it as answering. The fingerprint
# (statemachine/viewFingerprint.ts computes the same): the members sorted by ID, each ID:FLAG:1 or
# ID:FLAG:0, comma-joined. A member counts 1 in what the host sees only when the prediction names its
# URL, its first advertised client URL is that URL, and the status there reports this member of
# CLUSTER_ID; its FLAG is the member list's isLearner. The expected fingerprint is EXPECT's, 1 where it
# names a URL.
set -o errexit -o nounset -o pipefail
# shellcheck source=functions/scripts/lib/exitCodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/exitCodes.sh"

readonly EXIT_USAGE=2
readonly CACERT=/etc/etcd/ca.crt
readonly CERT=/etc/etcd/peer.crt
readonly KEY=/etc/etcd/peer.key

usage() {
  printf 'etcdctl.sh: %s\n' "$1" >&2
  exit "$EXIT_USAGE"
}

readonly OCTET='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
readonly IPV4="^${OCTET}(\\.${OCTET}){3}\$"
readonly LABEL='[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?'
readonly HOSTNAME_RE="^${LABEL}(\\.${LABEL})*\$"

valid_host() {
  local host=$1
  if [[ $host =~ ^[0-9.]+$ ]]; then
    [[ $host =~ $IPV4 ]]
  else
    [[ ${#host} -le 253 && $host =~ $HOSTNAME_RE && ! $host =~ \.[0-9]+$ ]]
  fi
}

# https://<hostname or ipv4>:<port>, nothing else. $2 is the required port, or empty for any port.
valid_url() {
  local url=$1 want_port=$2 rest host port
  [[ $url == https://* ]] || return 1
  rest=${url#https://}
  [[ $rest =~ ^([a-z0-9.-]+):([1-9][0-9]{0,4})$ ]] || return 1
  host=${BASH_REMATCH[1]}
  port=${BASH_REMATCH[2]}
  ((port <= 65535)) || return 1
  [[ -z $want_port || $port == "$want_port" ]] || return 1
  valid_host "$host"
}

# Sets `name`, the name `member add` is given: NAME ($2) when given, else the peer URL's host ($1,
# checked by valid_url). Only printed by etcdctl: etcd does not store it. A bad name exits through usage.
member_name() {
  name=${2:-${1#https://}}
  name=${name%:2380}
  valid_host "$name" || usage 'name must be a hostname or an IPv4 address'
}

# Comma list of URLs, each checked by valid_url with port $2 (or any port when empty).
valid_url_list() {
  local list=$1 want_port=$2 item
  local -a items
  [[ -n $list && $list != *, && $list != ,* && $list != *,,* ]] || return 1
  IFS=, read -r -a items <<<"$list"
  ((${#items[@]} > 0)) || return 1
  for item in "${items[@]}"; do
    valid_url "$item" "$want_port" || return 1
  done
}

valid_member_id() {
  [[ $1 =~ ^[0-9a-f]{16}$ && $1 != 0000000000000000 ]]
}

# A JSON string literal for arbitrary text: backslash, quote and control characters escaped.
json_string() {
  local text=$1 out='' char code i
  for ((i = 0; i < ${#text}; i++)); do
    char=${text:i:1}
    case $char in
      "\\") out+="\\\\" ;;
      '"') out+='\"' ;;
      $'\n') out+='\n' ;;
      $'\r') out+='\r' ;;
      $'\t') out+='\t' ;;
      *)
        printf -v code '%d' "'$char" 2>/dev/null || code=63
        if ((code >= 0 && code < 32)) || ((code == 127)); then
          printf -v char '\\u%04x' "$code"
        fi
        out+=$char
        ;;
    esac
  done
  printf '"%s"' "$out"
}

[[ $# -ge 2 ]] || usage 'usage: etcdctl.sh VERB ENDPOINTS [ARGS...]'
for arg in "$@"; do
  [[ $arg != *[[:cntrl:]]* ]] || usage 'arguments must not contain control characters'
done
VERB=$1
ENDPOINTS=$2
shift 2
valid_url_list "$ENDPOINTS" '' || usage "endpoints must be a comma list of https://host:port"

# Timeouts. etcdctl 3.4 does not block on the dial: an endpoint that does not answer (powered off, cut
# off) costs the whole command timeout, whatever the dial timeout (measured: 5.0 s with
# --command-timeout=5s, 2.0 s with 2s, for dial 1s and 3s alike). `endpoint status` is answered by the
# member itself, with no consensus round, in milliseconds on a LAN or VPC: 2 s is ample. `endpoint
# health` makes a linearizable read through the leader; it keeps 3 s. A member on the same network
# connects and completes TLS in milliseconds, so 1 s to dial is plenty. The endpoints are asked
# concurrently, so one that does not answer costs its timeout once, not once per endpoint. Membership
# verbs (member list and the changes) go through the cluster and keep 5 s to dial, 15 s in all.
readonly MEMBERSHIP_DIAL=5s MEMBERSHIP_COMMAND=15s
readonly STATUS_DIAL=1s STATUS_COMMAND=2s
readonly HEALTH_DIAL=1s HEALTH_COMMAND=3s
readonly QUICK_DIAL=500ms QUICK_COMMAND=500ms
# observe's QUICK_ENDPOINTS, as ",a,b," (empty: none).
QUICK_LIST=''
readonly PROBE_SECONDS=2
# The TCP connects that judge a silent host (above): CONNECT_TRIES of them, CONNECT_GAP_MS apart, none
# connected after CONNECT_WAIT_MS. A live host answers in about a millisecond on a LAN or within a VPC.
readonly CONNECT_TRIES=3 CONNECT_GAP_MS=150 CONNECT_WAIT_MS=450
# An endpoint is watched every POLL_MS. observe gives one whose member the survivors report
# disconnected PEER_GRACE_MS to answer before it counts as down: a live member answers `endpoint
# status` in milliseconds.
readonly POLL_MS=50 PEER_GRACE_MS=250
readonly PEER_GRACE_POLLS=$((PEER_GRACE_MS / POLL_MS)) CONNECT_GAP_POLLS=$((CONNECT_GAP_MS / POLL_MS)) CONNECT_WAIT_POLLS=$((CONNECT_WAIT_MS / POLL_MS))
printf -v POLL_SECONDS '%d.%03d' $((POLL_MS / 1000)) $((POLL_MS % 1000))
readonly POLL_SECONDS
PEER_VIEW=''

# etcdctl 3.4 has no JSON printer for `member promote` (it panics): that verb prints simple text.
OUTPUT=json
[[ $VERB != member-promote ]] || OUTPUT=simple
export ETCDCTL_API=3

# exec_etcdctl ENDPOINTS DIAL_TIMEOUT COMMAND_TIMEOUT ARGS...
# Replaces the calling shell with etcdctl: call it in a subshell (see run_etcdctl) or as a background
# job (whose $! is then etcdctl itself, so `kill` stops it).
exec_etcdctl() {
  local endpoints=$1 dial=$2 command=$3
  shift 3
  exec etcdctl \
    --cacert="$CACERT" --cert="$CERT" --key="$KEY" \
    --endpoints="$endpoints" \
    --dial-timeout="$dial" --command-timeout="$command" \
    -w "$OUTPUT" "$@"
}

# run_etcdctl ENDPOINTS DIAL_TIMEOUT COMMAND_TIMEOUT ARGS...: etcdctl as the verb's last command; its
# failure, whatever etcdctl's own exit code, exits 1 (etcdctl's 2 or 3 are not this script's words).
run_etcdctl() {
  local code=0
  (exec_etcdctl "$@") || code=$?
  ((code == 0)) || etcdctl_failed "$code"
}

etcdctl_failed() {
  printf 'etcdctl exited %d\n' "$1" >&2
  exit 1
}

# tcp_probe ENDPOINT: one TCP connect, bounded to PROBE_SECONDS. Prints "connected"; or why it failed
# when that proves nobody can answer there (refused: nothing listens; no route to the host); or
# "undecided" (a name that does not resolve, no `timeout` or /dev/tcp); nothing when no answer came.
tcp_probe() {
  local address=${1#https://} err code=0
  # C locale: bash prints the connect error with strerror(), which is translated otherwise.
  # shellcheck disable=SC2016 # $0 and $1 are the inner bash's arguments
  err=$(LC_ALL=C timeout "$PROBE_SECONDS" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "${address%:*}" "${address##*:}" 2>&1) || code=$?
  if ((code == 0)); then
    printf 'connected'
    return
  fi
  case $err in
    *'Connection refused'*) printf 'connection refused (TCP probe)' ;;
    *'No route to host'*) printf 'no route to host (TCP probe)' ;;
    *) ((code == 124)) || printf 'undecided' ;;
  esac
}

# tcp_verdict WORK STARTED POLLS: the TCP probes' word on the endpoint so far (WORK.probe-N, STARTED of
# them started, POLLS polls since the first), in TCP_SAID (no subshell: it runs every poll): why it is
# down (a refusal, or CONNECT_TRIES probes silent for CONNECT_WAIT_MS); "up" when a probe connected or
# cannot judge (etcdctl decides); empty while the probes may still tell.
tcp_verdict() {
  local work=$1 started=$2 polls=$3 i said
  TCP_SAID=''
  for ((i = 0; i < started; i++)); do
    said=''
    [[ ! -s $work.probe-$i ]] || IFS= read -r said <"$work.probe-$i" || true
    case $said in
      '') ;;
      connected | undecided)
        TCP_SAID=up
        return
        ;;
      *)
        TCP_SAID=$said
        return
        ;;
    esac
  done
  if ((started == CONNECT_TRIES && polls >= CONNECT_WAIT_POLLS)); then
    printf -v TCP_SAID 'no answer to %d TCP connects in %d ms (TCP probe)' "$CONNECT_TRIES" "$CONNECT_WAIT_MS"
  fi
}

# endpoint_line ENDPOINT WORKFILE DIAL_TIMEOUT COMMAND_TIMEOUT ARGS...
# The line for one endpoint, asked on its own; etcdctl's stdout and stderr go through WORKFILE.out/.err.
endpoint_line() {
  local endpoint=$1 work=$2 dial=$3 command=$4 pid polls=0 down='' tcp='' out err code=0
  local -a probes=()
  shift 4
  exec_etcdctl "$endpoint" "$dial" "$command" "$@" >"$work.out" 2>"$work.err" &
  pid=$!
  # Until etcdctl answers: stop at once on the TCP probes' word that nobody can answer there, or after
  # PEER_GRACE_POLLS on the survivors' word.
  while kill -0 "$pid" 2>/dev/null; do
    if [[ -z $tcp ]]; then
      if ((${#probes[@]} < CONNECT_TRIES && polls == ${#probes[@]} * CONNECT_GAP_POLLS)); then
        tcp_probe "$endpoint" >"$work.probe-${#probes[@]}" 2>/dev/null &
        probes+=("$!")
      fi
      tcp_verdict "$work" "${#probes[@]}" "$polls"
      tcp=$TCP_SAID
      if [[ -n $tcp && $tcp != up ]]; then
        down=$tcp
        break
      fi
    fi
    if ((polls >= PEER_GRACE_POLLS)) && [[ -n $PEER_VIEW ]] && peer_view_fetched && down=$(peers_report_inactive "$endpoint"); then
      break
    fi
    polls=$((polls + 1))
    sleep "$POLL_SECONDS"
  done
  kill "${probes[@]}" 2>/dev/null || true
  if [[ -n $down ]]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    printf '{"endpoint":%s,"ok":false,"exitCode":1,"error":%s,"output":""}\n' "$(json_string "$endpoint")" "$(json_string "$down")"
    return
  fi
  wait "$pid" || code=$?
  out=$(cat "$work.out")
  err=$(cat "$work.err")
  if ((${#err} > 4000)); then err=${err: -4000}; fi
  out=${out//$'\n'/}
  # etcdctl 3.2 and 3.3 ignore -w json for `endpoint health` and print "<endpoint> is healthy: ..." on
  # stdout (the unhealthy line goes to stderr with a non-zero exit): the same answer as 3.4's JSON.
  if ((code == 0)) && [[ $out == "$endpoint is healthy"* ]]; then
    out="[{\"endpoint\":$(json_string "$endpoint"),\"health\":true}]"
  fi
  if ((code == 0)) && [[ $out == \[* ]]; then
    printf '{"endpoint":%s,"ok":true,"result":%s}\n' "$(json_string "$endpoint")" "$out"
  else
    printf '{"endpoint":%s,"ok":false,"exitCode":%d,"error":%s,"output":%s}\n' \
      "$(json_string "$endpoint")" "$code" "$(json_string "$err")" "$(json_string "$out")"
  fi
}

# per_endpoint WORKDIR ENDPOINTS DIAL_TIMEOUT COMMAND_TIMEOUT ARGS...
# One line per endpoint, all endpoints asked at once (background jobs), printed in ENDPOINTS order.
per_endpoint() {
  local workdir=$1 list=$2 dial=$3 command=$4 i
  local -a endpoints pids
  shift 4
  IFS=, read -r -a endpoints <<<"$list"
  for i in "${!endpoints[@]}"; do
    if [[ $QUICK_LIST == *",${endpoints[i]},"* ]]; then
      endpoint_line "${endpoints[i]}" "$workdir/status-$i" "$QUICK_DIAL" "$QUICK_COMMAND" "$@" >"$workdir/status-$i.line" &
    else
      endpoint_line "${endpoints[i]}" "$workdir/status-$i" "$dial" "$command" "$@" >"$workdir/status-$i.line" &
    fi
    pids+=("$!")
  done
  for i in "${!pids[@]}"; do
    wait "${pids[i]}" || true
  done
  for i in "${!endpoints[@]}"; do
    cat "$workdir/status-$i.line"
  done
}

# A fresh work directory, removed when the script exits.
make_workdir() {
  WORKDIR=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: the path is fixed
  trap "rm -rf '$WORKDIR'" EXIT
}

# The survivors' own view of their peers: etcd_network_active_peers from each of ENDPOINTS' /metrics
# (etcd 3.3 and later; 3.2 has no such gauge, so there a member counts as down only on the TCP probe
# or etcdctl's own timeout),
# fetched in the background into WORKDIR/metrics-N.txt (metrics-N.done once complete). Prints the pids.
fetch_peer_view() {
  local i
  local -a endpoints
  IFS=, read -r -a endpoints <<<"$ENDPOINTS"
  for i in "${!endpoints[@]}"; do
    {
      curl -sS --max-time "$PROBE_SECONDS" --cacert "$CACERT" --cert "$CERT" --key "$KEY" "${endpoints[i]}/metrics" |
        grep '^etcd_network_active_peers{' >"$WORKDIR/metrics-$i.txt" && : >"$WORKDIR/metrics-$i.done"
    } </dev/null >/dev/null 2>&1 &
    printf '%s\n' "$!"
  done
}

# Whether any survivor's etcd_network_active_peers has come in (never on etcd 3.2, which has no such
# gauge): until then there is no peers' word to ask for, and no subshell is spent on it each poll.
peer_view_fetched() {
  local file
  for file in "$WORKDIR"/metrics-*.txt; do
    [[ ! -s $file ]] || return 0
  done
  return 1
}

# Prints why ENDPOINT's member counts as down on its peers' word: the member list (done) names it, at
# least one survivor's /metrics reports its peer connection to it inactive (etcd_network_active_peers 0:
# etcd's raft streams to it broke), and no survivor that answered reports it active. Returns 1 otherwise.
peers_report_inactive() {
  local endpoint=$1 rest chunk id='' file line inactive=0
  [[ $(cat "$WORKDIR/members.done" 2>/dev/null) == 0 ]] || return 1
  rest=$(<"$WORKDIR/members.out")
  # etcdctl's JSON: {"header":{…},"members":[{"ID":<uint64>,…,"clientURLs":[…]},…]}; one member per "ID".
  while [[ $rest =~ \"ID\":([0-9]+)(.*) ]]; do
    rest=${BASH_REMATCH[2]}
    chunk=${rest%%\"ID\":*}
    if [[ $chunk == *"\"$endpoint\""* ]]; then
      # Bash arithmetic wraps a uint64 above 2^63 to its two's complement, which %x prints back.
      printf -v id '%016x' "$((BASH_REMATCH[1]))"
      break
    fi
  done
  [[ -n $id ]] || return 1
  for file in "$WORKDIR"/metrics-*.done; do
    [[ -e $file ]] || continue
    line=$(grep -F "Remote=\"$id\"}" "${file%.done}.txt") || continue
    [[ $line == *'} 0' ]] || return 1
    inactive=$((inactive + 1))
  done
  ((inactive > 0)) || return 1
  printf 'member %s: %d surviving member(s) report their peer connection to it inactive, and it has not answered in %d ms' \
    "$id" "$inactive" "$PEER_GRACE_MS"
}

# This host's etcdctl release ("3.2.22"): the verbs it has decide the learner path (3.4 and later).
etcdctl_version() {
  etcdctl version 2>/dev/null | sed -n 's/^etcdctl version: *//p'
}

# observe STATUS_ENDPOINTS: member list over ENDPOINTS and endpoint status over STATUS_ENDPOINTS at once.
observe() {
  local status_endpoints=$1 pid code=0 statuses out err
  local -a peer_view
  make_workdir
  {
    (exec_etcdctl "$ENDPOINTS" "$MEMBERSHIP_DIAL" "$MEMBERSHIP_COMMAND" member list) >"$WORKDIR/members.out" 2>"$WORKDIR/members.err" || code=$?
    echo "$code" >"$WORKDIR/members.done"
  } &
  pid=$!
  mapfile -t peer_view < <(fetch_peer_view)
  statuses=$(PEER_VIEW=1 per_endpoint "$WORKDIR" "$status_endpoints" "$STATUS_DIAL" "$STATUS_COMMAND" endpoint status)
  wait "$pid" || true
  kill "${peer_view[@]}" 2>/dev/null || true
  code=$(<"$WORKDIR/members.done")
  out=$(cat "$WORKDIR/members.out")
  err=$(cat "$WORKDIR/members.err")
  if ((code == 0)); then
    printf '{"members":%s,"etcdctl":%s}\n' "${out//$'\n'/}" "$(json_string "$(etcdctl_version)")"
  else
    if ((${#err} > 4000)); then err=${err: -4000}; fi
    printf '{"members":null,"exitCode":%d,"error":%s}\n' "$code" "$(json_string "$err")"
  fi
  printf '%s\n' "$statuses"
  if ((code != 0)); then
    printf '%s\n' "$err" >&2
    etcdctl_failed "$code"
  fi
  OBSERVED_MEMBERS=${out//$'\n'/}
  OBSERVED_STATUSES=$statuses
}

# A uint64 in decimal (as etcdctl prints IDs) as 16 hex digits. Bash arithmetic wraps a value above 2^63
# to its two's complement, which %x prints back.
hex_id() {
  printf '%016x' "$(($1))"
}

# One line per member of the member list JSON in $1: "<hex ID> <v|l> <first client URL, or ->".
member_facts() {
  local rest=$1 chunk id flag url
  # etcdctl's JSON: {"header":{…},"members":[{"ID":<uint64>,"name":…,"clientURLs":[…],"isLearner":true},…]}.
  while [[ $rest =~ \"ID\":([0-9]+)(.*) ]]; do
    id=$(hex_id "${BASH_REMATCH[1]}")
    rest=${BASH_REMATCH[2]}
    chunk=${rest%%\"ID\":*}
    flag=v
    if [[ $chunk == *'"isLearner":true'* ]]; then flag=l; fi
    url=-
    if [[ $chunk =~ \"clientURLs\":\[\"([^\"]*)\" ]]; then url=${BASH_REMATCH[1]}; fi
    printf '%s %s %s\n' "$id" "$flag" "$url"
  done
}

# One line per endpoint-status line in $1 that answered: "<endpoint> <hex cluster ID> <hex member ID>".
status_facts() {
  local line endpoint cluster member
  while IFS= read -r line; do
    [[ $line =~ ^\{\"endpoint\":\"([^\"]*)\",\"ok\":true, ]] || continue
    endpoint=${BASH_REMATCH[1]}
    [[ $line =~ \"cluster_id\":([0-9]+) ]] || continue
    cluster=$(hex_id "${BASH_REMATCH[1]}")
    [[ $line =~ \"member_id\":([0-9]+) ]] || continue
    member=$(hex_id "${BASH_REMATCH[1]}")
    printf '%s %s %s\n' "$endpoint" "$cluster" "$member"
  done <<<"$1"
}

# Lines "<ID> <FLAG> <1|0>" on stdin as the fingerprint: sorted by ID, ID:FLAG:N, comma-joined.
fingerprint() {
  LC_ALL=C sort | awk '{ printf "%s%s:%s:%s", (NR > 1 ? "," : ""), $1, $2, $3 }'
}

# The fingerprint EXPECT ($1) predicts.
expected_fingerprint() {
  local item
  local -a items
  IFS=, read -r -a items <<<"$1"
  for item in "${items[@]}"; do
    [[ $item =~ ^([0-9a-f]{16}):([vl]):(.*)$ ]]
    if [[ ${BASH_REMATCH[3]} == - ]]; then
      printf '%s %s 0\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
    else
      printf '%s %s 1\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
    fi
  done | fingerprint
}

# The fingerprint of what this host observed (OBSERVED_MEMBERS, OBSERVED_STATUSES), read against EXPECT
# ($1) for the URL each member must answer at, and CLUSTER_ID ($2).
seen_fingerprint() {
  local expect=$1 cluster=$2 item id flag url answers endpoint status_cluster member
  local -a items
  local -A answers_at=() answered=()
  IFS=, read -r -a items <<<"$expect"
  for item in "${items[@]}"; do
    [[ $item =~ ^([0-9a-f]{16}):([vl]):(.*)$ ]]
    answers_at[${BASH_REMATCH[1]}]=${BASH_REMATCH[3]}
  done
  while read -r endpoint status_cluster member; do
    if [[ $status_cluster == "$cluster" ]]; then answered[$endpoint]=$member; fi
  done < <(status_facts "$OBSERVED_STATUSES")
  while read -r id flag url; do
    answers=0
    if [[ ${answers_at[$id]:--} != - && $url == "${answers_at[$id]}" && ${answered[$url]:-} == "$id" ]]; then answers=1; fi
    printf '%s %s %s\n' "$id" "$flag" "$answers"
  done < <(member_facts "$OBSERVED_MEMBERS") | fingerprint
}

# guarded_change STATUS_ENDPOINTS CLUSTER_ID EXPECT ETCDCTL_ARGS...: observe; the change only when the
# view seen is the view predicted (see the header).
guarded_change() {
  local status_endpoints=$1 cluster=$2 expect=$3 expected seen out code=0 after
  shift 3
  observe "$status_endpoints"
  expected=$(expected_fingerprint "$expect")
  seen=$(seen_fingerprint "$expect" "$cluster")
  if [[ $seen != "$expected" ]]; then
    printf '{"guard":"refused","expected":%s,"seen":%s}\n' "$(json_string "$expected")" "$(json_string "$seen")"
    return
  fi
  printf '{"guard":"accepted","expected":%s,"seen":%s}\n' "$(json_string "$expected")" "$(json_string "$seen")"
  out=$(exec_etcdctl "$ENDPOINTS" "$MEMBERSHIP_DIAL" "$MEMBERSHIP_COMMAND" "$@") || code=$?
  ((code == 0)) || etcdctl_failed "$code"
  printf '{"change":%s}\n' "${out//$'\n'/}"
  [[ $2 == add ]] || return 0
  after=$(exec_etcdctl "$ENDPOINTS" "$MEMBERSHIP_DIAL" "$MEMBERSHIP_COMMAND" member list) || after=null
  printf '{"membersAfter":%s}\n' "${after//$'\n'/}"
}

# Checks the guarded verbs' STATUS_ENDPOINTS, CLUSTER_ID and EXPECT.
valid_guard() {
  local item
  local -a items
  valid_url_list "$1" '' || usage 'status endpoints must be a comma list of https://host:port'
  [[ $2 =~ ^[0-9a-f]{16}$ ]] || usage 'cluster id must be 16 lowercase hex digits'
  [[ -n $3 && $3 != *, && $3 != ,* && $3 != *,,* ]] || usage 'expect must be a comma list of ID:FLAG:URL'
  IFS=, read -r -a items <<<"$3"
  for item in "${items[@]}"; do
    [[ $item =~ ^([0-9a-f]{16}):([vl]):(.*)$ ]] || usage 'expect must be a comma list of ID:FLAG:URL'
    [[ ${BASH_REMATCH[3]} == - ]] || valid_url "${BASH_REMATCH[3]}" '' || usage 'expect: each URL must be https://host:port or -'
  done
}

case $VERB in
  member-list)
    [[ $# -eq 0 ]] || usage 'member-list takes no arguments'
    run_etcdctl "$ENDPOINTS" "$MEMBERSHIP_DIAL" "$MEMBERSHIP_COMMAND" member list
    ;;
  endpoint-status)
    [[ $# -eq 0 ]] || usage 'endpoint-status takes no arguments'
    make_workdir
    per_endpoint "$WORKDIR" "$ENDPOINTS" "$STATUS_DIAL" "$STATUS_COMMAND" endpoint status
    ;;
  endpoint-health)
    [[ $# -eq 0 ]] || usage 'endpoint-health takes no arguments'
    make_workdir
    per_endpoint "$WORKDIR" "$ENDPOINTS" "$HEALTH_DIAL" "$HEALTH_COMMAND" endpoint health
    ;;
  observe)
    [[ $# -eq 1 || $# -eq 2 ]] || usage 'observe takes STATUS_ENDPOINTS [QUICK_ENDPOINTS]'
    valid_url_list "$1" '' || usage 'status endpoints must be a comma list of https://host:port'
    if [[ $# -eq 2 ]]; then
      valid_url_list "$2" '' || usage 'quick endpoints must be a comma list of https://host:port'
      QUICK_LIST=",$2,"
    fi
    observe "$1"
    ;;
  member-add | member-add-learner)
    [[ $# -eq 1 || $# -eq 2 ]] || usage "$VERB takes PEER_URL [NAME]"
    valid_url "$1" 2380 || usage 'peer URL must be https://host:2380'
    peer_url=$1
    member_name "$peer_url" "${2:-}"
    if [[ $VERB == member-add-learner ]]; then
      run_etcdctl "$ENDPOINTS" "$MEMBERSHIP_DIAL" "$MEMBERSHIP_COMMAND" member add "$name" --peer-urls="$peer_url" --learner
    else
      run_etcdctl "$ENDPOINTS" "$MEMBERSHIP_DIAL" "$MEMBERSHIP_COMMAND" member add "$name" --peer-urls="$peer_url"
    fi
    ;;
  member-remove | member-promote)
    [[ $# -eq 1 ]] || usage "$VERB takes MEMBER_ID"
    valid_member_id "$1" || usage 'member id must be 16 lowercase hex digits'
    run_etcdctl "$ENDPOINTS" "$MEMBERSHIP_DIAL" "$MEMBERSHIP_COMMAND" member "${VERB#member-}" "$1"
    ;;
  member-update)
    [[ $# -eq 2 ]] || usage 'member-update takes MEMBER_ID PEER_URLS'
    valid_member_id "$1" || usage 'member id must be 16 lowercase hex digits'
    valid_url_list "$2" 2380 || usage 'peer URLs must be a comma list of https://host:2380'
    run_etcdctl "$ENDPOINTS" "$MEMBERSHIP_DIAL" "$MEMBERSHIP_COMMAND" member update "$1" --peer-urls="$2"
    ;;
  guarded-remove)
    [[ $# -eq 4 ]] || usage 'guarded-remove takes STATUS_ENDPOINTS CLUSTER_ID EXPECT MEMBER_ID'
    valid_guard "$1" "$2" "$3"
    valid_member_id "$4" || usage 'member id must be 16 lowercase hex digits'
    guarded_change "$1" "$2" "$3" member remove "$4"
    ;;
  guarded-add | guarded-add-learner)
    [[ $# -eq 4 || $# -eq 5 ]] || usage "$VERB takes STATUS_ENDPOINTS CLUSTER_ID EXPECT PEER_URL [NAME]"
    valid_guard "$1" "$2" "$3"
    valid_url "$4" 2380 || usage 'peer URL must be https://host:2380'
    member_name "$4" "${5:-}"
    if [[ $VERB == guarded-add-learner ]]; then
      guarded_change "$1" "$2" "$3" member add "$name" --peer-urls="$4" --learner
    else
      guarded_change "$1" "$2" "$3" member add "$name" --peer-urls="$4"
    fi
    ;;
  *)
    usage "unknown verb (member-list, endpoint-status, endpoint-health, observe, member-add, member-add-learner, member-remove, member-promote, member-update, guarded-remove, guarded-add, guarded-add-learner)"
    ;;
esac
