# shellcheck shell=bash
# etcdHost.sh: what this host's etcd is, read on the host itself. Inlined into a host script where the
# script says `source "$(dirname "${BASH_SOURCE[0]}")/lib/etcdHost.sh"` (functions/adapters/scriptText.ts
# does it before the script is sent, so SSM and the sandbox run one self-contained text).
#
#   etcd_host_facts               one JSON object: static pod, unit state, installed package version,
#                                 the etcd answering here (version, member ID, cluster ID, member count,
#                                 leader), and whether /var/lib/etcd holds anything
#   refuse_if_started_member CLUSTER_ID [ALLOWED_MEMBER_ID [unit]]
#                                 the lock before anything stops etcd or empties /etc/etcd or
#                                 /var/lib/etcd (exit 3, refused, lib/exitCodes.sh, nothing changed) when
#                                 - an etcd here answers as a member of CLUSTER_ID other than
#                                   ALLOWED_MEMBER_ID;
#                                 - an etcd here answers as a member of another cluster that is still
#                                   running: a leader, and more than one member (or a member count it
#                                   does not give);
#                                 - an etcd process runs here that no client URL answered for (no
#                                   certificate to ask it with, its URL not answering): what runs is
#                                   unknown. With `unit`, the caller knows etcd.service as its own
#                                   (this run started it as ALLOWED_MEMBER_ID): its process is exempt
#                                   (etcd_host_unit_process), and so is one that ended meanwhile (a
#                                   unit restarting).
#                                 Exits 2 for malformed arguments.
#   refuse_if_running_cluster_member
#                                 the failed host's lock (StopFailedMember): exits 3 when an etcd here
#                                 answers as a member of a cluster that is still running (a leader, and
#                                 more than one member): the failed member, removed, answers so no more.
#                                 An etcd that does not answer is the failed member's, and is stopped.
#
# "An etcd here" is asked at every client URL the host's etcd is configured with, whatever the port:
# ETCD_ADVERTISE_CLIENT_URLS and ETCD_LISTEN_CLIENT_URLS in /etc/etcd/etcd.conf (what etcd.service and
# the static pod both source), and the client URLs the static pod manifest names (flags, environment,
# its probe's `-C`); a wildcard address is asked at 127.0.0.1. An https URL is asked with the host's own
# /etc/etcd peer certificate, as the static pod's probe does; only a URL whose port something listens
# on in this host's network namespace is asked, and each answers within 3 s or counts as not answering.
# "An etcd process runs here": a process named etcd in this host's network namespace (the unit and a
# host-network pod share it; another host's or container's etcd does not).

# Where the host keeps its etcd: set here, never read from the environment (a test that sources this file
# points them at its own files).
ETCD_HOST_POD=/etc/origin/node/pods/etcd.yaml
ETCD_HOST_CONF=/etc/etcd/etcd.conf
ETCD_HOST_TLS_DIR=/etc/etcd
readonly ETCD_HOST_DATA=/var/lib/etcd
readonly ETCD_HOST_URL_RE='^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):([0-9]{1,5})$'

