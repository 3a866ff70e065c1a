import { mockClient } from 'aws-sdk-client-mock';
import { DeleteObjectCommand, HeadObjectCommand, ListObjectVersionsCommand, S3Client } from '@aws-sdk/client-s3';
import { beforeEach, describe, expect, it } from 'vitest';
import { S3ArtifactStore } from '../../functions/adapters/aws/s3ArtifactStore.ts';
import { ArtifactStoreError, InvalidInputError } from '../../functions/errors.ts';

const KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'not-a-secret' };
const presigningClient = () => new S3Client({ region: 'eu-west-1', credentials, requestChecksumCalculation: 'WHEN_REQUIRED' });

const s3Mock = mockClient(S3Client);

function store(over: Partial<ConstructorParameters<typeof S3ArtifactStore>[0]> = {}): S3ArtifactStore {
  return new S3ArtifactStore({ s3: presigningClient(), bucket: 'etcd-replace-artifacts', kmsKeyId: KEY_ARN, prefix: 'etcd-replace', ...over });
}

function notFound(): Error {
  return Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } });
}

beforeEach(() => {
  s3Mock.reset();
});

describe('Class: S3ArtifactStore', () => {
  describe('Method: uploadUrl', () => {
    it('presigns a plain PUT under the prefix that expires in the TTL and carries no SSE or checksum parameters', async () => {
      const url = new URL(await store().uploadUrl('runs/run-123456/master-0.tgz', 600));
      expect(url.hostname).toBe('etcd-replace-artifacts.s3.eu-west-1.amazonaws.com');
      expect(url.pathname).toBe('/etcd-replace/runs/run-123456/master-0.tgz');
      expect(url.searchParams.get('X-Amz-Expires')).toBe('600');
      expect(url.searchParams.get('x-id')).toBe('PutObject');
      expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('host');
      expect([...url.searchParams.keys()].filter((k) => /encryption|checksum/i.test(k))).toEqual([]);
    });

    it('refuses to hand out a URL signed with the SDK default checksum of an empty body', async () => {
      const defaultClient = new S3Client({ region: 'eu-west-1', credentials });
      await expect(store({ s3: defaultClient }).uploadUrl('a.tgz', 60)).rejects.toThrow(/requestChecksumCalculation/);
    });

    it('refuses TTLs over 15 minutes, non-integer or zero TTLs, and bad keys', async () => {
      await expect(store().uploadUrl('a.tgz', 901)).rejects.toThrow(InvalidInputError);
      await expect(store().uploadUrl('a.tgz', 0)).rejects.toThrow(InvalidInputError);
      await expect(store().uploadUrl('a.tgz', 1.5)).rejects.toThrow(InvalidInputError);
      for (const key of ['../etc/passwd', '/abs', 'a//b', 'a b', '-rf', '']) {
        await expect(store().uploadUrl(key, 60)).rejects.toThrow(InvalidInputError);
      }
    });

    it('wraps presigner failures in ArtifactStoreError', async () => {
      const s = store({ presign: async () => Promise.reject(new Error('no credentials')) });
      await expect(s.uploadUrl('a.tgz', 60)).rejects.toThrow(ArtifactStoreError);
    });
  });

  describe('Method: downloadUrl', () => {
    it('presigns a GET for the same object key', async () => {
      const calls: Array<{ input: unknown; expiresIn: number }> = [];
      const s = store({
        presign: async (_client, command, options) => {
          calls.push({ input: command.input, expiresIn: options.expiresIn });
          return 'https://example.invalid/signed';
        },
      });
      await expect(s.downloadUrl('snapshots/s.db', 300)).resolves.toBe('https://example.invalid/signed');
      expect(calls).toEqual([{ input: { Bucket: 'etcd-replace-artifacts', Key: 'etcd-replace/snapshots/s.db' }, expiresIn: 300 }]);
      const real = new URL(await store().downloadUrl('snapshots/s.db', 300));
      expect(real.searchParams.get('x-id')).toBe('GetObject');
      expect(real.pathname).toBe('/etcd-replace/snapshots/s.db');
    });
  });

  describe('Method: head', () => {
    it('reports size and location of an SSE-KMS object', async () => {
      s3Mock.on(HeadObjectCommand).resolves({ ContentLength: 2048, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: KEY_ARN });
      await expect(store().head('runs/r/b.tgz')).resolves.toEqual({
        key: 'runs/r/b.tgz',
        size: 2048,
        location: 's3://etcd-replace-artifacts/etcd-replace/runs/r/b.tgz',
      });
      expect(s3Mock.commandCalls(HeadObjectCommand)[0]?.args[0].input).toEqual({ Bucket: 'etcd-replace-artifacts', Key: 'etcd-replace/runs/r/b.tgz' });
    });

    it('accepts a key id configured where S3 reports the ARN', async () => {
      s3Mock.on(HeadObjectCommand).resolves({ ContentLength: 1, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: KEY_ARN });
      await expect(store({ kmsKeyId: '1234abcd-12ab-34cd-56ef-1234567890ab' }).head('a')).resolves.toMatchObject({ size: 1 });
    });

    it('returns null for a missing object', async () => {
      s3Mock.on(HeadObjectCommand).rejects(notFound());
      await expect(store().head('missing.tgz')).resolves.toBeNull();
    });

    it('refuses an object that is not SSE-KMS or uses another key', async () => {
      s3Mock.on(HeadObjectCommand).resolves({ ContentLength: 1, ServerSideEncryption: 'AES256' });
      await expect(store().head('a')).rejects.toThrow(/not encrypted with SSE-KMS \(AES256\)/);
      s3Mock.reset();
      s3Mock.on(HeadObjectCommand).resolves({ ContentLength: 1, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: KEY_ARN.replace('1234abcd', 'ffffffff') });
      await expect(store().head('a')).rejects.toThrow(ArtifactStoreError);
    });

    it('wraps other errors in ArtifactStoreError', async () => {
      s3Mock.on(HeadObjectCommand).rejects(Object.assign(new Error('Forbidden'), { name: 'Forbidden', $metadata: { httpStatusCode: 403 } }));
      await expect(store().head('a')).rejects.toThrow(ArtifactStoreError);
    });
  });

  describe('Method: delete', () => {
    it('deletes every version and delete marker of exactly that key on a versioned bucket (no noncurrent copy of a key bundle stays)', async () => {
      s3Mock
        .on(ListObjectVersionsCommand)
        .resolvesOnce({
          IsTruncated: true,
          NextKeyMarker: 'k',
          NextVersionIdMarker: 'v',
          Versions: [
            { Key: 'etcd-replace/runs/r/b.tgz', VersionId: 'v2' },
            { Key: 'etcd-replace/runs/r/b.tgz.other', VersionId: 'x1' },
          ],
        })
        .resolvesOnce({
          Versions: [{ Key: 'etcd-replace/runs/r/b.tgz', VersionId: 'v1' }],
          DeleteMarkers: [{ Key: 'etcd-replace/runs/r/b.tgz', VersionId: 'm1' }],
        });
      s3Mock.on(DeleteObjectCommand).resolves({});
      await store().delete('runs/r/b.tgz');
      expect(s3Mock.commandCalls(ListObjectVersionsCommand).map((c) => c.args[0].input)).toEqual([
        { Bucket: 'etcd-replace-artifacts', Prefix: 'etcd-replace/runs/r/b.tgz' },
        { Bucket: 'etcd-replace-artifacts', Prefix: 'etcd-replace/runs/r/b.tgz', KeyMarker: 'k', VersionIdMarker: 'v' },
      ]);
      expect(s3Mock.commandCalls(DeleteObjectCommand).map((c) => c.args[0].input.VersionId)).toEqual(['v2', 'v1', 'm1']);
    });

    it('deletes the object and is idempotent', async () => {
      s3Mock.on(ListObjectVersionsCommand).resolves({});
      s3Mock.on(DeleteObjectCommand).resolvesOnce({}).rejects(notFound());
      await store().delete('runs/r/b.tgz');
      await store().delete('runs/r/b.tgz');
      expect(s3Mock.commandCalls(DeleteObjectCommand).map((c) => c.args[0].input)).toEqual([
        { Bucket: 'etcd-replace-artifacts', Key: 'etcd-replace/runs/r/b.tgz' },
        { Bucket: 'etcd-replace-artifacts', Key: 'etcd-replace/runs/r/b.tgz' },
      ]);
    });

    it('wraps failures in ArtifactStoreError', async () => {
      s3Mock.on(ListObjectVersionsCommand).resolves({});
      s3Mock.on(DeleteObjectCommand).rejects(new Error('AccessDenied'));
      await expect(store().delete('a')).rejects.toThrow(ArtifactStoreError);
    });
  });

  describe('Method: constructor', () => {
    it('validates bucket and prefix', () => {
      expect(() => store({ bucket: 'Bad_Bucket' })).toThrow(InvalidInputError);
      expect(() => store({ prefix: '../x' })).toThrow(InvalidInputError);
      expect(store({ prefix: 'p/' }).objectKey('k')).toBe('p/k');
      expect(store({ prefix: '' }).objectKey('k')).toBe('k');
    });
  });
});
