import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoLock, lockKey } from '../../functions/adapters/aws/dynamoLock.ts';
import { DynamoRunStore } from '../../functions/adapters/aws/dynamoRunStore.ts';
import { TABLE_SCHEMA } from '../../functions/adapters/aws/dynamoTable.ts';
import { InvalidInputError, LockHeldError, LockLostError } from '../../functions/errors.ts';
import type { RunRecord } from '../../functions/ports.ts';
import { lockContract } from '../support/lockContract.ts';
import { FakeDynamoTable, evaluateCondition } from '../support/aws/fakeDynamoTable.ts';

const TABLE = 'etcd-replace';
const docMock = mockClient(DynamoDBDocumentClient);
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
const indexes = Object.fromEntries(Object.values(TABLE_SCHEMA.indexes).map((i) => [i.name, { partitionKey: i.partitionKey, sortKey: i.sortKey }]));

let table: FakeDynamoTable;

beforeEach(() => {
  docMock.reset();
  table = new FakeDynamoTable({ indexes });
  table.attach(docMock);
});

describe('Function: evaluateCondition (test fake)', () => {
  it('evaluates the expressions the adapters use', () => {
    const item = { pk: 'x', runId: 'r1', expiresAtMs: 5 };
    expect(evaluateCondition('attribute_not_exists(pk)', undefined, undefined, undefined)).toBe(true);
    expect(evaluateCondition('attribute_not_exists(pk)', item, undefined, undefined)).toBe(false);
    expect(evaluateCondition('attribute_not_exists(pk) OR expiresAtMs < :now OR runId = :runId', item, undefined, { ':now': 6, ':runId': 'r2' })).toBe(true);
    expect(evaluateCondition('attribute_exists(pk) AND runId = :runId', item, undefined, { ':runId': 'r2' })).toBe(false);
    expect(() => evaluateCondition('begins_with(pk, :p)', item, undefined, { ':p': 'x' })).toThrow(/unsupported/);
  });
});

lockContract('DynamoLock', (now) => new DynamoLock({ doc, table: TABLE, now }));

