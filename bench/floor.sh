#!/usr/bin/env bash
# bench/floor.sh SANDBOX FAILED_HOST NEW_HOST
#
# The floor: the seed runbook ("Replacing a failed etcd member", 37.1 + 37.2.2) as one straight
# script typed by a perfect operator on a sandbox. No checks, no snapshot, no retries, no backup of
# the failed host (it is powered off): member remove, the openssl req/ca commands, cp etcd.conf and
# ca.crt, a plain `member add`, sed on etcd.conf, tar, the bundle piped to the new host (the seed's
# scp), then on the new host iptables + iptables-save, the security group (nft stand-in),
# `yum install -y etcd-<the members' version>` (sandbox stand-in; a bare `yum install etcd` gives
# 3.3.11 on RHEL 7, which a perfect operator avoids), mv pods, rm -rf, untar,
# `systemctl enable etcd --now`;
# then wait until `endpoint health` on the new member passes and its raft index and revision equal
# the leader's. The clock stops there ("from the start of the run to the new member
# healthy and caught up"); masters and flannel are not part of the floor.
#
# Works on every etcd the sandbox runs (3.2.22, 3.3.11, 3.4.23): plain `member add` (a voter from the
# add: no learner, no promote), ETCDCTL_API=3, and only commands and flags etcdctl 3.2 has (member
# list/remove/add --peer-urls, endpoint health, endpoint status -w json). The checks from this
# machine use the cluster's own etcdctl build (the sandbox's copy of it), as an operator on a master
# would.
#
# Each host is entered once (one bash per host, nsenter with the sandbox's namespace files, as
# sandbox/exec.ts prepareExec does): no node start-up per command.
#
# Prints one JSON line on stdout, milliseconds from the start:
#   {"ms":N,"addedMs":N,"startedMs":N,"healthyMs":N,"caughtUpMs":N,"etcdVersion":"X.Y.Z"}
# addedMs: `member add` returned (the new member votes from here); startedMs: `systemctl enable etcd
# --now` returned on the new host; healthyMs: `endpoint health` passes on the new member.
# healthyMs - addedMs is the window in which the cluster runs one failure from losing quorum.
set -o errexit -o nounset -o pipefail

readonly T0=$EPOCHREALTIME
readonly STATE_ROOT=/var/lib/etcd-replace/sandboxes
readonly HOST_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

