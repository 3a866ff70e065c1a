// The error names the workflow routes on are classes: statemachine/spec.ts's Retry and Catch lists and
// REFUSED_ERRORS are strings, matched against `error.name` (Step Functions' ErrorEquals, and the XState
// run the same way), so a misspelt name would never match and nothing else would say so. Every name
// there must be an exported class of functions/errors.ts whose instances carry exactly that name.
// (That every refusal class is listed in REFUSED_ERRORS is test/unit/asl-conformance.test.ts's.)

import { describe, expect, it } from 'vitest';
import * as errors from '../../functions/errors.ts';
import { REFUSED_ERRORS, STATES, TRANSIENT_ERRORS } from '../../statemachine/spec.ts';

type ErrorClass = new (...args: unknown[]) => errors.WorkflowError;

/** Every class errors.ts exports that extends WorkflowError, by its export name. */
const classes = new Map<string, ErrorClass>(
  Object.entries(errors).flatMap(([name, value]): Array<[string, ErrorClass]> =>
    typeof value === 'function' && value.prototype instanceof errors.WorkflowError ? [[name, value as unknown as ErrorClass]] : [],
  ),
);

/** An instance, whatever the constructor's parameters (a message, or a field and a message, or a script's host, name, code and output). */
function instanceOf(ErrorType: ErrorClass): errors.WorkflowError {
  return new ErrorType('a', 'b', 3, 'd');
}

/** Every error name the spec routes on, with where it is used; the States.* names are Step Functions' own. */
function specErrorNames(): Map<string, string[]> {
  const uses = new Map<string, string[]>();
  const add = (name: string, where: string) => {
    if (name.startsWith('States.')) return;
    uses.set(name, [...(uses.get(name) ?? []), where]);
  };
  for (const state of STATES) {
    if (state.kind === 'task') {
      state.retry.forEach((rule) => rule.errors.forEach((name) => add(name, `${state.name} retry`)));
      state.catch.forEach((rule) => rule.errors.forEach((name) => add(name, `${state.name} catch`)));
    }
    if (state.kind === 'outcome') state.refusedErrors.forEach((name) => add(name, `${state.name} refusedErrors`));
  }
  REFUSED_ERRORS.forEach((name) => add(name, 'REFUSED_ERRORS'));
  TRANSIENT_ERRORS.forEach((name) => add(name, 'TRANSIENT_ERRORS'));
  return uses;
}

describe('Error names: spec.ts and functions/errors.ts', () => {
  it('every error name the spec retries, catches or routes to Refused is an exported class whose instances carry that name', () => {
    const names = specErrorNames();
    expect(names.size).toBeGreaterThan(10);
    const wrong = [...names].flatMap(([name, where]) => {
      const ErrorType = classes.get(name);
      if (!ErrorType) return [`${name} (${where.join(', ')}): no such class in functions/errors.ts`];
      const actual = instanceOf(ErrorType).name;
      return actual === name ? [] : [`${name} (${where.join(', ')}): its instances are named ${actual}`];
    });
    expect(wrong).toEqual([]);
  });

  it('every class carries its own name as a literal, not one derived from the constructor (which a bundler may rename)', () => {
    expect(classes.size).toBeGreaterThan(20);
    // [export name, instance name, the name set on the instance itself (not Error.prototype's), errorName()]
    const names = [...classes].map(([exported, ErrorType]) => {
      const instance = instanceOf(ErrorType);
      return [exported, instance.name, Object.getOwnPropertyDescriptor(instance, 'name')?.value, errors.errorName(instance)];
    });
    expect(names).toEqual([...classes.keys()].map((exported) => [exported, exported, exported, exported]));
  });

  it('keeps the name when the class itself is renamed, as a minifier without keepNames would', () => {
    const Renamed = errors.LockLostError;
    Object.defineProperty(Renamed, 'name', { value: 'a', configurable: true });
    try {
      expect(new Renamed('lost').name).toBe('LockLostError');
    } finally {
      Object.defineProperty(Renamed, 'name', { value: 'LockLostError', configurable: true });
    }
  });
});
