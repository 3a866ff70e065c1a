// CheckScaleupPlaybook: for the ansible add method, in the grace window and before any membership change,
// everything the scaleup playbook needs (runbook 37.2.1), so that a run that cannot add the member that
// way is refused while the failed member is still in place:
// - the installer host is not the failed member's host;
// - the inventory on the installer host can carry the change (PrepareInventory's edit is worked out here
//   and checked: [OSEv3:children] and [etcd] exist, the CA host is listed in [etcd] to come first, the new
//   host is in neither [new_masters] nor [new_nodes]);
// - ansible-playbook and the playbook are there, and Ansible reaches every host of [etcd], [new_etcd]
//   of that inventory over SSH (CheckScaleupPlaybook.sh installer): the hosts it needs to add the member;
// - the CA host, first in [etcd], holds /etc/etcd/ca: restored from the CA backup when the CA host itself
//   failed, under the same rules as IssueCertificates (CheckScaleupPlaybook.sh ca), and the members'
//   ETCD_QUOTA_BACKEND_BYTES, which the new member must share: the playbook's default is 8 GiB, and it
//   gets the members' own through -e (scaleupVars).

import { RefusedError } from '../errors.ts';
import { OPENSHIFT_ANSIBLE_DIR } from '../../statemachine/context.ts';
import { need } from '../cluster/need.ts';
import { installerIsFailedHost, scaleupChange } from '../cluster/scaleupChange.ts';
import { prepareScaleupInventory, scaleupInventoryProblems } from '../config/inventory.ts';
import { INVENTORY_PATH } from '../config/paths.ts';
import { readHostFile } from '../hosts/hostFile.ts';
import { runScript } from '../hosts/hostScript.ts';
import type { Step } from '../workflow/step.ts';

export const CheckScaleupPlaybook: Step = async (context, deps) => {
  const installer = need(context.installerHost, 'installerHost');
  const ca = need(context.caHost, 'caHost');
  const caRoleHost = context.inventory?.hosts.find((h) => h.roles.includes('ca'))?.name;
  const onInstaller = installerIsFailedHost(context);
  if (onInstaller) throw new RefusedError(onInstaller);
  const change = scaleupChange(context);
  const inventory = await readHostFile(deps.runner, installer, INVENTORY_PATH);
  if (inventory === null)
    throw new RefusedError(
      `${INVENTORY_PATH} does not exist on ${installer.name}, the installer host: the scaleup playbook has no inventory; nothing was changed`,
    );
  const problems = scaleupInventoryProblems(inventory.text, change);
  if (problems.length > 0) throw new RefusedError(`the inventory on ${installer.name} cannot carry the scaleup: ${problems.join('; ')}; nothing was changed`);
  const planned = prepareScaleupInventory(inventory.text, change);
  const caBackup = context.options.caBackupKey;
  const caMoved = context.failedHost?.name !== undefined && caRoleHost === context.failedHost.name;
  const caBackupUrl = caMoved && caBackup ? await deps.artifacts.downloadUrl(caBackup, deps.waits.urlTtlSeconds) : null;
  const [tools, caHost] = await Promise.all([
    runScript<{ ansible: string; reached: number }>(deps.runner, {
      host: installer,
      script: 'CheckScaleupPlaybook',
      args: ['installer', context.options.openshiftAnsibleDir ?? OPENSHIFT_ANSIBLE_DIR, Buffer.from(planned, 'utf8').toString('base64')],
      timeoutSeconds: 120,
    }),
    runScript<{ restoredCa: boolean; quotaBackendBytes: string | null }>(deps.runner, {
      host: ca,
      script: 'CheckScaleupPlaybook',
      args: ['ca'],
      ...(caBackupUrl ? { secrets: { CA_BACKUP_URL: caBackupUrl } } : {}),
    }),
  ]);
  const restored = caHost.restoredCa ? `restored /etc/etcd/ca on ${ca.name} from ${caBackup} (the CA the cluster trusts); ` : '';
  const quota = caHost.quotaBackendBytes;
  return {
    output: quota ? { scaleupVars: { etcd_quota_backend_bytes: quota } } : {},
    detail: `${restored}${tools.ansible} on ${installer.name} reaches the ${tools.reached} host(s) of [etcd] and [new_etcd]; ${ca.name} holds the CA and comes first in [etcd]${quota ? `; the new member gets the members' ETCD_QUOTA_BACKEND_BYTES=${quota} (-e etcd_quota_backend_bytes)` : ''}`,
  };
};
