// DiscardKeyBundle: whatever the outcome, the new member's key bundle (both of its private keys) leaves
// the artifact store, with every stored version of it. StartNewMember deletes it as soon as the
// member runs; every other ending (a failure, a refusal, a crash resumed) comes through here. A
// deletion that fails is named in `remaining`: the run never ends quietly with keys in the store.
// On the CA host the keys stay in generated_certs/etcd-<hostname>/, root only, as the runbook and
// openshift-ansible keep them; the tarball that carried them never outlives ConfigureNewMember.

import { ArtifactStoreError, errorMessage } from '../errors.ts';
import { artifactKey } from '../cluster/artifactKeys.ts';
import type { Step } from '../workflow/step.ts';

export const DiscardKeyBundle: Step = async (context, deps) => {
  const host = context.replacement;
  if (!host) return { output: {}, detail: 'no replacement was chosen: no key bundle was made', skipped: true };
  // The key is derived, not only read from the context: a crash between the upload and the step's
  // record leaves a bundle the context does not name.
  const key = context.bundleKey ?? artifactKey.bundle(context.runId, host.hostname);
  try {
    const stored = await deps.artifacts.head(key);
    if (!stored) return { output: {}, detail: `no key bundle of ${host.name} in the artifact store`, skipped: true };
    await deps.artifacts.delete(key);
    if (await deps.artifacts.head(key)) throw new ArtifactStoreError(`${stored.location} is still there after its deletion`);
    return { output: {}, detail: `deleted the key bundle of ${host.name} (${stored.location}) from the artifact store` };
  } catch (error) {
    const message = `the key bundle ${key} of ${host.name} (its private keys) may still be in the artifact store: delete it, and every version of it, by hand (${errorMessage(error)})`;
    return {
      output: { remaining: [...(context.remaining ?? []), message] },
      detail: `could not delete the key bundle of ${host.name}: ${errorMessage(error)}`,
    };
  }
};
