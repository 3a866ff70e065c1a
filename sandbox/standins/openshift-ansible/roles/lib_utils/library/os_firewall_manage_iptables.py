#!/usr/bin/python3
# The sandbox's os_firewall_manage_iptables (openshift-ansible's lib_utils module of that name, same
# parameters): keeps an ACCEPT rule for a port in chain OS_FIREWALL_ALLOW, creating the chain and its
# jump from INPUT (before a final REJECT/DROP) when missing, and saves the rules to
# /etc/sysconfig/iptables as `iptables.init save` does (iptables-save).
from __future__ import annotations

import subprocess

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = '''
module: os_firewall_manage_iptables
short_description: an ACCEPT rule per port in OS_FIREWALL_ALLOW (sandbox)
options:
  name: {required: true, type: str}
  action: {required: true, type: str, choices: [add, remove, verify_chain]}
  chain: {type: str, default: OS_FIREWALL_ALLOW}
  create_jump_rule: {type: bool, default: true}
  jump_rule_chain: {type: str, default: INPUT}
  protocol: {type: str, choices: [tcp, udp]}
  port: {type: str}
  ip_version: {type: str, default: ipv4, choices: [ipv4]}
'''

SAVE_FILE = '/etc/sysconfig/iptables'


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(required=True),
            action=dict(required=True, choices=['add', 'remove', 'verify_chain']),
            chain=dict(default='OS_FIREWALL_ALLOW'),
            create_jump_rule=dict(type='bool', default=True),
            jump_rule_chain=dict(default='INPUT'),
            protocol=dict(choices=['tcp', 'udp']),
            port=dict(type='str'),
            ip_version=dict(default='ipv4', choices=['ipv4']),
        ),
        supports_check_mode=True,
    )
    params = module.params
    action, chain, jump_chain = params['action'], params['chain'], params['jump_rule_chain']
    if action in ('add', 'remove') and (not params['protocol'] or not params['port']):
        module.fail_json(msg='protocol and port are required when action is %s' % action)
    iptables = [module.get_bin_path('iptables', True), '-w']
    output = []
    changed = False

    def call(args):
        return subprocess.run(iptables + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)

    def must(args, what):
        result = call(args)
        if result.returncode != 0:
            module.fail_json(msg=what, cmd=' '.join(iptables + args), exit_code=result.returncode, output=result.stdout)
        output.append(result.stdout)

    def save():
        result = subprocess.run([module.get_bin_path('iptables-save', True)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
        if result.returncode != 0:
            module.fail_json(msg='Failed to save iptables rules', output=result.stderr)
        with open(SAVE_FILE, 'w', encoding='utf-8') as handle:
            handle.write(result.stdout)

    def verify_chain():
        nonlocal changed
        if call(['-L', chain, '-n']).returncode != 0:
            changed = True
            if not module.check_mode:
                must(['-N', chain], 'Failed to create chain: %s' % chain)
                save()
        if params['create_jump_rule'] and call(['-C', jump_chain, '-j', chain]).returncode != 0:
            changed = True
            if not module.check_mode:
                listing = call(['-L', jump_chain, '--line-numbers', '-n']).stdout.splitlines()
                last = None
                for line in listing:
                    words = line.split()
                    if words and words[0].isdigit():
                        last = (int(words[0]), words[1] if len(words) > 1 else '')
                if last and last[1] in ('REJECT', 'DROP'):
                    must(['-I', jump_chain, str(last[0]), '-j', chain], 'Failed to create jump rule for chain %s' % chain)
                else:
                    must(['-A', jump_chain, '-j', chain], 'Failed to create jump rule for chain %s' % chain)
                save()

    if action == 'verify_chain':
        verify_chain()
    else:
        proto, port = params['protocol'], str(params['port']).replace('-', ':')
        rule = [chain, '-p', proto, '-m', 'state', '--state', 'NEW', '-m', proto, '--dport', port, '-j', 'ACCEPT']
        exists = call(['-C'] + rule).returncode == 0
        if action == 'add' and not exists:
            verify_chain()
            changed = True
            if not module.check_mode:
                must(['-A'] + rule, 'Failed to create rule for %s %s' % (proto, port))
                save()
        elif action == 'remove' and exists:
            changed = True
            if not module.check_mode:
                must(['-D'] + rule, 'Failed to remove rule for %s %s' % (proto, port))
                save()
    module.exit_json(changed=changed, output=output)


if __name__ == '__main__':
    main()
