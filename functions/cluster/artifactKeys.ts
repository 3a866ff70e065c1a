// Where a run keeps its artifacts in the artifact store.

/** Keys under which a run keeps its artifacts. */
export const artifactKey = {
  snapshot: (runId: string, member: string) => `runs/${runId}/snapshot-${member}.db`,
  failedData: (runId: string, hostname: string) => `runs/${runId}/failed-member-data-${hostname}.tgz`,
  bundle: (runId: string, hostname: string) => `runs/${runId}/bundle-${hostname}.tgz`,
  replacementPriorData: (runId: string, hostname: string) => `runs/${runId}/replacement-prior-data-${hostname}.tgz`,
  /** The CA certificate, uploaded by the CA host to prove it reaches the store before any membership change. */
  caProbe: (runId: string, hostname: string) => `runs/${runId}/ca-reachability-${hostname}.crt`,
  /** The scaleup playbook's full output (RunScaleupPlaybook). */
  scaleupOutput: (runId: string) => `runs/${runId}/scaleup-playbook.log`,
};
