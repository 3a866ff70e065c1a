// ArtifactStore on S3. Hosts upload and download snapshots and certificate bundles themselves, with curl
// and short-lived presigned URLs, so no artifact passes through Lambda payloads, Step Functions history
// or logs.
//
// Encryption: the bucket's DEFAULT encryption is SSE-KMS with the product's key, and upload URLs are
// plain presigned PUTs. A presigned PUT that asks for SSE-KMS itself only works when the uploader also
// sends the `x-amz-server-side-encryption` (and key id) headers exactly as signed; the port hands out a
// URL and nothing else, so a host script would have to know and repeat those headers. With default
// encryption S3 encrypts every object with the key whatever the uploader sends, and `head()` verifies
// it: an object that is not SSE-KMS (with the configured key, when given as a key id or ARN) is refused
// with ArtifactStoreError. (So do not add a bucket policy that denies PUTs lacking the SSE header.)
//
// Presigned PUTs: the S3 client must be built with `requestChecksumCalculation: 'WHEN_REQUIRED'`; with
// the SDK's default it signs a CRC32 of the empty body into the URL and every real upload fails. The
// store checks the URL and refuses to hand out such a URL.
//
// Deletion: the bucket is versioned, so a plain DeleteObject would leave the object's data behind as a
// noncurrent version (a key bundle holds private keys). delete() removes every version and delete
// marker of exactly that key; where the bucket keeps no versions it is one DeleteObject.

import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectVersionsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ArtifactStoreError, InvalidInputError, errorMessage } from '../../errors.ts';
import type { ArtifactInfo, ArtifactStore } from '../../ports.ts';
import { artifactKey } from '../../validate.ts';

/** Presigned URLs live at most this long. */
export const MAX_URL_TTL_SECONDS = 900;

export type Presign = (client: S3Client, command: PutObjectCommand | GetObjectCommand, options: { expiresIn: number }) => Promise<string>;

