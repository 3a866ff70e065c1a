#!/usr/bin/python3
# The sandbox's yedit (openshift-ansible's lib_utils module of that name, for what the etcd scaleup
# asks of it): sets a dotted key of a YAML file to a list or a scalar. The file keeps its layout:
# only the key's value is rewritten, in the file's own indentation; the result is checked by
# parsing it again (PyYAML) before it replaces the file.
from __future__ import annotations

import json
import os
import re
import tempfile

import yaml
from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = '''
module: yedit
short_description: set a key of a YAML file (sandbox)
options:
  src: {required: true, type: str}
  key: {required: true, type: str}
  value: {required: true, type: raw}
  state: {type: str, default: present, choices: [present]}
  backup: {type: bool, default: false}
'''


def lookup(data, path):
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def scalar(value):
    """value as a YAML scalar: plain when it reads back as itself, else JSON (a YAML subset)."""
    if isinstance(value, str) and '\n' not in value:
        try:
            if yaml.safe_load('- ' + value) == [value]:
                return value
        except yaml.YAMLError:
            pass
    return json.dumps(value)


def replace_value(text, path, value):
    """The text with path's value replaced; None when the key's block cannot be found."""
    lines = text.split('\n')
    start, indent = 0, -1
    index = None
    for depth, part in enumerate(path):
        found = None
        for i in range(start, len(lines)):
            line = lines[i]
            stripped = line.lstrip(' ')
            if not stripped or stripped.startswith('#'):
                continue
            current = len(line) - len(stripped)
            if current <= indent and i > start:
                break
            if re.match(r'^%s\s*:(\s|$)' % re.escape(part), stripped) and (depth == 0 and current == 0 or depth > 0 and current > indent):
                found = (i, current)
                break
        if found is None:
            return None
        index, indent = found
        start = index + 1
    # The key's value: what follows on its line, or the lines indented under it (or a list at its level).
    end = index + 1
    while end < len(lines):
        line = lines[end]
        stripped = line.lstrip(' ')
        current = len(line) - len(stripped)
        if stripped and not stripped.startswith('#') and (current < indent or current == indent and not stripped.startswith('- ')):
            break
        if not stripped:
            break
        end += 1
    key_line = lines[index]
    key_text = key_line[: key_line.index(':') + 1]
    items = [line for line in lines[index + 1 : end] if line.lstrip(' ').startswith('- ')]
    item_indent = (len(items[0]) - len(items[0].lstrip(' '))) if items else indent + 2
    if isinstance(value, list):
        new = [key_text] + ['%s- %s' % (' ' * item_indent, scalar(v)) for v in value]
    else:
        new = ['%s %s' % (key_text, scalar(value))]
    return '\n'.join(lines[:index] + new + lines[end:])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            src=dict(required=True, type='str'),
            key=dict(required=True, type='str'),
            value=dict(required=True, type='raw'),
            state=dict(default='present', choices=['present']),
            backup=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    src, key, value = module.params['src'], module.params['key'], module.params['value']
    path = key.split('.')
    try:
        with open(src, encoding='utf-8') as handle:
            text = handle.read()
        data = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as error:
        module.fail_json(msg='Error opening file [%s]: %s' % (src, error))
    if lookup(data, path) == value:
        module.exit_json(changed=False, result=[{'edit': data, 'key': key}], state='present')
    new_text = replace_value(text, path, value)
    if new_text is None:
        module.fail_json(msg='key %s not found in %s' % (key, src))
    if lookup(yaml.safe_load(new_text), path) != value:
        module.fail_json(msg='editing %s in %s did not give the value asked for' % (key, src))
    if not module.check_mode:
        if module.params['backup']:
            module.backup_local(src)
        directory = os.path.dirname(src) or '.'
        fd, tmp = tempfile.mkstemp(dir=directory, prefix='.yedit-')
        with os.fdopen(fd, 'w', encoding='utf-8') as handle:
            handle.write(new_text)
        os.chmod(tmp, os.stat(src).st_mode & 0o7777)
        os.replace(tmp, src)
    module.exit_json(changed=True, result=[{'edit': yaml.safe_load(new_text), 'key': key}], state='present')


if __name__ == '__main__':
    main()
