// IssueCertificates: on the etcd CA host, the runbook's openssl req/ca commands for the new member's
// server and peer certificates, with SAN="IP:<ip>, DNS:<hostname>" (runbook 37.2.2 steps 1-5).

import { RefusedError } from '../errors.ts';
import { need } from './cluster.ts';
import { runScript } from './hostScript.ts';
import type { Step } from './stepResult.ts';

export const IssueCertificates: Step = async (context, deps) => {
  const ca = need(context.caHost, 'caHost');
  const replacement = need(context.replacement, 'replacement');
  const result = await runScript<{ prefix: string; issued: string }>(deps.runner, {
    host: ca,
    script: 'IssueCertificates',
    args: [replacement.hostname, replacement.ip],
    exits: { 3: (message) => new RefusedError(message) },
  });
  const issued = result.issued.trim();
  return {
    output: {},
    detail: issued ? `issued ${issued.split(' ').join(' and ')} certificate(s) in ${result.prefix} on ${ca.name}` : `valid certificates already in ${result.prefix} on ${ca.name}`,
    ...(issued ? {} : { skipped: true }),
  };
};
