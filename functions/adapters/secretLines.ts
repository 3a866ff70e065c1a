// The NAME=value lines a host script reads its secrets from (functions/scripts/lib/secrets.sh),
// checked so that no value can end its line early or add another.

import { InvalidInputError } from '../errors.ts';

const SECRET_NAME = /^[A-Z][A-Z0-9_]{0,63}$/;

/** `NAME=value\n` per secret, in the order given; '' for none. */
export function secretLines(secrets: Readonly<Record<string, string>> | undefined): string {
  return Object.entries(secrets ?? {})
    .map(([name, value]) => {
      if (!SECRET_NAME.test(name)) throw new InvalidInputError('secrets', `${JSON.stringify(name)} is not a secret name`);
      if (typeof value !== 'string' || value === '' || /[\u0000-\u001f\u007f]/.test(value)) {
        throw new InvalidInputError(`secrets.${name}`, 'must be a non-empty string without control characters');
      }
      return `${name}=${value}\n`;
    })
    .join('');
}
