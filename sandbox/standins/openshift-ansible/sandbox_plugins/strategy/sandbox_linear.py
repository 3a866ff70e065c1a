# The sandbox's strategy: Ansible's linear strategy, plus the fault marker of
# `etcd-replace sandbox fail HOST --mode scaleup --task "TASK NAME"`. The marker is
#   <sandbox state dir>/hosts/HOST/fault/scaleup-task   (one line: the task's name)
# in the sandbox's state dir, never in a path the workflow reads. When the named task (its name as
# the TASK [...] line shows it, with or without the "role : " prefix) is queued for HOST, the task
# runs as a command that removes the marker (one-shot) and exits 1 on the host the task runs on,
# with the task's own loop, delegate_to, register, until/retries/delay, failed_when and ignore_errors:
# every earlier task ran, and Ansible reports the failure as it reports any failed task.
from __future__ import annotations

import os
import shlex

from ansible.plugins.strategy.linear import StrategyModule as LinearStrategyModule

DOCUMENTATION = '''
    name: sandbox_linear
    short_description: linear, plus the sandbox's scaleup fault marker
    description:
        - Ansible's linear strategy. A task named by the sandbox's scaleup fault marker fails on its host.
    author: etcd-replace
'''

_HOSTS_DIR_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'sandbox-hosts-dir')


def _hosts_dir():
    try:
        with open(_HOSTS_DIR_FILE, encoding='utf-8') as handle:
            return handle.read().strip()
    except OSError:
        return None


def _marker_for(host_name):
    hosts_dir = _hosts_dir()
    if not hosts_dir:
        return None
    short = host_name.split('.')[0]
    if not short or '/' in short or short.startswith('.'):
        return None
    path = os.path.join(hosts_dir, short, 'fault', 'scaleup-task')
    try:
        with open(path, encoding='utf-8') as handle:
            return path, handle.read().strip()
    except OSError:
        return None


class StrategyModule(LinearStrategyModule):
    def _queue_task(self, host, task, task_vars, play_context):
        found = _marker_for(host.name)
        if found is not None:
            path, wanted = found
            names = {task.get_name(), task.name or ''}
            if wanted and wanted in names:
                message = 'sandbox fault: task "%s" failed on %s (etcd-replace sandbox fail --mode scaleup)' % (wanted, host.name)
                failing = task.copy(exclude_parent=False, exclude_tasks=False)
                failing.action = 'ansible.builtin.command'
                failing.resolved_action = 'ansible.builtin.command'
                script = 'rm -f %s; echo %s >&2; exit 1' % (shlex.quote(path), shlex.quote(message))
                failing.args = {'_raw_params': 'sh -c %s' % shlex.quote(script)}
                task = failing
        return super(StrategyModule, self)._queue_task(host, task, task_vars, play_context)
