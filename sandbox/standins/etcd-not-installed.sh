#!/usr/bin/env bash
# Bound over /usr/bin/etcd and /usr/bin/etcdctl on a sandbox host without the etcd package (a spare
# or a node before `yum install etcd`, or after `yum remove etcd`): answers as bash does for a
# command that is not there.
echo "bash: $(basename "$0"): command not found" >&2
exit 127