# The client URLs CONF (etcd.conf) names: ETCD_ADVERTISE_CLIENT_URLS, then ETCD_LISTEN_CLIENT_URLS, one
# per line as written (etcd_host_client_urls checks them).
etcd_host_conf_urls() {
  local conf=$1 key line value url
  local -a urls
  [[ -f $conf ]] || return 0
  for key in ETCD_ADVERTISE_CLIENT_URLS ETCD_LISTEN_CLIENT_URLS; do
    line=$(grep -E "^[[:space:]]*(export[[:space:]]+)?${key}=" "$conf" | tail -n 1) || continue
    value=${line#*=}
    value=${value//\"/}
    value=${value//\'/}
    IFS=', ' read -r -a urls <<<"$value"
    for url in "${urls[@]}"; do printf '%s\n' "$url"; done
  done
}

# The client URLs a static pod manifest names: every http(s) URL in it whose nearest flag or variable
# before it (on its line or an earlier one: YAML lists put a flag's value on the next line) is not a peer,
# initial-cluster or discovery one: `--listen-client-urls=…`, `ETCD_ADVERTISE_CLIENT_URLS`'s value,
# `--endpoints`, the probe's `-C`.
etcd_host_pod_urls() {
  local pod=$1
  [[ -f $pod ]] || return 0
  awk '{
    rest = $0
    while (match(rest, /https?:\/\/[^ \t,"'"'"'<>]+|--?[A-Za-z][A-Za-z0-9_-]*|ETCD_[A-Z_]+/)) {
      token = substr(rest, RSTART, RLENGTH)
      rest = substr(rest, RSTART + RLENGTH)
      if (token !~ /^https?:/) keyword = tolower(token)
      else if (keyword !~ /peer|initial.cluster|discovery/) print token
    }
  }' "$pod"
}

# Every client URL to ask, once each, in order: CONF's (etcd.conf), then POD's (the static pod
# manifest). A URL is kept only when it is a plain http(s)://host:port; a wildcard host (0.0.0.0, [::])
# becomes 127.0.0.1.
etcd_host_client_urls() {
  local conf=$1 pod=$2 url
  { etcd_host_conf_urls "$conf"; etcd_host_pod_urls "$pod"; } | while IFS= read -r url; do
    url=${url%/}
    url=${url/:\/\/0.0.0.0:/://127.0.0.1:}
    url=${url/:\/\/\[::\]:/://127.0.0.1:}
    [[ $url =~ $ETCD_HOST_URL_RE ]] || continue
    ((10#${BASH_REMATCH[2]} >= 1 && 10#${BASH_REMATCH[2]} <= 65535)) || continue
    printf '%s\n' "$url"
  done | awk '!seen[$0]++'
}

# Decimal uint64 (as etcdctl prints IDs) to 16 hex digits; bash wraps above 2^63 and %x prints it back.
etcd_host_hex() {
  printf '%016x' "$(($1))"
}

# Something listens on PORT in this network namespace.
etcd_host_port_open() {
  ss -Hltn "( sport = :$1 )" | grep -q .
}

# The pids listening on PORT in this network namespace, one per line.
etcd_host_port_pids() {
  ss -Hltnp "( sport = :$1 )" | grep -oE 'pid=[0-9]+' | cut -d= -f2 | sort -u
}

# Asks the etcd at URL. Sets ETCD_HOST_VERSION, ETCD_HOST_MEMBER, ETCD_HOST_NAME, ETCD_HOST_CLUSTER,
# ETCD_HOST_LEADER, ETCD_HOST_MEMBERS (-1 when its member list does not answer), ETCD_HOST_REVISION,
# ETCD_HOST_RAFT_INDEX, ETCD_HOST_RAFT_TERM and ETCD_HOST_DB_SIZE; returns 1 when it does not answer,
# with the reason in ETCD_HOST_WHY.
# shellcheck disable=SC2034 # read by the scripts that inline this file
etcd_host_ask_url() {
  local url=$1 status members line
  local -a tls=()
  ETCD_HOST_WHY=''
  [[ $url =~ $ETCD_HOST_URL_RE ]] || { ETCD_HOST_WHY='not a client URL'; return 1; }
  etcd_host_port_open "${BASH_REMATCH[2]}" || { ETCD_HOST_WHY="nothing listens on port ${BASH_REMATCH[2]}"; return 1; }
  if [[ $url == https://* ]]; then
    local dir=$ETCD_HOST_TLS_DIR
    [[ -r $dir/ca.crt && -r $dir/peer.crt && -r $dir/peer.key ]] || { ETCD_HOST_WHY="no ${dir}/ca.crt, peer.crt and peer.key to ask it with"; return 1; }
    tls=(--cacert="$dir/ca.crt" --cert="$dir/peer.crt" --key="$dir/peer.key")
  fi
  command -v etcdctl >/dev/null || { ETCD_HOST_WHY='no etcdctl on this host'; return 1; }
  status=$(ETCDCTL_API=3 timeout 5 etcdctl "${tls[@]}" --endpoints="$url" --dial-timeout=2s --command-timeout=3s endpoint status -w json 2>/dev/null) \
    || { ETCD_HOST_WHY='no answer to endpoint status'; return 1; }
  [[ $status =~ \"cluster_id\":([0-9]+) ]] || { ETCD_HOST_WHY='no cluster ID in its answer'; return 1; }
  ETCD_HOST_CLUSTER=$(etcd_host_hex "${BASH_REMATCH[1]}")
  [[ $status =~ \"member_id\":([0-9]+) ]] || { ETCD_HOST_WHY='no member ID in its answer'; return 1; }
  ETCD_HOST_MEMBER=$(etcd_host_hex "${BASH_REMATCH[1]}")
  ETCD_HOST_LEADER=0000000000000000
  if [[ $status =~ \"leader\":([0-9]+) ]]; then ETCD_HOST_LEADER=$(etcd_host_hex "${BASH_REMATCH[1]}"); fi
  ETCD_HOST_VERSION=''
  if [[ $status =~ \"version\":\"([0-9A-Za-z.+-]+)\" ]]; then ETCD_HOST_VERSION=${BASH_REMATCH[1]}; fi
  # Where its data stands (DescribeRestorePoint.sh, lib/quorumRestore.sh): -1 when the answer lacks one.
  ETCD_HOST_REVISION=-1 ETCD_HOST_RAFT_INDEX=-1 ETCD_HOST_RAFT_TERM=-1 ETCD_HOST_DB_SIZE=-1
  if [[ $status =~ \"revision\":([0-9]+) ]]; then ETCD_HOST_REVISION=${BASH_REMATCH[1]}; fi
  if [[ $status =~ \"raftIndex\":([0-9]+) ]]; then ETCD_HOST_RAFT_INDEX=${BASH_REMATCH[1]}; fi
  if [[ $status =~ \"raftTerm\":([0-9]+) ]]; then ETCD_HOST_RAFT_TERM=${BASH_REMATCH[1]}; fi
  if [[ $status =~ \"dbSize\":([0-9]+) ]]; then ETCD_HOST_DB_SIZE=${BASH_REMATCH[1]}; fi
  ETCD_HOST_MEMBERS=-1
  ETCD_HOST_NAME=''
  # The simple format (ID, status, name, peer URLs, client URLs[, is learner]) prints IDs in hex, on 3.2 as on 3.4.
  if members=$(ETCDCTL_API=3 timeout 5 etcdctl "${tls[@]}" --endpoints="$url" --dial-timeout=2s --command-timeout=3s member list 2>/dev/null); then
    ETCD_HOST_MEMBERS=$(grep -cE '^[0-9a-f]+, ' <<<"$members" || true)
    line=$(grep -E "^0*${ETCD_HOST_MEMBER#"${ETCD_HOST_MEMBER%%[!0]*}"}, " <<<"$members" | head -n 1 || true)
    if [[ $line =~ ^[0-9a-f]+,\ [a-z]+,\ ([A-Za-z0-9._-]{1,128}), ]]; then ETCD_HOST_NAME=${BASH_REMATCH[1]}; fi
  fi
}

# Sets the ETCD_HOST_* facts of the first client URL that answers (etcd_host_ask_url); returns 1 when none does.
etcd_host_ask() {
  local url
  while IFS= read -r url; do
    etcd_host_ask_url "$url" && return 0
  done < <(etcd_host_client_urls "$ETCD_HOST_CONF" "$ETCD_HOST_POD")
  return 1
}

# The pids of the processes named etcd in this host's network namespace, one per line (zombies left out).
etcd_host_etcd_pids() {
  local self dir comm stat
  self=$(readlink /proc/self/ns/net) || return 0
  for dir in /proc/[0-9]*; do
    comm=''
    read -r comm 2>/dev/null <"$dir/comm" || continue
    [[ $comm == etcd ]] || continue
    stat=''
    read -r stat 2>/dev/null <"$dir/stat" || continue
    [[ ${stat##*) } != [ZX]* ]] || continue
    [[ $(readlink "$dir/ns/net" 2>/dev/null) == "$self" ]] || continue
    printf '%s\n' "${dir#/proc/}"
  done
}

# A command line fit for a log: printable, the value of any flag that names a password, token, secret
# or key redacted, as are the credentials of a URL; at most 300 characters.
etcd_host_redact() {
  LC_ALL=C tr -c '[:print:]' ' ' \
    | sed -E 's#(-{1,2}[A-Za-z0-9_-]*([Pp]ass|PASS|[Tt]oken|TOKEN|[Ss]ecret|SECRET|[Kk]ey|KEY)[A-Za-z0-9_-]*)([= ]+)[^ ]+#\1\3<redacted>#g; s#://[^/@ ]+@#://<redacted>@#g' \
    | cut -c1-300
}

# Its arguments, joined with "; ".
etcd_host_join() {
  local out=$1 item
  shift
  for item in "$@"; do out+="; $item"; done
  printf '%s' "$out"
}

# "pid N: COMMAND LINE" of a process, redacted (etcd_host_redact).
etcd_host_describe_pid() {
  local cmdline
  cmdline=$(etcd_host_redact <"/proc/$1/cmdline" 2>/dev/null) || cmdline='?'
  printf 'pid %s: %s' "$1" "${cmdline% }"
}

# The etcd.service main pid, or nothing (`systemctl status` says "Main PID: N").
etcd_host_unit_pid() {
  { systemctl status etcd 2>/dev/null || true; } | sed -nE 's/^[[:space:]]*Main PID: *([0-9]+).*/\1/p' | head -n 1
}

# PID is etcd.service's process (its cgroup is the unit's, or it is the unit's main pid), or has ended.
# Asked a few times over a second: a unit that restarts changes its main pid.
etcd_host_unit_process() {
  local pid=$1
  for _ in 1 2 3 4 5; do
    [[ -e /proc/$pid ]] || return 0
    grep -qE '/etcd\.service$' "/proc/$pid/cgroup" 2>/dev/null && return 0
    [[ $(etcd_host_unit_pid) == "$pid" ]] && return 0
    sleep 0.2
  done
  return 1
}

# The installed etcd package's version (rpm -q), or empty.
etcd_host_installed_version() {
  local package
  package=$(rpm -q etcd 2>/dev/null) || return 0
  [[ $package =~ ^etcd-([0-9]+\.[0-9]+\.[0-9]+)- ]] && printf '%s' "${BASH_REMATCH[1]}"
  return 0
}

etcd_host_bool() {
  if "$@"; then printf true; else printf false; fi
}

etcd_host_listening() {
  ss -Hltn '( sport = :2379 or sport = :2380 )' | grep -q .
}

etcd_host_data_empty() {
  [[ -z $(find "$ETCD_HOST_DATA" -mindepth 1 -maxdepth 1 -print -quit 2>/dev/null) ]]
}

# Stops static pods the runbook's way, moving their manifests from pods/ (ETCD_HOST_POD's directory) to
# pods-stopped/ beside it: WHICH is `all` (every manifest: "Removing a failed etcd host",
# `mv /etc/origin/node/pods/* /etc/origin/node/pods-stopped/`) or `etcd` (etcd.yaml alone: "Restoring
# etcd quorum", the master's other pods keep running). Sets ETCD_HOST_MOVED to how many it moved.
etcd_host_stop_pods() {
  local which=$1 pods=${ETCD_HOST_POD%/*} manifest
  ETCD_HOST_MOVED=0
  mkdir -p "${pods}-stopped"
  [[ -d $pods ]] || return 0
  for manifest in "$pods"/*; do
    [[ -e $manifest ]] || continue
    [[ $which == all || $manifest == "$ETCD_HOST_POD" ]] || continue
    mv -f "$manifest" "${pods}-stopped/"
    ETCD_HOST_MOVED=$((ETCD_HOST_MOVED + 1))
  done
}

# The IPv4 address etcd listens on for peers (2380) other than a loopback or wildcard one, as the runbook
# reads it (`ss -l4n | grep 2380`), for `member update`; returns 1 when there is none. TCP sockets only
# (-t): with every socket type, ss prints a Netid column first and complains of the types it cannot list.
etcd_host_peer_listen_ip() {
  local address
  address=$(ss -Hltn4 '( sport = :2380 )' | awk '{print $4}' | sed 's/:2380$//' | grep -vE '^(127\.|0\.0\.0\.0$)' | head -n 1) || return 1
  [[ $address =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || return 1
  printf '%s' "$address"
}

# Disables and stops etcd.service when it is enabled or active, then waits up to 30 s for 2379/2380 to
# close and every etcd process of this network namespace to end (a static pod whose manifest has moved
# included). Prints true when it stopped something, false otherwise.
etcd_host_stop_unit() {
  local stopped=false
  if systemctl is-active --quiet etcd || systemctl is-enabled --quiet etcd; then
    systemctl disable etcd --now >&2
    stopped=true
  fi
  etcd_host_wait_stopped || true
  printf '%s' "$stopped"
}

# Waits up to 30 s until nothing listens on 2379/2380 and no etcd process runs in this network namespace;
# returns 1 when something still does.
etcd_host_wait_stopped() {
  for _ in $(seq 1 120); do
    etcd_host_listening || [[ -n $(etcd_host_etcd_pids) ]] || return 0
    sleep 0.25
  done
  return 1
}

etcd_host_facts() {
  local installed running=null
  installed=$(etcd_host_installed_version)
  if etcd_host_ask; then
    running=$(printf '{"version":"%s","memberId":"%s","clusterId":"%s","leaderId":"%s","members":%d}' \
      "$ETCD_HOST_VERSION" "$ETCD_HOST_MEMBER" "$ETCD_HOST_CLUSTER" "$ETCD_HOST_LEADER" "$ETCD_HOST_MEMBERS")
  fi
  printf '{"staticPod":%s,"unitActive":%s,"unitEnabled":%s,"installedVersion":%s,"listening":%s,"running":%s,"dataDirEmpty":%s}\n' \
    "$(etcd_host_bool test -f "$ETCD_HOST_POD")" \
    "$(etcd_host_bool systemctl is-active --quiet etcd)" \
    "$(etcd_host_bool systemctl is-enabled --quiet etcd)" \
    "$(if [[ -n $installed ]]; then printf '"%s"' "$installed"; else printf null; fi)" \
    "$(etcd_host_bool etcd_host_listening)" \
    "$running" \
    "$(etcd_host_bool etcd_host_data_empty)"
}

# Sets ETCD_HOST_ANSWERS=1 (and the ETCD_HOST_* facts of the first answer) when an etcd here answers, 0
# otherwise; exits 3 as the header says.
# shellcheck disable=SC2034 # read by the scripts that inline this file
refuse_if_started_member() {
  local cluster=$1 allowed=${2:-} ours=${3:-} url pid first=''
  local -a asked=() unanswered=() unknown=()
  local -A answered_pids=()
  [[ $cluster =~ ^[0-9a-f]{16}$ ]] || { echo "bad cluster id" >&2; exit 2; }
  [[ -z $allowed || $allowed =~ ^[0-9a-f]{16}$ ]] || { echo "bad member id" >&2; exit 2; }
  [[ -z $ours || $ours == unit ]] || { echo "bad argument: not unit" >&2; exit 2; }
  ETCD_HOST_ANSWERS=0
  while IFS= read -r url; do
    if ! etcd_host_ask_url "$url"; then
      unanswered+=("$url ($ETCD_HOST_WHY)")
      continue
    fi
    asked+=("$url")
    [[ $url =~ $ETCD_HOST_URL_RE ]]
    while IFS= read -r pid; do [[ -z $pid ]] || answered_pids[$pid]=1; done < <(etcd_host_port_pids "${BASH_REMATCH[2]}")
    local who="member ${ETCD_HOST_MEMBER}${ETCD_HOST_NAME:+ (${ETCD_HOST_NAME})} answering at ${url}"
    if [[ $ETCD_HOST_CLUSTER == "$cluster" && $ETCD_HOST_MEMBER != "$allowed" ]]; then
      echo "refusing: this host runs member ${ETCD_HOST_MEMBER} of this cluster (${cluster}): ${who}; nothing was stopped or emptied" >&2
      exit 3
    fi
    if [[ $ETCD_HOST_CLUSTER != "$cluster" && $ETCD_HOST_LEADER != 0000000000000000 ]] && ((ETCD_HOST_MEMBERS != 1)); then
      local count="${ETCD_HOST_MEMBERS} members"
      ((ETCD_HOST_MEMBERS >= 0)) || count='members it did not list'
      echo "refusing: this host runs ${who} of another etcd cluster that is still running: cluster ${ETCD_HOST_CLUSTER} with ${count} and leader ${ETCD_HOST_LEADER}; nothing was stopped or emptied" >&2
      exit 3
    fi
    # The facts the callers read are the first answer's.
    [[ -n $first ]] || first="$ETCD_HOST_VERSION|$ETCD_HOST_MEMBER|$ETCD_HOST_NAME|$ETCD_HOST_CLUSTER|$ETCD_HOST_LEADER|$ETCD_HOST_MEMBERS"
  done < <(etcd_host_client_urls "$ETCD_HOST_CONF" "$ETCD_HOST_POD")
  while IFS= read -r pid; do
    [[ -n $pid && -z ${answered_pids[$pid]:-} ]] || continue
    if [[ $ours == unit ]] && etcd_host_unit_process "$pid"; then continue; fi
    [[ -e /proc/$pid ]] || continue
    unknown+=("$(etcd_host_describe_pid "$pid")")
  done < <(etcd_host_etcd_pids)
  if ((${#unknown[@]} > 0)); then
    local tried='no client URL in /etc/etcd/etcd.conf or the static pod'
    if ((${#unanswered[@]} > 0)); then tried="asked at $(etcd_host_join "${unanswered[@]}")"; fi
    echo "refusing: etcd runs on this host and cannot be asked which cluster it serves ($(etcd_host_join "${unknown[@]}")); ${tried}; nothing was stopped or emptied" >&2
    exit 3
  fi
  if [[ -n $first ]]; then
    ETCD_HOST_ANSWERS=1
    IFS='|' read -r ETCD_HOST_VERSION ETCD_HOST_MEMBER ETCD_HOST_NAME ETCD_HOST_CLUSTER ETCD_HOST_LEADER ETCD_HOST_MEMBERS <<<"$first"
  fi
}

# See the header. Nothing is read but the answers.
refuse_if_running_cluster_member() {
  local url
  while IFS= read -r url; do
    etcd_host_ask_url "$url" || continue
    if [[ $ETCD_HOST_LEADER != 0000000000000000 ]] && ((ETCD_HOST_MEMBERS != 1)); then
      echo "refusing: this host runs member ${ETCD_HOST_MEMBER}${ETCD_HOST_NAME:+ (${ETCD_HOST_NAME})} answering at ${url} of an etcd cluster that is still running: cluster ${ETCD_HOST_CLUSTER} with ${ETCD_HOST_MEMBERS} members and leader ${ETCD_HOST_LEADER}; a failed member does not answer so; nothing was stopped" >&2
      exit 3
    fi
  done < <(etcd_host_client_urls "$ETCD_HOST_CONF" "$ETCD_HOST_POD")
}
