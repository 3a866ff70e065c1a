#!/usr/bin/env bash
# etcdctl.sh VERB ENDPOINTS [ARGS...]
#
# Runs one whitelisted etcdctl v3 verb on an etcd member host, with the host's peer certificate as the
# client identity, and prints etcdctl's JSON (-w json) on stdout. On failure it prints etcdctl's stderr
# and exits with etcdctl's exit code. Bad arguments exit 64 before anything runs.
#
#   member-list        ENDPOINTS
#   endpoint-status    ENDPOINTS   one JSON line per endpoint (see below), exit 0
#   endpoint-health    ENDPOINTS   one JSON line per endpoint (see below), exit 0
#   member-add         ENDPOINTS PEER_URL [NAME]
#   member-add-learner ENDPOINTS PEER_URL [NAME]
#   member-remove      ENDPOINTS MEMBER_ID
#   member-promote     ENDPOINTS MEMBER_ID
#   member-update      ENDPOINTS MEMBER_ID PEER_URLS
#
# ENDPOINTS: comma-separated https://host:port. MEMBER_ID: 16 hex digits. PEER_URL: https://host:2380.
# PEER_URLS: comma-separated PEER_URL. NAME: a hostname (only printed by etcdctl; etcd does not store it).
#
# endpoint-status and endpoint-health ask each endpoint on its own (--cluster=false), all at once, so one
# endpoint that does not answer cannot hide the others' answers nor add its timeout to theirs. Each
# endpoint gets one line, in the order ENDPOINTS names them:
#   {"endpoint":"https://...","ok":true,"result":<etcdctl's JSON array>}
#   {"endpoint":"https://...","ok":false,"exitCode":N,"error":"<etcdctl's stderr>","output":"<etcdctl's stdout>"}
set -o errexit -o nounset -o pipefail

readonly EXIT_USAGE=64
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

# Per-endpoint verbs. etcdctl 3.4 does not block on the dial: an endpoint that does not answer (powered
# off, cut off) costs the whole command timeout, whatever the dial timeout (measured: 5.0 s with
# --command-timeout=5s, 2.0 s with 2s, for dial 1s and 3s alike). `endpoint status` is answered by the
# member itself, with no consensus round, in milliseconds on a LAN or VPC: 2 s is ample. `endpoint
# health` makes a linearizable read through the leader; it keeps 3 s. A member on the same network
# connects and completes TLS in milliseconds, so 1 s to dial is plenty. The endpoints are asked
# concurrently, so one that does not answer costs its timeout once, not once per endpoint.
case $VERB in
  endpoint-status)
    DIAL_TIMEOUT=1s
    COMMAND_TIMEOUT=2s
    ;;
  endpoint-health)
    DIAL_TIMEOUT=1s
    COMMAND_TIMEOUT=3s
    ;;
  *)
    DIAL_TIMEOUT=5s
    COMMAND_TIMEOUT=15s
    ;;
esac

# etcdctl 3.4 has no JSON printer for `member promote` (it panics): that verb prints simple text.
OUTPUT=json
[[ $VERB != member-promote ]] || OUTPUT=simple

run_etcdctl() {
  local endpoints=$1
  shift
  ETCDCTL_API=3 etcdctl \
    --cacert="$CACERT" --cert="$CERT" --key="$KEY" \
    --endpoints="$endpoints" \
    --dial-timeout="$DIAL_TIMEOUT" --command-timeout="$COMMAND_TIMEOUT" \
    -w "$OUTPUT" "$@"
}

# Runs etcdctl once; passes its stdout through and, on failure, its stderr and exit code.
run_verb() {
  local code=0
  run_etcdctl "$ENDPOINTS" "$@" || code=$?
  exit "$code"
}

# The line for one endpoint, asked on its own; etcdctl's stderr goes through $2 (a file).
endpoint_line() {
  local endpoint=$1 errfile=$2 out err code=0
  shift 2
  out=$(run_etcdctl "$endpoint" "$@" --cluster=false 2>"$errfile") || code=$?
  err=$(cat "$errfile")
  if ((${#err} > 4000)); then err=${err: -4000}; fi
  out=${out//$'\n'/}
  if ((code == 0)) && [[ $out == \[* ]]; then
    printf '{"endpoint":%s,"ok":true,"result":%s}\n' "$(json_string "$endpoint")" "$out"
  else
    printf '{"endpoint":%s,"ok":false,"exitCode":%d,"error":%s,"output":%s}\n' \
      "$(json_string "$endpoint")" "$code" "$(json_string "$err")" "$(json_string "$out")"
  fi
}

# One line per endpoint, all endpoints asked at once (background jobs), printed in ENDPOINTS order.
per_endpoint() {
  local i workdir
  local -a endpoints
  workdir=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: the path is fixed
  trap "rm -rf '$workdir'" EXIT
  IFS=, read -r -a endpoints <<<"$ENDPOINTS"
  for i in "${!endpoints[@]}"; do
    endpoint_line "${endpoints[i]}" "$workdir/$i.err" "$@" >"$workdir/$i.line" &
  done
  wait
  for i in "${!endpoints[@]}"; do
    cat "$workdir/$i.line"
  done
}

case $VERB in
  member-list)
    [[ $# -eq 0 ]] || usage 'member-list takes no arguments'
    run_verb member list
    ;;
  endpoint-status)
    [[ $# -eq 0 ]] || usage 'endpoint-status takes no arguments'
    per_endpoint endpoint status
    ;;
  endpoint-health)
    [[ $# -eq 0 ]] || usage 'endpoint-health takes no arguments'
    per_endpoint endpoint health
    ;;
  member-add | member-add-learner)
    [[ $# -eq 1 || $# -eq 2 ]] || usage "$VERB takes PEER_URL [NAME]"
    valid_url "$1" 2380 || usage 'peer URL must be https://host:2380'
    peer_url=$1
    name=${2:-${peer_url#https://}}
    name=${name%:2380}
    valid_host "$name" || usage 'name must be a hostname or an IPv4 address'
    if [[ $VERB == member-add-learner ]]; then
      run_verb member add "$name" --peer-urls="$peer_url" --learner
    else
      run_verb member add "$name" --peer-urls="$peer_url"
    fi
    ;;
  member-remove | member-promote)
    [[ $# -eq 1 ]] || usage "$VERB takes MEMBER_ID"
    valid_member_id "$1" || usage 'member id must be 16 lowercase hex digits'
    run_verb member "${VERB#member-}" "$1"
    ;;
  member-update)
    [[ $# -eq 2 ]] || usage 'member-update takes MEMBER_ID PEER_URLS'
    valid_member_id "$1" || usage 'member id must be 16 lowercase hex digits'
    valid_url_list "$2" 2380 || usage 'peer URLs must be a comma list of https://host:2380'
    run_verb member update "$1" --peer-urls="$2"
    ;;
  *)
    usage "unknown verb (member-list, endpoint-status, endpoint-health, member-add, member-add-learner, member-remove, member-promote, member-update)"
    ;;
esac
