// Secrets for a command sent through SSM Run Command, sealed so that the command's text, which SSM
// keeps in its history (ListCommands, GetCommandInvocation) for anyone allowed to read it, holds
// nothing usable:
//   1. a first command makes a one-time RSA key on the host, root only, on tmpfs under /run, and
//      prints its public half;
//   2. the runner encrypts the NAME=value lines to that key (RSA-OAEP, in chunks the key can take),
//      and the script's command carries only the ciphertext;
//   3. on the host the wrapper decrypts into the shell's memory, removes the private key, and pipes
//      the lines into the script's stdin (functions/scripts/lib/secrets.sh). No secret is ever an
//      argument of a process there, and the key that could open the history's ciphertext is gone.
// Only openssl (which every etcd host has: the runbook's certificates need it), base64 and a POSIX
// shell are needed on the host: no AWS CLI, no instance-role permission. Costs one more command.

import { constants, createPublicKey, publicEncrypt } from 'node:crypto';
import { InvalidInputError } from '../../errors.ts';

export const DEFAULT_KEY_DIR = '/run/etcd-replace/keys';
/** A key not used within this many minutes is removed by the next key command (the URLs it sealed live 15). */
const STALE_KEY_MINUTES = 30;
const KEY_BITS = 2048;
/** RSA-OAEP with SHA-1 (openssl pkeyutl's default) takes at most k - 2·20 - 2 bytes per block. */
const CHUNK_BYTES = KEY_BITS / 8 - 42;
const KEY_ID = /^[0-9a-f]{16,64}$/;
const KEY_DIR = /^\/[A-Za-z0-9._/-]+$/;

function keyPath(keyDir: string, keyId: string): string {
  if (!KEY_DIR.test(keyDir)) throw new InvalidInputError('keyDir', `${JSON.stringify(keyDir)} is not a plain absolute path`);
  if (!KEY_ID.test(keyId)) throw new InvalidInputError('keyId', `${JSON.stringify(keyId)} is not a hex key id`);
  return `${keyDir}/${keyId}.pem`;
}

/** The commands that make the one-time key `keyId` on the host and print its public half (PEM). */
export function oneTimeKeyCommands(keyId: string, keyDir = DEFAULT_KEY_DIR): string[] {
  const key = keyPath(keyDir, keyId);
  return [
    '# etcd-replace: a one-time key for the secrets of the next command (root only, removed once used)',
    `umask 077 && mkdir -p '${keyDir}' && chmod 700 '${keyDir}' || exit 125`,
    `find '${keyDir}' -maxdepth 1 -name '*.pem' -mmin +${STALE_KEY_MINUTES} -delete 2>/dev/null || true`,
    `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:${KEY_BITS} -out '${key}' 2>/dev/null && exec openssl pkey -in '${key}' -pubout`,
  ];
}

/** `lines` encrypted to the host's one-time public key: base64 chunks, in order. */
export function sealSecrets(publicKeyPem: string, lines: string): string[] {
  let key;
  try {
    key = createPublicKey(publicKeyPem.trim());
  } catch (error) {
    throw new InvalidInputError('publicKey', `the host did not print a public key: ${(error as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'rsa' || (key.asymmetricKeyDetails?.modulusLength ?? 0) < KEY_BITS) {
    throw new InvalidInputError('publicKey', `the host's one-time key is not RSA of at least ${KEY_BITS} bits`);
  }
  const bytes = Buffer.from(lines, 'utf8');
  const chunks: string[] = [];
  for (let at = 0; at < bytes.length; at += CHUNK_BYTES) {
    const block = bytes.subarray(at, at + CHUNK_BYTES);
    chunks.push(publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, block).toString('base64'));
  }
  return chunks;
}

/**
 * Shell lines that decrypt the sealed chunks with the one-time key into $etcd_replace_secrets and
 * remove the key. A chunk that does not decrypt exits 125 (the script never runs without its secrets).
 */
export function unsealCommands(scriptName: string, keyId: string, chunks: readonly string[], keyDir = DEFAULT_KEY_DIR): string[] {
  const key = keyPath(keyDir, keyId);
  for (const chunk of chunks) if (!/^[A-Za-z0-9+/=]+$/.test(chunk)) throw new InvalidInputError('chunks', 'not base64');
  return [
    `etcd_replace_secrets=$(for c in ${chunks.map((c) => `'${c}'`).join(' ')}; do printf '%s' "$c" | base64 -d | openssl pkeyutl -decrypt -inkey '${key}' -pkeyopt rsa_padding_mode:oaep || exit 1; done) || { rm -f '${key}'; echo 'etcd-replace: cannot unseal the secrets of ${scriptName}' >&2; exit 125; }`,
    `rm -f '${key}'`,
  ];
}
