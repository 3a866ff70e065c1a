// IssueCertificates: on the etcd CA host, the runbook's openssl req/ca commands for the new member's
// server and peer certificates, with SAN="IP:<ip>, DNS:<hostname>" (runbook 37.2.2 steps 1-5).
// First the CA host proves it reaches the artifact store (it ships the new member's bundle from there
// once the membership has changed): a CA host cut off from the network refuses the run here, while the
// cluster is still as it was. When the CA host itself failed and a CA backup is configured, the new
// CA host (a survivor) restores /etc/etcd/ca from it first, only if it is the CA the cluster trusts.
// The same command prints the certificates' public material (IssueCertificates.sh `sections`), and the
// step makes VerifyCertificates' checks on it at once (certificatesVerified): one host command for both.
// It also prints the etcd.conf it copied beside them (copiedEtcdConf) and makes the one-time key of
// ConfigureNewMember's upload on the CA host (functions/hosts/keysAhead.ts): ConfigureNewMember's write
// is then its only command.

import { ArtifactStoreError, ScriptFailedError } from '../errors.ts';
import { artifactKey } from '../cluster/artifactKeys.ts';
import { need } from '../cluster/need.ts';
import { runScriptText } from '../hosts/hostScript.ts';
import { askKeyAhead } from '../hosts/keysAhead.ts';
import type { Step } from '../workflow/step.ts';
import { checkCertificateSections } from './VerifyCertificates.ts';

export const IssueCertificates: Step = async (context, deps) => {
  const ca = need(context.caHost, 'caHost');
  const replacement = need(context.replacement, 'replacement');
  const probeKey = artifactKey.caProbe(context.runId, ca.hostname);
  const probeUrl = await deps.artifacts.uploadUrl(probeKey, deps.waits.urlTtlSeconds);
  const caBackup = context.options.caBackupKey;
  const caBackupUrl = caBackup ? await deps.artifacts.downloadUrl(caBackup, deps.waits.urlTtlSeconds) : null;
  askKeyAhead(deps.runner, ca, 'ConfigureNewMember');
  const text = await runScriptText(deps.runner, {
    host: ca,
    script: 'IssueCertificates',
    args: [replacement.hostname, replacement.ip, 'sections'],
    secrets: { PROBE_UPLOAD_URL: probeUrl, ...(caBackupUrl ? { CA_BACKUP_URL: caBackupUrl } : {}) },
  });
  const lines = text.trim().split('\n');
  let result: { prefix: string; issued: string; restoredCa: boolean; etcdConf?: string };
  try {
    result = JSON.parse(lines.at(-1) ?? '') as typeof result;
  } catch {
    throw new ScriptFailedError(ca.name, 'IssueCertificates', 0, `did not print a JSON result: ${(lines.at(-1) ?? '').slice(0, 200)}`);
  }
  // The certificates' public material, before the result: checked now, as VerifyCertificates would.
  const sections = lines.slice(0, -1).join('\n');
  const verified = sections.trim() !== '';
  if (verified) checkCertificateSections(sections, replacement, deps.now());
  if (!(await deps.artifacts.head(probeKey)))
    throw new ArtifactStoreError(`${ca.name} reported its upload to the artifact store, but ${probeKey} is not there`);
  const issued = result.issued.trim();
  const restored = result.restoredCa ? `restored /etc/etcd/ca on ${ca.name} from ${caBackup} (the CA the cluster trusts); ` : '';
  const copied =
    typeof result.etcdConf === 'string'
      ? { copiedEtcdConf: { hostname: replacement.hostname, text: Buffer.from(result.etcdConf, 'base64').toString('utf8') } }
      : {};
  return {
    output: {
      ...(verified
        ? { certificatesVerified: { hostname: replacement.hostname, ip: replacement.ip }, certificatesChecked: true }
        : { certificatesChecked: false }),
      ...copied,
    },
    detail:
      restored +
      (issued
        ? `issued ${issued.split(' ').join(' and ')} certificate(s) in ${result.prefix} on ${ca.name}`
        : `valid certificates already in ${result.prefix} on ${ca.name}`),
    ...(issued || restored ? {} : { skipped: true }),
  };
};
