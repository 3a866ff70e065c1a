// Keys made ahead, carried in the run's state. On SSM a host command with secrets needs a one-time key
// the host made (functions/adapters/aws/secretSeal.ts): a round trip of its own when nothing else goes
// to the host first. A step that knows a later command with secrets goes to a host where it sends a
// command now asks for the key ahead (askKeyAhead): that command makes the key on the host before its
// script runs, and the key's public half rides back in its output. What a step made and did not use is
// carried to the later steps in the context (`keysAhead`): key id, public half (base64 DER), instance,
// when it was made, and the script it was asked for. Public material only: the private half never
// leaves the host, and the secrets are sealed to it only when their command is sent.
//
// Both runners of steps (functions/handlers/step.ts, functions/workflow/localRun.ts) hand the runner the
// keys the context carries before the step (withKeysAhead) and write back what is left after it. A
// runner that needs no keys (the sandbox's, which writes secrets to the script's stdin) has none of
// this: the context is left as it is.

import type { Host, HostRunner } from '../ports.ts';
import type { WorkflowContext } from '../../statemachine/context.ts';

/** One key a host made ahead, as the context carries it: public material only. */
export type KeyAhead = NonNullable<WorkflowContext['keysAhead']>[number];

/** A host runner whose secrets need keys made on the host, made ahead where it can (the SSM runner). */
export interface KeysAheadRunner extends HostRunner {
  /**
   * The next command this step sends to `host` also makes a one-time key there for a later command with
   * secrets (of `script`), in this step or a later one. Nothing is sent for it; when no command goes to
   * the host, no key is made and the command with secrets makes its own, as without this.
   */
  keyAhead(host: Host, script: string): void;
  /** Whether a key made ahead that a command with secrets to `host` would take is at hand. */
  holdsKeyAhead(host: Host): boolean;
  /** Starts a step: the keys its context carries (those not valid or too old are dropped). */
  carryKeysAhead(keys: readonly KeyAhead[]): void;
  /** Ends a step: the keys made or carried in and not used, still young enough to be taken. */
  keysAheadLeft(): KeyAhead[];
}

/** The runner as a KeysAheadRunner, when it is one. */
export function keysAheadRunner(runner: unknown): KeysAheadRunner | undefined {
  const r = runner as Partial<KeysAheadRunner> | null | undefined;
  return r && typeof r.keyAhead === 'function' && typeof r.carryKeysAhead === 'function' && typeof r.keysAheadLeft === 'function'
    ? (r as KeysAheadRunner)
    : undefined;
}

/** Asks the runner for a key ahead on `host` for `script`'s secrets (see KeysAheadRunner.keyAhead); nothing where keys are not needed. */
export function askKeyAhead(runner: HostRunner, host: Host, script: string): void {
  keysAheadRunner(runner)?.keyAhead(host, script);
}

/** Whether a command with secrets to `host` would find a key made ahead (never, where keys are not needed). */
export function holdsKeyAhead(runner: HostRunner, host: Host): boolean {
  return keysAheadRunner(runner)?.holdsKeyAhead(host) === true;
}

/**
 * Runs a step with the keys its context carries, and says which to carry on: `keysAhead` is undefined
 * when the runner needs no keys (leave the context as it is), else the keys left (empty: none).
 */
export async function withKeysAhead<T>(
  deps: unknown,
  context: WorkflowContext,
  run: () => Promise<T>,
): Promise<{ result: T; keysAhead: KeyAhead[] | undefined }> {
  const runner = keysAheadRunner(typeof deps === 'object' && deps !== null ? (deps as { runner?: unknown }).runner : undefined);
  if (!runner) return { result: await run(), keysAhead: undefined };
  runner.carryKeysAhead(Array.isArray(context.keysAhead) ? context.keysAhead : []);
  const result = await run();
  return { result, keysAhead: runner.keysAheadLeft() };
}

/** The context with `keysAhead` set to what is left (removed when nothing is), or as it was when the runner needs no keys. */
export function withKeysLeft<C extends WorkflowContext>(context: C, keysAhead: KeyAhead[] | undefined): C {
  if (keysAhead === undefined) return context;
  const { keysAhead: _carried, ...rest } = context;
  return (keysAhead.length > 0 ? { ...rest, keysAhead } : rest) as C;
}
