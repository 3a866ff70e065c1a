// The restore-quorum console input schema (schemas/restore-request.schema.json): its examples
// (schemas/examples/restore-quorum/) are accepted by the schema and by the real first step
// (ValidateRestoreRequest); bad inputs are refused by both, the step with an InvalidInputError naming the
// field. Its inventory is the replacement request's, word for word.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { ValidateRestoreRequest } from '../../functions/steps/ValidateRestoreRequest.ts';
import type { StepDeps } from '../../functions/workflow/stepDeps.ts';
import type { Inventory } from '../../functions/ports.ts';
import { DEFAULT_OPTIONS } from '../../statemachine/context.ts';
import type { RestoreContext } from '../../statemachine/restoreContext.ts';

const schemaDir = fileURLToPath(new URL('../../schemas', import.meta.url));
const read = (path: string) => JSON.parse(readFileSync(join(schemaDir, path), 'utf8')) as Record<string, unknown>;
const schema = read('restore-request.schema.json');
const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);
const exampleDir = join('examples', 'restore-quorum');
const examples = readdirSync(join(schemaDir, exampleDir))
  .filter((f) => f.endsWith('.json'))
  .map((f) => [f, read(join(exampleDir, f))] as const);
const inventory = examples.find(([f]) => f === 'explicit-inventory.json')![1]['inventory'] as Inventory;

/** The first step on a console input: the input as the request, its options over the run's defaults. */
function runFirstStep(input: Record<string, unknown>) {
  const given = typeof input['options'] === 'object' && input['options'] !== null ? input['options'] : {};
  const context = { runId: 'a1b2c3d4-console-start', request: input, options: { ...DEFAULT_OPTIONS, ...given } } as unknown as RestoreContext;
  const deps = { now: () => new Date('2026-01-01T00:00:00Z'), resolveInventory: async () => inventory } as unknown as StepDeps;
  return ValidateRestoreRequest(context, deps);
}

const base = { cluster: 'ocp311', startedBy: 'console:jane' };

describe('Schema: restore-request', () => {
  it('has examples, and its inventory is the replacement request’s', () => {
    expect(examples.map(([f]) => f).sort()).toEqual([
      'alarm-started.json',
      'console-from-member.json',
      'console-minimal.json',
      'console-snapshot.json',
      'explicit-inventory.json',
    ]);
    const replace = read('replace-request.schema.json');
    expect((schema['properties'] as Record<string, unknown>)['inventory']).toEqual((replace['properties'] as Record<string, unknown>)['inventory']);
  });

  for (const [file, example] of examples) {
    it(`accepts ${file}, and so does the first step`, async () => {
      expect(validate(example) ? [] : validate.errors).toEqual([]);
      const result = await runFirstStep(example);
      expect(result.output.inventory?.hosts.map((h) => h.name)).toEqual(['master-0', 'master-1', 'master-2', 'etcd-spare-0']);
      expect(result.output.caHost?.name).toBe('master-0');
      expect(result.output.validatedAt).toBe('2026-01-01T00:00:00.000Z');
      // `from` comes back as the one etcd host it names, whichever identity the input used.
      expect(result.output.options?.from).toBe(example['from'] === undefined ? undefined : 'master-1');
      expect(result.output.options?.snapshot).toBe(example['snapshot']);
    });
  }

  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ['a missing startedBy', { cluster: 'ocp311' }, /startedBy/],
    ['a newline in startedBy', { ...base, startedBy: 'console\nrm -rf /' }, /startedBy/],
    ['from and snapshot together', { ...base, from: 'master-1', snapshot: 'runs/r1/snapshot.db' }, /from and snapshot exclude each other/],
    ['a shell metacharacter in from', { ...base, from: 'master-1; reboot' }, /invalid from/],
    ['a snapshot key that climbs out', { ...base, snapshot: '../etc/passwd' }, /invalid snapshot/],
    ['an unnamed waiver', { ...base, options: { approvalWaivers: ['always'] } }, /options\.approvalWaivers/],
    ['an unknown fence', { ...base, options: { fenceUnreachable: 'terminate-instance' } }, /options\.fenceUnreachable/],
    ['an approval window past a day', { ...base, options: { approvalTimeoutSeconds: 86401 } }, /options\.approvalTimeoutSeconds/],
    ['a negative grace window', { ...base, options: { graceSeconds: -5 } }, /options\.graceSeconds/],
    ['a replacement option', { ...base, options: { learner: 'never' } }, /invalid options: unknown key\(s\) learner/],
    ['a failed member', { ...base, failed: 'master-2' }, /invalid failed/],
  ];
  for (const [what, input, field] of bad) {
    it(`refuses ${what}, in the schema and in the first step (exit 2)`, async () => {
      expect(validate(input)).toBe(false);
      const error = await runFirstStep(input).catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'InvalidInputError', exitCode: 2 });
      expect(String((error as Error).message)).toMatch(field);
    });
  }

  it('refuses fields it does not know (a typo must not be ignored silently)', () => {
    expect(validate({ ...base, form: 'master-1' })).toBe(false);
    expect(validate.errors?.[0]?.keyword).toBe('additionalProperties');
  });
});
