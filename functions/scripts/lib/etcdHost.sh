# shellcheck shell=bash
# etcdHost.sh: what this host's etcd is, read on the host itself. Inlined into a host script where the
# script says `source "$(dirname "${BASH_SOURCE[0]}")/lib/etcdHost.sh"` (functions/adapters/scriptText.ts
# does it before the script is sent, so SSM and the sandbox run one self-contained text).
#
#   etcd_host_facts               one JSON object: static pod, unit state, installed package version,
#                                 the etcd answering here (version, member ID, cluster ID, member count,
#                                 leader), and whether /var/lib/etcd holds anything
#   refuse_if_started_member CLUSTER_ID [ALLOWED_MEMBER_ID]
#                                 exits 3 (refused, lib/exitCodes.sh) when the etcd answering here is a
#                                 member of CLUSTER_ID other than ALLOWED_MEMBER_ID: the second lock
#                                 before anything stops etcd or empties /etc/etcd or /var/lib/etcd;
#                                 exits 2 for a malformed ID
#
# "The etcd answering here" is asked at the first client URL /etc/etcd/etcd.conf advertises, with the
# host's own /etc/etcd peer certificate when the URL is https: exactly where etcd.service and the static
# pod serve. It answers within 3 s or counts as not answering.

readonly ETCD_HOST_POD=/etc/origin/node/pods/etcd.yaml
readonly ETCD_HOST_CONF=/etc/etcd/etcd.conf
readonly ETCD_HOST_DATA=/var/lib/etcd

# The first URL of ETCD_ADVERTISE_CLIENT_URLS in etcd.conf, when it is a plain http(s)://host:port.
etcd_host_client_url() {
  local line url
  [[ -f $ETCD_HOST_CONF ]] || return 1
  line=$(grep -E '^ETCD_ADVERTISE_CLIENT_URLS=' "$ETCD_HOST_CONF" | tail -n 1) || return 1
  url=${line#ETCD_ADVERTISE_CLIENT_URLS=}
  url=${url//\"/}
  url=${url%%,*}
  [[ $url =~ ^https?://[A-Za-z0-9.-]+:[0-9]{1,5}$ ]] || return 1
  printf '%s' "$url"
}

# Decimal uint64 (as etcdctl prints IDs) to 16 hex digits; bash wraps above 2^63 and %x prints it back.
etcd_host_hex() {
  printf '%016x' "$(($1))"
}

# Sets ETCD_HOST_VERSION, ETCD_HOST_MEMBER, ETCD_HOST_CLUSTER, ETCD_HOST_LEADER, ETCD_HOST_MEMBERS for the
# etcd answering here; returns 1 when none answers.
etcd_host_ask() {
  local url status members
  local -a tls=()
  # Nothing listens: nothing can answer (and etcdctl would spend its whole timeout finding that out).
  etcd_host_listening || return 1
  url=$(etcd_host_client_url) || return 1
  if [[ $url == https://* ]]; then
    [[ -r /etc/etcd/ca.crt && -r /etc/etcd/peer.crt && -r /etc/etcd/peer.key ]] || return 1
    tls=(--cacert=/etc/etcd/ca.crt --cert=/etc/etcd/peer.crt --key=/etc/etcd/peer.key)
  fi
  command -v etcdctl >/dev/null || return 1
  status=$(ETCDCTL_API=3 timeout 5 etcdctl "${tls[@]}" --endpoints="$url" --dial-timeout=2s --command-timeout=3s endpoint status -w json 2>/dev/null) || return 1
  [[ $status =~ \"cluster_id\":([0-9]+) ]] || return 1
  ETCD_HOST_CLUSTER=$(etcd_host_hex "${BASH_REMATCH[1]}")
  [[ $status =~ \"member_id\":([0-9]+) ]] || return 1
  ETCD_HOST_MEMBER=$(etcd_host_hex "${BASH_REMATCH[1]}")
  ETCD_HOST_LEADER=0000000000000000
  if [[ $status =~ \"leader\":([0-9]+) ]]; then ETCD_HOST_LEADER=$(etcd_host_hex "${BASH_REMATCH[1]}"); fi
  ETCD_HOST_VERSION=''
  if [[ $status =~ \"version\":\"([0-9A-Za-z.+-]+)\" ]]; then ETCD_HOST_VERSION=${BASH_REMATCH[1]}; fi
  ETCD_HOST_MEMBERS=0
  if members=$(ETCDCTL_API=3 timeout 5 etcdctl "${tls[@]}" --endpoints="$url" --dial-timeout=2s --command-timeout=3s member list -w json 2>/dev/null); then
    ETCD_HOST_MEMBERS=$(grep -o '"ID":' <<<"$members" | wc -l)
  fi
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

# Disables and stops etcd.service when it is enabled or active, then waits up to 30 s for 2379/2380 to
# close. Prints true when it stopped something, false otherwise.
etcd_host_stop_unit() {
  local stopped=false
  if systemctl is-active --quiet etcd || systemctl is-enabled --quiet etcd; then
    systemctl disable etcd --now >&2
    stopped=true
  fi
  for _ in $(seq 1 120); do
    etcd_host_listening || break
    sleep 0.25
  done
  printf '%s' "$stopped"
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

# Sets ETCD_HOST_ANSWERS=1 (and the ETCD_HOST_* facts) when the etcd here answers, 0 otherwise.
# shellcheck disable=SC2034 # read by the scripts that inline this file
refuse_if_started_member() {
  local cluster=$1 allowed=${2:-}
  [[ $cluster =~ ^[0-9a-f]{16}$ ]] || { echo "bad cluster id" >&2; exit 2; }
  [[ -z $allowed || $allowed =~ ^[0-9a-f]{16}$ ]] || { echo "bad member id" >&2; exit 2; }
  ETCD_HOST_ANSWERS=0
  etcd_host_ask || return 0
  ETCD_HOST_ANSWERS=1
  if [[ $ETCD_HOST_CLUSTER == "$cluster" && $ETCD_HOST_MEMBER != "$allowed" ]]; then
    echo "refusing: this host runs member ${ETCD_HOST_MEMBER} of this cluster (${cluster}); nothing was stopped or emptied" >&2
    exit 3
  fi
}
