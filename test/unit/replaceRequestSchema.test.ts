// The console input schema: its examples are accepted by the schema and by the real first step
// (ValidateInput, through the Lambda handler's request-to-context conversion); bad inputs are
// refused by both, the step with an InvalidInputError naming the field.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { ValidateInput } from '../../functions/steps/ValidateInput.ts';
import type { StepDeps } from '../../functions/workflow/stepDeps.ts';
import type { Inventory } from '../../functions/ports.ts';
import { contextFromEvent } from '../../functions/handlers/event.ts';

const schemaDir = fileURLToPath(new URL('../../schemas', import.meta.url));
const schema = JSON.parse(readFileSync(join(schemaDir, 'replace-request.schema.json'), 'utf8')) as object;
const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);
const examples = readdirSync(join(schemaDir, 'examples'))
  .filter((f) => f.endsWith('.json'))
  .map((f) => [f, JSON.parse(readFileSync(join(schemaDir, 'examples', f), 'utf8')) as Record<string, unknown>] as const);
const explicit = examples.find(([f]) => f === 'explicit-inventory.json')![1];
const inventory = explicit['inventory'] as Inventory;

/** Runs the real ValidateInput on a console input, the way the step Lambda does on the first state. */
function runFirstStep(input: unknown) {
  const deps = { now: () => new Date(), resolveInventory: async () => inventory } as unknown as StepDeps;
  return ValidateInput(contextFromEvent({ step: 'ValidateInput', context: input, executionName: 'a1b2c3d4-console-start' }), deps);
}

const base = { cluster: 'ocp311', failed: 'master-2', replacement: 'etcd-spare-0', startedBy: 'console:jane' };

describe('Schema: replace-request', () => {
  it('has examples', () => {
    expect(examples.map(([f]) => f).sort()).toEqual([
      'alarm-started.json',
      'console-launch-new.json',
      'console-minimal.json',
      'console-with-options.json',
      'explicit-inventory.json',
    ]);
  });

  for (const [file, example] of examples) {
    it(`accepts ${file}, and so does the first step`, async () => {
      expect(validate(example) ? [] : validate.errors).toEqual([]);
      const result = await runFirstStep(example);
      // `new` launches a host for the run (ProvisionReplacement): none is chosen yet.
      if (example['replacement'] === 'new') {
        expect(result.output).toMatchObject({ replacementChoice: 'launched' });
        expect(result.output.replacement).toBeUndefined();
      } else {
        expect(result.output.replacement?.name).toBe('etcd-spare-0');
        expect(result.output.replacementChoice).toBe(example['replacement'] === undefined ? 'spare' : 'named');
      }
      // A peer URL names a member, not a host: CheckClusterHealth matches it against the member list.
      expect(result.output.failedHost?.name).toBe(String(example['failed']).startsWith('https://') ? undefined : 'master-2');
    });
  }

  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ['a missing failed member', { cluster: 'ocp311', replacement: 'etcd-spare-0', startedBy: 'console' }, /failed/],
    ['a shell metacharacter in the failed member', { ...base, failed: 'master-2; reboot' }, /failed/],
    ['an upper-case replacement hostname', { ...base, replacement: 'ETCD-SPARE-0' }, /replacement/],
    ['a negative grace window', { ...base, options: { graceSeconds: -5 } }, /graceSeconds/],
    ['an unknown learner mode', { ...base, options: { learner: 'always' } }, /learner/],
    ['a newline in startedBy', { ...base, startedBy: 'console\nrm -rf /' }, /startedBy/],
  ];
  for (const [what, input, field] of bad) {
    it(`refuses ${what}, in the schema and in the first step`, async () => {
      expect(validate(input)).toBe(false);
      const error = await runFirstStep(input).catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'InvalidInputError' });
      expect(String((error as Error).message)).toMatch(field);
    });
  }

  it('refuses fields it does not know (a typo must not be ignored silently)', () => {
    expect(validate({ ...base, gracesSeconds: 10 })).toBe(false);
    expect(validate.errors?.[0]?.keyword).toBe('additionalProperties');
  });
});
