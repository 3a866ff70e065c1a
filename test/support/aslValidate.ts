// asl-validator 4 ships no types, mutates its input (it adds QueryLanguage to every state) and
// replaces all its defaults when given any option. This wrapper passes a deep copy and every option.

import { createRequire } from 'node:module';

interface ValidationResult {
  isValid: boolean;
  errors: Array<{ message?: string }>;
  errorsText: (separator?: string) => string;
}

type Validator = (definition: unknown, options?: { checkPaths: boolean; checkArn: boolean }) => ValidationResult;

const validator = createRequire(import.meta.url)('asl-validator') as Validator;

export function validateAsl(definition: unknown): { isValid: boolean; errorsText: string } {
  const result = validator(structuredClone(definition), { checkPaths: true, checkArn: true });
  return { isValid: result.isValid, errorsText: result.isValid ? '' : result.errorsText('\n') };
}
