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
// shell are needed on the host: no AWS CLI, no instance-role permission. Costs one more command, unless
// the key was made ahead:
//
// Keys made ahead (functions/hosts/keysAhead.ts). Step 1 can ride on another command already going to
// the host: keyAheadCommands() runs before that command's script, makes one key per id and prints each
// public half framed on stderr, one line per key, before anything the script prints:
//
//   etcd-replace-key-ahead <32 hex: the key id> <base64 of the public key (DER, SubjectPublicKeyInfo)>
//
// The runner reads and strips only leading lines of that form whose id is one it asked this command for,
// each id once (readKeyFrames), so a script whose own stderr looks like a frame is left as it is and never
// taken for a key: it cannot know the random ids. A key the host could not make prints nothing and the
// command runs as it would have; the command that needs the key then makes one as in step 1.
// The command that takes such a key first checks it is still there: one already used (removed by its
// command) or removed as stale exits 125 with KEY_GONE before anything runs, and the runner makes a fresh
// key; one that is there but does not open the ciphertext is removed and the command fails, as in step 3.

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

/** Says that a key made ahead is no longer on the host (used, or removed as stale): nothing ran. */
export const KEY_GONE = 'etcd-replace: one-time key gone:';
const FRAME = 'etcd-replace-key-ahead';
const FRAME_LINE = new RegExp(`^${FRAME} ([0-9a-f]{32}) ([A-Za-z0-9+/]+={0,2})$`);

/**
 * Shell lines that make one one-time key per id and print each public half as one framed line on stderr
 * (see the top of this file). They never fail the command they ride on and read nothing from stdin.
 */
export function keyAheadCommands(keyIds: readonly string[], keyDir = DEFAULT_KEY_DIR): string[] {
  const keys = keyIds.map((id) => {
    if (!/^[0-9a-f]{32}$/.test(id)) throw new InvalidInputError('keyId', `${JSON.stringify(id)} is not a 32-digit hex key id`);
    return keyPath(keyDir, id);
  });
  const one = (id: string, key: string) =>
    `{ openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:${KEY_BITS} -out '${key}' && etcd_replace_key=$(openssl pkey -in '${key}' -pubout -outform DER | openssl base64 -A) && [ -n "$etcd_replace_key" ] && printf '${FRAME} %s %s\\n' '${id}' "$etcd_replace_key" >&3; } 3>&2 2>/dev/null </dev/null || rm -f '${key}'`;
  return [
    `# etcd-replace: one-time keys for later commands' secrets (root only, removed once used), framed on stderr`,
    `if ( umask 077 && mkdir -p '${keyDir}' && chmod 700 '${keyDir}' ) 2>/dev/null; then find '${keyDir}' -maxdepth 1 -name '*.pem' -mmin +${STALE_KEY_MINUTES} -delete 2>/dev/null || true`,
    ...keys.map((key, i) => `( umask 077; ${one(keyIds[i]!, key)} )`),
    'fi',
  ];
}

/**
 * The keys a command made ahead (`wanted` ids), read from the leading framed lines of its stderr, and
 * that stderr without them. Only leading lines, only ids asked for, each once: anything else ends the
 * frames and is the script's own.
 */
export function readKeyFrames(stderr: string, wanted: readonly string[]): { keys: Map<string, string>; rest: string } {
  const keys = new Map<string, string>();
  let rest = stderr;
  for (;;) {
    const end = rest.indexOf('\n');
    if (end < 0) break;
    const match = FRAME_LINE.exec(rest.slice(0, end));
    if (!match || !wanted.includes(match[1]!) || keys.has(match[1]!)) break;
    keys.set(match[1]!, match[2]!);
    rest = rest.slice(end + 1);
  }
  return { keys, rest };
}

/** A public key as a frame carries it (base64 DER) in PEM, or throws InvalidInputError: not RSA of at least 2048 bits. */
export function publicKeyPem(der: string): string {
  let key;
  try {
    key = createPublicKey({ key: Buffer.from(der, 'base64'), format: 'der', type: 'spki' });
  } catch (error) {
    throw new InvalidInputError('publicKey', `not a public key: ${(error as Error).message}`);
  }
  return key.export({ type: 'spki', format: 'pem' }).toString();
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
 * remove the key. A key no longer there exits 125 with KEY_GONE; a chunk that does not decrypt removes
 * the key and exits 125 (the script never runs without its secrets).
 */
export function unsealCommands(scriptName: string, keyId: string, chunks: readonly string[], keyDir = DEFAULT_KEY_DIR): string[] {
  const key = keyPath(keyDir, keyId);
  for (const chunk of chunks) if (!/^[A-Za-z0-9+/=]+$/.test(chunk)) throw new InvalidInputError('chunks', 'not base64');
  return [
    `[ -f '${key}' ] || { echo '${KEY_GONE} ${keyId} (used, or removed on the host): ${scriptName} did not run' >&2; exit 125; }`,
    `etcd_replace_secrets=$(for c in ${chunks.map((c) => `'${c}'`).join(' ')}; do printf '%s' "$c" | base64 -d | openssl pkeyutl -decrypt -inkey '${key}' -pkeyopt rsa_padding_mode:oaep || exit 1; done) || { rm -f '${key}'; echo 'etcd-replace: cannot unseal the secrets of ${scriptName} with one-time key ${keyId}; the key is removed, another try makes a fresh one' >&2; exit 125; }`,
    `rm -f '${key}'`,
  ];
}
