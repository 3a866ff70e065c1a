// InstallEtcd: `yum install -y etcd` on the new host, at least etcd-2.3.7; a learner needs 3.4+.

import { NewMemberFailedError } from '../errors.ts';
import { compareVersions, need } from './cluster.ts';
import { runScript } from './hostScript.ts';
import type { Step } from './stepResult.ts';

export const InstallEtcd: Step = async (context, deps) => {
  const host = need(context.replacement, 'replacement');
  const { version } = await runScript<{ version: string }>(deps.runner, {
    host,
    script: 'InstallEtcd',
    timeoutSeconds: 600,
    exits: { 3: (m) => new NewMemberFailedError(m) },
  });
  if (context.addedAsLearner && compareVersions(version, '3.4.0') < 0) {
    throw new NewMemberFailedError(`${host.name} has etcd ${version}; it was added as a learner, which needs etcd 3.4 or later`);
  }
  return { output: {}, detail: `${host.name}: etcd ${version} installed` };
};
