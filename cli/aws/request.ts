// The replace request `run --target aws --input FILE` starts an execution with, checked against
// schemas/replace-request.schema.json before anything is started.

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject } from 'ajv';
import { InvalidInputError, errorMessage } from '../../functions/errors.ts';

const SCHEMA_FILE = fileURLToPath(new URL('../../schemas/replace-request.schema.json', import.meta.url));
const RESTORE_SCHEMA_FILE = fileURLToPath(new URL('../../schemas/restore-request.schema.json', import.meta.url));

function schemaErrorText(error: ErrorObject): string {
  const where = error.instancePath === '' ? '(input)' : error.instancePath;
  const extra = error.keyword === 'additionalProperties' ? ` "${String((error.params as { additionalProperty?: unknown }).additionalProperty)}"` : '';
  return `${where} ${error.message ?? 'is invalid'}${extra}`;
}

/**
 * The execution input from FILE: a replace request (schemas/replace-request.schema.json). A missing
 * `startedBy` becomes `cli:<user>`; the result must pass the schema, else InvalidInputError (exit 2)
 * lists every violation and nothing is started.
 */
/**
 * The restore request `restore-quorum --target aws` starts an execution with, made from its flags: it must
 * pass schemas/restore-request.schema.json, else InvalidInputError (exit 2) lists every violation.
 */
export async function restoreRequest(request: Record<string, unknown>): Promise<Record<string, unknown>> {
  const schema = JSON.parse(await readFile(RESTORE_SCHEMA_FILE, 'utf8')) as object;
  const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);
  if (!validate(request)) {
    throw new InvalidInputError(
      'request',
      `the restore request does not match schemas/restore-request.schema.json:\n  ${(validate.errors ?? []).map(schemaErrorText).join('\n  ')}`,
    );
  }
  return request;
}

export async function readRequest(file: string, user: () => string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new InvalidInputError('--input', `cannot read ${file}: ${errorMessage(error)}`);
  }
  let request: unknown;
  try {
    request = JSON.parse(text);
  } catch (error) {
    throw new InvalidInputError('--input', `${file} is not JSON: ${errorMessage(error)}`);
  }
  if (typeof request === 'object' && request !== null && !Array.isArray(request) && !('startedBy' in request)) {
    request = { ...request, startedBy: `cli:${user()}` };
  }
  const schema = JSON.parse(await readFile(SCHEMA_FILE, 'utf8')) as object;
  const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);
  if (!validate(request)) {
    throw new InvalidInputError(
      '--input',
      `${file} does not match schemas/replace-request.schema.json:\n  ${(validate.errors ?? []).map(schemaErrorText).join('\n  ')}`,
    );
  }
  return request as Record<string, unknown>;
}
