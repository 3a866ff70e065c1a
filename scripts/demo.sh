#!/usr/bin/env bash
# The demo (npm start): build a sandbox OpenShift 3.11 etcd cluster, power off master-2, replace it
# with etcd-spare-0 through the workflow, check the result with etcdctl on the hosts, print the run's
# timeline, and tear the sandbox down.
set -o errexit -o nounset -o pipefail

cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
# OpenShift 3.11's etcd 3.2.22 when its build is found (ETCD_REPLACE_ETCD_BUILDS, default ../shared/etcd
# beside the checkout); Debian's 3.4.23 otherwise. `sandbox up` says which and why.
if [[ -z ${ETCD_REPLACE_ETCD_BUILDS:-} && -d ../shared/etcd ]]; then
  ETCD_REPLACE_ETCD_BUILDS=$(cd ../shared/etcd && pwd)
  export ETCD_REPLACE_ETCD_BUILDS
fi

name="demo-$$"
cli() { node bin/etcd-replace.mjs "$@"; }
cleanup() { cli sandbox down --sandbox "$name" >/dev/null 2>&1 || true; }
trap cleanup EXIT

started=$(date +%s%N)
echo "== 1. build the sandbox: 3 masters (etcd as static pods, master-0 is the CA), 1 spare, 1 node, 32 MB of data"
cli sandbox up --sandbox "$name"

echo
echo "== 2. power off master-2"
cli sandbox fail --sandbox "$name" master-2 --mode kill

echo
echo "== 3. replace it with etcd-spare-0"
cli run --target sandbox --sandbox "$name" --failed master-2 --replacement etcd-spare-0 --grace-seconds 2

echo
echo "== 4. check with etcdctl on master-0"
# shellcheck disable=SC2016 # JavaScript, not shell: its ${} are template literals
endpoints=$(cli sandbox status --sandbox "$name" --json | node -e '
  const s = JSON.parse(require("fs").readFileSync(0, "utf8"));
  console.log(s.hosts.filter((h) => h.etcd.running).map((h) => `https://${h.ip}:2379`).join(","));
')
etcdctl=(env ETCDCTL_API=3 etcdctl --cacert=/etc/etcd/ca.crt --cert=/etc/etcd/peer.crt --key=/etc/etcd/peer.key)
cli sandbox exec --sandbox "$name" master-0 -- "${etcdctl[@]}" --endpoints="$endpoints" member list -w table
cli sandbox exec --sandbox "$name" master-0 -- "${etcdctl[@]}" --endpoints="$endpoints" endpoint health
cli sandbox exec --sandbox "$name" master-0 -- grep -A7 '^etcdClientInfo' /etc/origin/master/master-config.yaml
cli sandbox exec --sandbox "$name" node-0 -- grep '^FLANNEL_ETCD_ENDPOINTS' /etc/sysconfig/flanneld

echo
echo "== 5. the run record"
cli history --sandbox "$name" --limit 1

echo
echo "demo wall time: $(( ($(date +%s%N) - started) / 1000000 )) ms (sandbox is torn down next)"