describe('Class: DynamoLock', () => {
  const at = (iso: string) => () => new Date(iso);

  describe('Liveness: a holder whose execution still runs keeps the lock; one whose execution ended loses it', () => {
    const owner = (runId: string, execution: string) => ({ runId, startedBy: 'alarm:x', execution });

    it("keeps an expired lock while the holder's execution runs, and says so", async () => {
      let now = '2030-01-01T00:00:00.000Z';
      const asked: Array<string | undefined> = [];
      const lock = new DynamoLock({ doc, table: TABLE, now: () => new Date(now), holderAlive: async (h) => (asked.push(h.execution), true) });
      await lock.acquire('prod-a', owner('run-000001', 'sfn:run-000001'), 60);
      now = '2030-01-01T05:00:00.000Z'; // hours past expiry
      await expect(lock.acquire('prod-a', owner('run-000002', 'sfn:run-000002'), 60)).rejects.toThrow(
        /run-000001 .*sfn:run-000001.*\(its execution still runs\)/,
      );
      expect(asked).toEqual(['sfn:run-000001']);
    });

    it("takes over an unexpired lock at once when the holder's execution has ended", async () => {
      const lock = new DynamoLock({ doc, table: TABLE, now: at('2030-01-01T00:00:00.000Z'), holderAlive: async () => false });
      await lock.acquire('prod-a', owner('run-000001', 'sfn:run-000001'), 7200);
      const info = await lock.acquire('prod-a', owner('run-000002', 'sfn:run-000002'), 60);
      expect(info.takenOver).toMatchObject({ runId: 'run-000001', reason: 'holder execution ended' });
    });

    it('falls back to expiry when liveness cannot be told', async () => {
      let now = '2030-01-01T00:00:00.000Z';
      const lock = new DynamoLock({ doc, table: TABLE, now: () => new Date(now), holderAlive: async () => null });
      await lock.acquire('prod-a', owner('run-000001', 'sfn:run-000001'), 60);
      await expect(lock.acquire('prod-a', owner('run-000002', 'sfn:run-000002'), 60)).rejects.toThrow(LockHeldError);
      now = '2030-01-01T00:01:00.001Z';
      expect((await lock.acquire('prod-a', owner('run-000002', 'sfn:run-000002'), 60)).takenOver?.reason).toBe('expired');
    });
  });

  describe('Method: acquire', () => {
    it('creates the item with a conditional put, TTL in epoch seconds, and no secrets', async () => {
      const lock = new DynamoLock({ doc, table: TABLE, now: at('2030-01-01T00:00:00.000Z') });
      await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'arn:aws:states:::execution:x' }, 600);
      const put = docMock.commandCalls(PutCommand)[0]?.args[0].input;
      expect(put?.TableName).toBe(TABLE);
      expect(put?.ConditionExpression).toBe('attribute_not_exists(pk)');
      expect(put?.Item).toMatchObject({
        pk: 'lock#prod-a',
        sk: 'lock',
        cluster: 'prod-a',
        runId: 'run-000001',
        expiresAt: '2030-01-01T00:10:00.000Z',
        expiresAtMs: Date.parse('2030-01-01T00:10:00.000Z'),
        ttl: Date.parse('2030-01-01T00:10:00.000Z') / 1000,
      });
      expect(docMock.commandCalls(GetCommand)[0]?.args[0].input).toEqual({ TableName: TABLE, Key: lockKey('prod-a'), ConsistentRead: true });
    });

    it('conditions a re-entrant write or a takeover on the token it read', async () => {
      let now = '2030-01-01T00:00:00.000Z';
      const lock = new DynamoLock({ doc, table: TABLE, now: () => new Date(now) });
      await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice' }, 60);
      const token = table.items.values().next().value?.['token'];
      now = '2030-01-01T00:02:00.000Z';
      const info = await lock.acquire('prod-a', { runId: 'run-000002', startedBy: 'bob' }, 60);
      const put = docMock.commandCalls(PutCommand)[1]?.args[0].input;
      expect(put?.ConditionExpression).toBe('#token = :token');
      expect(put?.ExpressionAttributeValues).toEqual({ ':token': token });
      expect(info.takenOver).toEqual({
        runId: 'run-000001',
        startedBy: 'alice',
        acquiredAt: '2030-01-01T00:00:00.000Z',
        expiresAt: '2030-01-01T00:01:00.000Z',
        reason: 'expired',
        at: '2030-01-01T00:02:00.000Z',
      });
    });

    it('after ConditionalCheckFailed reads the holder again and names it in LockHeldError', async () => {
      // Another run creates the lock between our read and our write.
      const lock = new DynamoLock({ doc, table: TABLE, now: at('2030-01-01T00:00:00.000Z') });
      const other = new DynamoLock({ doc, table: TABLE, now: at('2030-01-01T00:00:00.000Z') });
      let raced = false;
      docMock.on(GetCommand).callsFake(async (input: GetCommand['input']) => {
        const item = table.items.get(JSON.stringify([input.Key?.['pk'], input.Key?.['sk']]));
        if (!raced) {
          raced = true;
          docMock.on(GetCommand).callsFake((i: GetCommand['input']) => {
            const it = table.items.get(JSON.stringify([i.Key?.['pk'], i.Key?.['sk']]));
            return it ? { Item: structuredClone(it) } : {};
          });
          await other.acquire('prod-a', { runId: 'run-000009', startedBy: 'carol' }, 600);
        }
        return item ? { Item: structuredClone(item) } : {};
      });
      const error = await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice' }, 600).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LockHeldError);
      expect((error as Error).message).toBe(
        'cluster prod-a is locked: held by run run-000009 (started by carol), acquired at 2030-01-01T00:00:00.000Z, expires at 2030-01-01T00:10:00.000Z',
      );
    });

    it('gives up with LockHeldError after too many lost races', async () => {
      docMock.on(GetCommand).resolves({});
      docMock.on(PutCommand).rejects(Object.assign(new Error('The conditional request failed'), { name: 'ConditionalCheckFailedException' }));
      const lock = new DynamoLock({ doc, table: TABLE, maxAttempts: 3 });
      await expect(lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice' }, 60)).rejects.toThrow(/too much contention/);
      expect(docMock.commandCalls(PutCommand)).toHaveLength(3);
    });

    it('passes other DynamoDB errors on', async () => {
      docMock.on(PutCommand).rejects(Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' }));
      await expect(new DynamoLock({ doc, table: TABLE }).acquire('prod-a', { runId: 'run-000001', startedBy: 'a' }, 60)).rejects.toThrow('throttled');
    });
  });

  describe('Method: extendOwn', () => {
    const owner = (runId: string, execution?: string, covers?: string[]) => ({
      runId,
      startedBy: 'alarm:x',
      ...(execution ? { execution } : {}),
      ...(covers ? { covers } : {}),
    });

    it("writes in one conditional update what a re-entrant acquire writes: the item's own fields kept, the owner's and the expiry new", async () => {
      let now = '2030-01-01T00:00:00.000Z';
      const lock = new DynamoLock({ doc, table: TABLE, now: () => new Date(now) });
      await lock.acquire('prod-a', owner('run-000001', 'sfn:run-000001', ['m1']), 60);
      await lock.requestJoin('prod-a', 'run-000001', { runId: 'run-000002', failed: [{ failed: 'master-1' }], startedBy: 'alarm:y', at: now });
      now = '2030-01-01T00:00:30.000Z';
      const token = table.items.get(JSON.stringify(['lock#prod-a', 'lock']))?.['token'];
      docMock.resetHistory();
      const extended = await lock.extendOwn('prod-a', owner('run-000001', 'sfn:run-000001', ['m1', 'm2']), 600);
      expect(docMock.calls()).toHaveLength(1);
      expect(docMock.commandCalls(UpdateCommand)).toHaveLength(1);
      const item = table.items.get(JSON.stringify(['lock#prod-a', 'lock']))!;
      expect(item['token']).not.toBe(token);
      expect(extended).toEqual(await lock.current('prod-a'));
      expect(extended).toMatchObject({
        runId: 'run-000001',
        acquiredAt: '2030-01-01T00:00:00.000Z',
        expiresAt: '2030-01-01T00:10:30.000Z',
        execution: 'sfn:run-000001',
        covers: ['m1', 'm2'],
        joins: [expect.objectContaining({ runId: 'run-000002' })],
      });
      // The same as acquire would leave it, field by field (the token aside).
      const viaAcquire = await lock.acquire('prod-a', owner('run-000001', 'sfn:run-000001', ['m1', 'm2']), 600);
      expect(viaAcquire).toEqual(extended);
    });

    it('removes owner fields the owner does not have, as the item acquire writes has none', async () => {
      const lock = new DynamoLock({ doc, table: TABLE, now: at('2030-01-01T00:00:00.000Z') });
      await lock.acquire('prod-a', owner('run-000001', 'sfn:run-000001', ['m1']), 60);
      const extended = await lock.extendOwn('prod-a', owner('run-000001', 'sfn:run-000001'), 60);
      expect(extended).not.toHaveProperty('covers');
      expect(await lock.current('prod-a')).not.toHaveProperty('covers');
    });

    it('writes nothing and answers null for another run, another execution of the run, or nobody', async () => {
      const lock = new DynamoLock({ doc, table: TABLE, now: at('2030-01-01T00:00:00.000Z'), holderAlive: async () => true });
      expect(await lock.extendOwn('prod-a', owner('run-000001', 'sfn:run-000001'), 60)).toBeNull();
      expect(table.items.size).toBe(0);
      await lock.acquire('prod-a', owner('run-000002', 'sfn:run-000002'), 60);
      const before = structuredClone(table.items.get(JSON.stringify(['lock#prod-a', 'lock'])));
      expect(await lock.extendOwn('prod-a', owner('run-000001', 'sfn:run-000001'), 600)).toBeNull();
      expect(await lock.extendOwn('prod-a', owner('run-000002', 'sfn:run-000002-redrive'), 600)).toBeNull();
      expect(table.items.get(JSON.stringify(['lock#prod-a', 'lock']))).toEqual(before);
    });

    it('takes a lock of the run that names no execution for the owner that has one, as acquire does', async () => {
      const lock = new DynamoLock({ doc, table: TABLE, now: at('2030-01-01T00:00:00.000Z') });
      await lock.acquire('prod-a', owner('run-000001'), 60);
      expect(await lock.extendOwn('prod-a', owner('run-000001', 'sfn:run-000001'), 60)).toMatchObject({ execution: 'sfn:run-000001' });
    });
  });

  describe('Method: renew', () => {
    it('updates expiry and TTL on condition that the run holds it', async () => {
      let now = '2030-01-01T00:00:00.000Z';
      const lock = new DynamoLock({ doc, table: TABLE, now: () => new Date(now) });
      await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice' }, 60);
      now = '2030-01-01T00:00:30.000Z';
      await lock.renew('prod-a', 'run-000001', 120);
      const update = docMock.commandCalls(UpdateCommand)[0]?.args[0].input;
      expect(update?.ConditionExpression).toBe('attribute_exists(pk) AND runId = :runId AND expiresAtMs < :expiresAtMs');
      expect(update?.ExpressionAttributeValues).toMatchObject({
        ':runId': 'run-000001',
        ':expiresAt': '2030-01-01T00:02:30.000Z',
        ':ttl': Date.parse('2030-01-01T00:02:30.000Z') / 1000,
      });
    });

    it('never ends a lease sooner: a renewal after a longer lease leaves it, and taking the lock again sets it anew', async () => {
      let now = '2030-01-01T00:00:00.000Z';
      const lock = new DynamoLock({ doc, table: TABLE, now: () => new Date(now) });
      await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice' }, 60);
      await lock.renew('prod-a', 'run-000001', 36_000);
      expect((await lock.current('prod-a'))?.expiresAt).toBe('2030-01-01T10:00:00.000Z');
      now = '2030-01-01T00:01:00.000Z';
      await lock.renew('prod-a', 'run-000001', 7200);
      expect((await lock.current('prod-a'))?.expiresAt).toBe('2030-01-01T10:00:00.000Z');
      await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice' }, 7200);
      expect((await lock.current('prod-a'))?.expiresAt).toBe('2030-01-01T02:01:00.000Z');
      // Another run's lock is no lease of this run's to leave alone: still LockLostError.
      now = '2030-01-01T03:00:00.000Z';
      await lock.acquire('prod-a', { runId: 'run-000002', startedBy: 'bob' }, 36_000);
      await expect(lock.renew('prod-a', 'run-000001', 60)).rejects.toThrow(LockLostError);
    });

    it('says who holds it now when the run lost it', async () => {
      let now = '2030-01-01T00:00:00.000Z';
      const lock = new DynamoLock({ doc, table: TABLE, now: () => new Date(now) });
      await lock.acquire('prod-a', { runId: 'run-000001', startedBy: 'alice' }, 60);
      now = '2030-01-01T00:05:00.000Z';
      await lock.acquire('prod-a', { runId: 'run-000002', startedBy: 'bob' }, 60);
      const error = await lock.renew('prod-a', 'run-000001', 60).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LockLostError);
      expect((error as Error).message).toMatch(/run run-000001 no longer holds the lock of cluster prod-a: held by run run-000002 \(started by bob\)/);
    });
  });

  describe('Method: release', () => {
    it('deletes on condition that the run holds it and ignores a failed condition', async () => {
      const lock = new DynamoLock({ doc, table: TABLE });
      await lock.release('prod-a', 'run-000001');
      expect(docMock.commandCalls(DeleteCommand)[0]?.args[0].input).toEqual({
        TableName: TABLE,
        Key: lockKey('prod-a'),
        ConditionExpression: 'runId = :runId',
        ExpressionAttributeValues: { ':runId': 'run-000001' },
      });
    });

    it('passes other errors on', async () => {
      docMock.on(DeleteCommand).rejects(Object.assign(new Error('AccessDenied'), { name: 'AccessDeniedException' }));
      await expect(new DynamoLock({ doc, table: TABLE }).release('prod-a', 'run-000001')).rejects.toThrow('AccessDenied');
    });
  });
});