export interface S3ArtifactStoreConfig {
  s3: S3Client;
  bucket: string;
  /** The KMS key the bucket's default encryption uses: key id, key ARN or alias. Objects are checked against it. */
  kmsKeyId?: string;
  /** Prefix under which every key lives, e.g. `etcd-replace/`. */
  prefix?: string;
  /** Injected for tests; default @aws-sdk/s3-request-presigner's getSignedUrl. */
  presign?: Presign;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function isNotFound(error: unknown): boolean {
  const e = error as { name?: unknown; $metadata?: { httpStatusCode?: number } } | undefined;
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

export class S3ArtifactStore implements ArtifactStore {
  readonly #s3: S3Client;
  readonly #bucket: string;
  readonly #kmsKeyId: string | undefined;
  readonly #prefix: string;
  readonly #presign: Presign;

  constructor(config: S3ArtifactStoreConfig) {
    if (!BUCKET.test(config.bucket)) throw new InvalidInputError('bucket', `${JSON.stringify(config.bucket)} is not an S3 bucket name`);
    const prefix = config.prefix ?? '';
    if (prefix !== '') artifactKey('prefix', prefix);
    this.#s3 = config.s3;
    this.#bucket = config.bucket;
    this.#kmsKeyId = config.kmsKeyId || undefined;
    this.#prefix = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    this.#presign = config.presign ?? ((client, command, options) => getSignedUrl(client, command, options));
  }

  /** The object key a store key maps to (validated, under the prefix). */
  objectKey(key: string): string {
    return `${this.#prefix}${artifactKey('key', key)}`;
  }

  async uploadUrl(key: string, ttlSeconds: number): Promise<string> {
    const url = await this.#sign(new PutObjectCommand({ Bucket: this.#bucket, Key: this.objectKey(key) }), ttlSeconds, 'upload');
    if (/[?&]x-amz-(?:checksum-[a-z0-9]+|sdk-checksum-algorithm)=/i.test(url)) {
      throw new ArtifactStoreError(
        "the presigned upload URL carries a checksum of an empty body; build the S3 client with requestChecksumCalculation: 'WHEN_REQUIRED'",
      );
    }
    return url;
  }

  async downloadUrl(key: string, ttlSeconds: number): Promise<string> {
    return this.#sign(new GetObjectCommand({ Bucket: this.#bucket, Key: this.objectKey(key) }), ttlSeconds, 'download');
  }

  async head(key: string): Promise<ArtifactInfo | null> {
    const objectKey = this.objectKey(key);
    let answer;
    try {
      answer = await this.#s3.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: objectKey }));
    } catch (error) {
      if (isNotFound(error)) return null;
      throw new ArtifactStoreError(`cannot read s3://${this.#bucket}/${objectKey}: ${errorMessage(error)}`, { cause: error });
    }
    const location = `s3://${this.#bucket}/${objectKey}`;
    if (answer.ServerSideEncryption !== 'aws:kms' && answer.ServerSideEncryption !== 'aws:kms:dsse') {
      throw new ArtifactStoreError(
        `${location} is not encrypted with SSE-KMS (${answer.ServerSideEncryption ?? 'none'}); check the bucket's default encryption`,
      );
    }
    if (!this.#keyMatches(answer.SSEKMSKeyId)) {
      throw new ArtifactStoreError(`${location} is encrypted with ${answer.SSEKMSKeyId ?? 'an unknown key'}, not ${this.#kmsKeyId ?? ''}`);
    }
    return { key, size: answer.ContentLength ?? 0, location };
  }

  async delete(key: string): Promise<void> {
    const objectKey = this.objectKey(key);
    try {
      const versions = await this.#versionsOf(objectKey);
      if (versions.length === 0) {
        await this.#s3.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: objectKey }));
        return;
      }
      for (const versionId of versions) await this.#s3.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: objectKey, VersionId: versionId }));
    } catch (error) {
      if (isNotFound(error)) return;
      throw new ArtifactStoreError(`cannot delete s3://${this.#bucket}/${objectKey}: ${errorMessage(error)}`, { cause: error });
    }
  }

  /** Version ids of every version and delete marker of exactly `objectKey` ("null" for an object stored while versioning was off). */
  async #versionsOf(objectKey: string): Promise<string[]> {
    const ids: string[] = [];
    let keyMarker: string | undefined;
    let versionIdMarker: string | undefined;
    do {
      const page = await this.#s3.send(
        new ListObjectVersionsCommand({
          Bucket: this.#bucket,
          Prefix: objectKey,
          ...(keyMarker ? { KeyMarker: keyMarker } : {}),
          ...(versionIdMarker ? { VersionIdMarker: versionIdMarker } : {}),
        }),
      );
      for (const v of [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]) {
        if (v.Key === objectKey && v.VersionId) ids.push(v.VersionId);
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      versionIdMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
    } while (keyMarker);
    return ids;
  }

  async #sign(command: PutObjectCommand | GetObjectCommand, ttlSeconds: number, what: string): Promise<string> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_URL_TTL_SECONDS) {
      throw new InvalidInputError('ttlSeconds', `${ttlSeconds} is outside 1-${MAX_URL_TTL_SECONDS}`);
    }
    try {
      return await this.#presign(this.#s3, command, { expiresIn: ttlSeconds });
    } catch (error) {
      throw new ArtifactStoreError(`cannot presign the ${what} URL for s3://${this.#bucket}/${command.input.Key ?? ''}: ${errorMessage(error)}`, {
        cause: error,
      });
    }
  }

  /** Key ids and ARNs are compared; an alias cannot be compared to the ARN S3 reports, so it is accepted. */
  #keyMatches(actual: string | undefined): boolean {
    const expected = this.#kmsKeyId;
    if (!expected || expected.startsWith('alias/') || expected.includes(':alias/')) return true;
    if (!actual) return false;
    if (actual === expected) return true;
    const id = (arn: string) => arn.replace(/^arn:[^:]+:kms:[^:]*:[^:]*:key\//, '');
    return id(actual) === id(expected);
  }
}
