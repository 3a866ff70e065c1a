// Where the OpenShift 3.11 host files the workflow edits sit on a host (samples: sandbox/templates/).
// The steps that edit them and the plan that shows their commands read the paths here.

/** The Ansible inventory on the installer host; its [etcd] group lists the members. */
export const INVENTORY_PATH = '/etc/ansible/hosts';
/** Each master's configuration; etcdClientInfo.urls lists the members it talks to. */
export const MASTER_CONFIG_PATH = '/etc/origin/master/master-config.yaml';
/** flanneld's settings on every host that runs it; FLANNEL_ETCD_ENDPOINTS lists the members. */
export const FLANNELD_PATH = '/etc/sysconfig/flanneld';