function run(runId: string, cluster: string, startedAt: string, extra: Partial<RunRecord> = {}): RunRecord {
  return {
    runId,
    cluster,
    target: 'aws',
    startedBy: 'alarm',
    request: { failed: 'i-0123456789abcdef0' },
    outcome: 'running',
    startedAt,
    state: 'CheckClusterHealth',
    context: { note: 'é "quoted" \u2028', empty: '', nested: [[1, 2], { a: null }] },
    steps: [],
    ...extra,
  };
}

describe('Class: DynamoRunStore', () => {
  describe('Method: save', () => {
    it('puts one item per run with index keys and the exact record as JSON', async () => {
      const store = new DynamoRunStore({ doc, table: TABLE });
      const record = run('run-000001', 'prod-a', '2030-01-01T00:00:00.000Z');
      await store.save(record);
      const item = docMock.commandCalls(PutCommand)[0]?.args[0].input.Item;
      expect(item).toMatchObject({
        pk: 'run#run-000001',
        sk: 'run',
        gsi1pk: 'cluster#prod-a',
        gsi1sk: '2030-01-01T00:00:00.000Z#run-000001',
        gsi2pk: 'run',
        outcome: 'running',
      });
      expect(item?.['ttl']).toBeUndefined();
      expect(await store.get('run-000001')).toEqual(record);
      expect(docMock.commandCalls(GetCommand)[0]?.args[0].input).toMatchObject({ Key: { pk: 'run#run-000001', sk: 'run' }, ConsistentRead: true });
    });

    it('sets a TTL on finished runs when a retention is configured', async () => {
      const store = new DynamoRunStore({ doc, table: TABLE, retentionDays: 365 });
      await store.save(run('run-000001', 'prod-a', '2030-01-01T00:00:00.000Z', { outcome: 'succeeded', endedAt: '2030-01-01T01:00:00.000Z' }));
      expect(docMock.commandCalls(PutCommand)[0]?.args[0].input.Item?.['ttl']).toBe(Date.parse('2030-01-01T01:00:00.000Z') / 1000 + 365 * 86_400);
    });

    it('replaces the record on every save', async () => {
      const store = new DynamoRunStore({ doc, table: TABLE });
      await store.save(run('run-000001', 'prod-a', '2030-01-01T00:00:00.000Z'));
      await store.save(run('run-000001', 'prod-a', '2030-01-01T00:00:00.000Z', { outcome: 'succeeded', state: 'Done' }));
      expect((await store.get('run-000001'))?.outcome).toBe('succeeded');
      expect(table.items.size).toBe(1);
    });

    it('validates ids, cluster, start time and size', async () => {
      const store = new DynamoRunStore({ doc, table: TABLE });
      await expect(store.save(run('BAD', 'prod-a', '2030-01-01T00:00:00.000Z'))).rejects.toThrow(InvalidInputError);
      await expect(store.save(run('run-000001', '../x', '2030-01-01T00:00:00.000Z'))).rejects.toThrow(InvalidInputError);
      await expect(store.save(run('run-000001', 'prod-a', 'yesterday'))).rejects.toThrow(InvalidInputError);
      await expect(store.save(run('run-000001', 'prod-a', '2030-01-01T00:00:00.000Z', { context: { big: 'x'.repeat(360 * 1024) } }))).rejects.toThrow(
        /at most/,
      );
      expect(docMock.commandCalls(PutCommand)).toHaveLength(0);
    });
  });

  describe('Method: get', () => {
    it('returns null for an unknown run', async () => {
      await expect(new DynamoRunStore({ doc, table: TABLE }).get('run-999999')).resolves.toBeNull();
    });
  });

  describe('Method: list', () => {
    async function seeded(pageSize?: number): Promise<DynamoRunStore> {
      if (pageSize) {
        docMock.reset();
        table = new FakeDynamoTable({ indexes, pageSize });
        table.attach(docMock);
      }
      const store = new DynamoRunStore({ doc, table: TABLE });
      await store.save(run('run-000001', 'prod-a', '2030-01-01T00:00:00.000Z'));
      await store.save(run('run-000003', 'prod-b', '2030-01-03T00:00:00.000Z'));
      await store.save(run('run-000002', 'prod-a', '2030-01-02T00:00:00.000Z'));
      await store.save(run('run-000004', 'prod-a', '2030-01-02T00:00:00.000Z'));
      return store;
    }

    it('lists a cluster newest first through the byCluster index (ties by run id, newest id first)', async () => {
      const store = await seeded();
      expect((await store.list({ cluster: 'prod-a' })).map((r) => r.runId)).toEqual(['run-000004', 'run-000002', 'run-000001']);
      expect(docMock.commandCalls(QueryCommand)[0]?.args[0].input).toEqual({
        TableName: TABLE,
        IndexName: 'byCluster',
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': 'gsi1pk' },
        ExpressionAttributeValues: { ':pk': 'cluster#prod-a' },
        ScanIndexForward: false,
      });
    });

    it('lists every cluster newest first through the byStart index, with a limit', async () => {
      const store = await seeded();
      expect((await store.list()).map((r) => r.runId)).toEqual(['run-000003', 'run-000004', 'run-000002', 'run-000001']);
      expect((await store.list({ limit: 2 })).map((r) => r.runId)).toEqual(['run-000003', 'run-000004']);
      expect(docMock.commandCalls(QueryCommand)[1]?.args[0].input).toMatchObject({ IndexName: 'byStart', Limit: 2 });
    });

    it('follows LastEvaluatedKey across pages', async () => {
      const store = await seeded(1);
      expect((await store.list({ cluster: 'prod-a' })).map((r) => r.runId)).toEqual(['run-000004', 'run-000002', 'run-000001']);
      expect(docMock.commandCalls(QueryCommand).length).toBeGreaterThanOrEqual(3);
      expect((await store.list({ cluster: 'prod-a', limit: 2 })).map((r) => r.runId)).toEqual(['run-000004', 'run-000002']);
    });

    it('validates the options', async () => {
      const store = new DynamoRunStore({ doc, table: TABLE });
      await expect(store.list({ cluster: 'a b' })).rejects.toThrow(InvalidInputError);
      await expect(store.list({ limit: 0 })).rejects.toThrow(InvalidInputError);
    });
  });
});