[[ $# -eq 3 ]] || { echo 'usage: bench/floor.sh SANDBOX FAILED_HOST NEW_HOST' >&2; exit 2; }
readonly SANDBOX=$1 FAILED=$2 NEW=$3
[[ $SANDBOX =~ ^[a-z][a-z0-9-]{0,15}$ ]] || { echo "bad sandbox name: $SANDBOX" >&2; exit 2; }
readonly STATE=$STATE_ROOT/$SANDBOX
readonly RECORD=$STATE/sandbox.json
[[ -f $RECORD ]] || { echo "no sandbox $SANDBOX ($RECORD)" >&2; exit 2; }
# The members' etcd version (records from before versions existed ran Debian's 3.4.23).
ETCD_VERSION=$(jq -r '.options.etcdVersion // .etcdVersion // "3.4.23"' "$RECORD")
[[ $ETCD_VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "bad etcd version in $RECORD: $ETCD_VERSION" >&2; exit 2; }
# The cluster's etcdctl for the checks from this machine: the sandbox's copy of the build, else the machine's.
ETCDCTL=$STATE/lib/etcd/v$ETCD_VERSION/etcdctl
[[ -x $ETCDCTL ]] || ETCDCTL=etcdctl
readonly ETCD_VERSION ETCDCTL
# `member add` writes its time (EPOCHREALTIME) here, through fd 3 of the CA host's bash.
ADDED_MARK=$(mktemp)
readonly ADDED_MARK
trap 'rm -f "$ADDED_MARK"' EXIT

# Milliseconds since T0 (EPOCHREALTIME: no fork).
elapsed_ms() {
  local now=${EPOCHREALTIME/./} start=${T0/./}
  echo $(((now - start) / 1000))
}

# field HOST KEY: a host's field from sandbox.json.
field() { jq -er --arg h "$1" --arg k "$2" '.hosts[] | select(.name == $h) | .[$k]' "$RECORD"; }

CA_HOST=$(jq -er '[.hosts[] | select(.roles | index("ca"))][0].name' "$RECORD")
NEW_HOSTNAME=$(field "$NEW" hostname)
NEW_IP=$(field "$NEW" ip)
FAILED_HOSTNAME=$(field "$FAILED" hostname)
CA_IP=$(field "$CA_HOST" ip)
# The surviving members' client URLs (every master but the failed one), then the new one.
SURVIVORS=$(jq -er --arg f "$FAILED" '[.hosts[] | select(.kind == "master" and .name != $f) | "https://\(.ip):2379"] | join(",")' "$RECORD")
readonly CA_HOST NEW_HOSTNAME NEW_IP FAILED_HOSTNAME CA_IP SURVIVORS

# on HOST SCRIPT ARGS...: runs SCRIPT with bash inside HOST (net, mount, UTS namespaces), stdin passed.
on() {
  local host=$1 script=$2
  shift 2
  nsenter --net="/run/netns/$(field "$host" netns)" --mount="$STATE/ns/$host.mnt" --uts="$STATE/ns/$host.uts" -- \
    env -i PATH="$HOST_PATH" HOME=/root LANG=C.UTF-8 bash -c "$script" "$host" "$@"
}

# On the CA host, which is also a surviving member (37.1 step 1; 37.2.2 steps 1-8, 10). The bundle goes
# to stdout, straight into the new host (the seed's scp).
read -r -d '' CA_SCRIPT <<'EOF' || true
set -o errexit -o nounset -o pipefail
CN=$1 NEW_ETCD_IP=$2 FAILED_HOSTNAME=$3 CURRENT_ETCD_IP=$4
e3() { ETCDCTL_API=3 etcdctl --cacert=/etc/etcd/ca.crt --cert=/etc/etcd/peer.crt --key=/etc/etcd/peer.key --endpoints="https://$CURRENT_ETCD_IP:2379" "$@"; }
# 37.1 step 1: member remove <failed member ID>
failed_id=$(e3 member list | awk -F', ' -v n="$FAILED_HOSTNAME" '$3 == n { print $1 }')
e3 member remove "$failed_id" >&2
# 37.2.2 steps 1-5: certificates
export SAN="IP:${NEW_ETCD_IP}, DNS:${CN}"
PREFIX="/etc/etcd/generated_certs/etcd-$CN/"
OPENSSLCFG=/etc/etcd/ca/openssl.cnf
mkdir -p "$PREFIX"
openssl req -new -config "$OPENSSLCFG" -keyout "${PREFIX}server.key" -out "${PREFIX}server.csr" -reqexts etcd_v3_req -batch -nodes -subj "/CN=$CN" 2>/dev/null
openssl ca -name etcd_ca -config "$OPENSSLCFG" -out "${PREFIX}server.crt" -in "${PREFIX}server.csr" -extensions etcd_v3_ca_server -batch 2>/dev/null
openssl req -new -config "$OPENSSLCFG" -keyout "${PREFIX}peer.key" -out "${PREFIX}peer.csr" -reqexts etcd_v3_req -batch -nodes -subj "/CN=$CN" 2>/dev/null
openssl ca -name etcd_ca -config "$OPENSSLCFG" -out "${PREFIX}peer.crt" -in "${PREFIX}peer.csr" -extensions etcd_v3_ca_peer -batch 2>/dev/null
cp /etc/etcd/etcd.conf "$PREFIX"
cp /etc/etcd/ca.crt "$PREFIX"
# 37.2.2 step 7: member add (plain, as the seed does); it prints the three ETCD_* lines.
added=$(e3 member add "$CN" --peer-urls="https://${NEW_ETCD_IP}:2380")
echo "$EPOCHREALTIME" >&3
initial_cluster=$(sed -n 's/^ETCD_INITIAL_CLUSTER="\(.*\)"$/\1/p' <<<"$added")
# 37.2.2 step 8: etcd.conf for the new member
sed -i \
  -e "s|^ETCD_NAME=.*|ETCD_NAME=${CN}|" \
  -e "s|^ETCD_INITIAL_CLUSTER=.*|ETCD_INITIAL_CLUSTER=${initial_cluster}|" \
  -e "s|^ETCD_INITIAL_CLUSTER_STATE=.*|ETCD_INITIAL_CLUSTER_STATE=existing|" \
  -e "s|^ETCD_LISTEN_PEER_URLS=.*|ETCD_LISTEN_PEER_URLS=https://${NEW_ETCD_IP}:2380|" \
  -e "s|^ETCD_LISTEN_CLIENT_URLS=.*|ETCD_LISTEN_CLIENT_URLS=https://${NEW_ETCD_IP}:2379|" \
  -e "s|^ETCD_INITIAL_ADVERTISE_PEER_URLS=.*|ETCD_INITIAL_ADVERTISE_PEER_URLS=https://${NEW_ETCD_IP}:2380|" \
  -e "s|^ETCD_ADVERTISE_CLIENT_URLS=.*|ETCD_ADVERTISE_CLIENT_URLS=https://${NEW_ETCD_IP}:2379|" \
  "${PREFIX}etcd.conf"
# 37.2.2 step 10: tar, and "scp" (stdout)
tar -czf "/etc/etcd/generated_certs/${CN}.tgz" -C "$PREFIX" .
cat "/etc/etcd/generated_certs/${CN}.tgz"
EOF

# On the new host (new host steps 1-7). stdin is the bundle.
read -r -d '' NEW_HOST_SCRIPT <<'EOF' || true
set -o errexit -o nounset -o pipefail
CN=$1 ETCD_VERSION=$2
cat >"/tmp/${CN}.tgz"
# steps 1-2: iptables, saved; and the security group (the sandbox's nft stand-in for it)
iptables -N OS_FIREWALL_ALLOW
iptables -t filter -I INPUT -j OS_FIREWALL_ALLOW
iptables -A OS_FIREWALL_ALLOW -p tcp -m state --state NEW -m tcp --dport 2379 -j ACCEPT
iptables -A OS_FIREWALL_ALLOW -p tcp -m state --state NEW -m tcp --dport 2380 -j ACCEPT
iptables-save >/etc/sysconfig/iptables
nft add element inet sandbox_sg etcd_allowed '{ 2379, 2380 }'
# step 3: the members' version
yum install -y "etcd-$ETCD_VERSION" >/dev/null
# step 4: no pods on a fresh host; the seed's mv has nothing to move
mkdir -p /etc/origin/node/pods-stopped
shopt -s nullglob
pods=(/etc/origin/node/pods/*)
((${#pods[@]} == 0)) || mv "${pods[@]}" /etc/origin/node/pods-stopped/
# step 5-7
rm -rf /etc/etcd/* /var/lib/etcd/*
tar -xzf "/tmp/${CN}.tgz" -C /etc/etcd/
# A new member replaying a large log (etcd 3.2 at 1 GB) outlasts etcd.service's 90 s start timeout:
# systemd then restarts it and it goes on from its data. The operator waits for step 8 regardless.
systemctl enable etcd --now >/dev/null || true
EOF

on "$CA_HOST" "$CA_SCRIPT" "$NEW_HOSTNAME" "$NEW_IP" "$FAILED_HOSTNAME" "$CA_IP" 3>"$ADDED_MARK" | on "$NEW" "$NEW_HOST_SCRIPT" "$NEW_HOSTNAME" "$ETCD_VERSION"
T_STARTED=$(elapsed_ms)
read -r added_at <"$ADDED_MARK"
T_ADDED=$(((${added_at/./} - ${T0/./}) / 1000))

# New host step 8, from this machine with the sandbox's client identity: endpoint health on the new
# member, then its raft index and revision equal the leader's.
readonly NEW_URL=https://$NEW_IP:2379
e3m() {
  ETCDCTL_API=3 "$ETCDCTL" --cacert="$STATE/client/ca.crt" --cert="$STATE/client/client.crt" --key="$STATE/client/client.key" \
    --dial-timeout=1s --command-timeout=2s "$@"
}
until e3m --endpoints="$NEW_URL" endpoint health >/dev/null 2>&1; do sleep 0.05; done
T_HEALTHY=$(elapsed_ms)
# caught_up: the new member's raft index and revision equal the leader's (statuses of the survivors + new).
caught_up() {
  e3m --endpoints="$SURVIVORS,$NEW_URL" endpoint status -w json 2>/dev/null | jq -e --arg n "$NEW_URL" '
    (map(select(.Status.header.member_id == .Status.leader))[0].Status) as $l
    | (map(select(.Endpoint == $n))[0].Status) as $m
    | $l != null and $m != null and $m.raftIndex == $l.raftIndex and $m.header.revision == $l.header.revision' >/dev/null
}
until caught_up; do sleep 0.05; done
T_CAUGHT_UP=$(elapsed_ms)

printf '{"ms":%d,"addedMs":%d,"startedMs":%d,"healthyMs":%d,"caughtUpMs":%d,"etcdVersion":"%s"}\n' \
  "$T_CAUGHT_UP" "$T_ADDED" "$T_STARTED" "$T_HEALTHY" "$T_CAUGHT_UP" "$ETCD_VERSION"
