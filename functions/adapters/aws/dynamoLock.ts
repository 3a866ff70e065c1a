// LockPort on DynamoDB: one item per cluster, `pk = lock#<cluster>`, `sk = lock`, in the product's table
// (see dynamoTable.ts). Same semantics as the sandbox's FileLock:
//
// - acquire reads the item (strongly consistent) and judges it: none → create it with
//   `attribute_not_exists(pk)`; the same run → extend it (acquiredAt kept); expired → take it over
//   (recording `takenOver`); anyone else → LockHeldError naming the holder's run, starter and expiry.
//   Every write after a read is conditional on the `token` it read (a fresh random token per write), so
//   what was judged is what gets replaced; a ConditionalCheckFailed means someone else wrote in between,
//   and the judgement is made again on a fresh read. This is a single condition
//   `attribute_not_exists(pk) OR expiresAt < :now OR runId = :runId` split into its three cases, so
//   that a re-entrant acquire keeps acquiredAt and a takeover records what it replaced.
// - liveness first, where the holder names its execution and `holderAlive` can tell: a holder whose
//   execution still runs keeps the lock past its expiry, and one whose execution has ended loses it at
//   once; where liveness cannot be told, expiry decides. The run renews its lock at every step.
// - a run has one owner at a time: the same run's lock held by another execution that still runs
//   (`holderAlive` says so) is refused like another run's (LockHeldError naming that execution), so a
//   second execution for a run ends Refused at AcquireLock, and every later step of it proves first that
//   no running execution holds its run's lock (heldElsewhere; functions/workflow/lockRenewal.ts);
// - renew is an update conditional on `runId = :runId` (LockLostError naming the new holder otherwise) that
//   only ever extends the lease: a renewal that would end it sooner (a step's periodic renewal, after the
//   restore's AwaitApproval extended the lease over its wait) leaves it as it is. Taking the lock again
//   (acquire, every step's start) sets the lease anew;
// - release is a delete conditional on `runId = :runId` and on the token it judged: releasing a lock not
//   (or no longer) held is a no-op, and so is releasing one that another running execution of the run holds;
// - the item carries `ttl` (epoch seconds of expiry) so DynamoDB deletes abandoned locks eventually;
//   expiry is judged on `expiresAtMs`, never on whether TTL has deleted the item yet.

import { randomBytes } from 'node:crypto';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand, type DeleteCommandInput, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LockHeldError, LockLostError } from '../../errors.ts';
import type { JoinAnswer, JoinRequest, LastHolder, LockInfo, LockOwner, LockPort } from '../../ports.ts';
import { clusterName, positiveInt, runId as validRunId } from '../../validate.ts';

/** The lock a takeover replaced. */
export interface TakenOverLock {
  runId: string;
  startedBy: string;
  acquiredAt: string;
  expiresAt: string;
  reason: 'expired' | 'holder execution ended';
  at: string;
}

export interface DynamoLockInfo extends LockInfo {
  takenOver?: TakenOverLock;
}

interface LockItem extends DynamoLockInfo {
  pk: string;
  sk: string;
  kind: 'lock';
  expiresAtMs: number;
  ttl: number;
  token: string;
}

export interface DynamoLockConfig {
  doc: DynamoDBDocumentClient;
  table: string;
  now?: () => Date;
  /** Re-reads after losing a write race before giving up. Default 5. */
  maxAttempts?: number;
  /** Whether the holder's execution still runs: true, false, or null when it cannot be told. */
  holderAlive?: (holder: DynamoLockInfo) => Promise<boolean | null>;
}

export const lockKey = (cluster: string) => ({ pk: `lock#${cluster}`, sk: 'lock' });
/** The item of the run that held a cluster's lock last: the lock's partition, its own sort key. */
const lastHolderKey = (cluster: string) => ({ pk: `lock#${cluster}`, sk: 'last' });

export function isConditionalCheckFailed(error: unknown): boolean {
  return (error as { name?: unknown } | undefined)?.name === 'ConditionalCheckFailedException';
}

function describeHolder(lock: LockInfo): string {
  const where =
    (lock.pid !== undefined ? `, pid ${lock.pid}${lock.host ? ` on ${lock.host}` : ''}` : lock.host ? `, on ${lock.host}` : '') +
    (lock.execution ? `, ${lock.execution}` : '');
  return `held by run ${lock.runId} (started by ${lock.startedBy}${where}), acquired at ${lock.acquiredAt}, expires at ${lock.expiresAt}`;
}

function publicInfo(item: LockItem): DynamoLockInfo {
  const { pk: _pk, sk: _sk, kind: _kind, expiresAtMs: _ms, ttl: _ttl, token: _token, ...rest } = item;
  const info = Object.fromEntries(Object.entries(rest).filter(([key]) => !key.startsWith(JOIN_PREFIX))) as unknown as DynamoLockInfo;
  const joins = joinsOf(item);
  return { ...info, ...(joins.length > 0 ? { joins } : {}) };
}

/** A waiting run's join request is the item's attribute `join_<run id>` (requestJoin). */
const JOIN_PREFIX = 'join_';

/** The join requests on a lock item, oldest first. */
function joinsOf(item: LockItem): JoinRequest[] {
  return Object.entries(item)
    .filter(([key]) => key.startsWith(JOIN_PREFIX))
    .map(([, value]) => value as JoinRequest)
    .sort((a, b) => a.at.localeCompare(b.at) || a.runId.localeCompare(b.runId));
}

export class DynamoLock implements LockPort {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #now: () => Date;
  readonly #maxAttempts: number;
  readonly #holderAlive: NonNullable<DynamoLockConfig['holderAlive']>;

  constructor(config: DynamoLockConfig) {
    this.#holderAlive = config.holderAlive ?? (async () => null);
    this.#doc = config.doc;
    this.#table = config.table;
    this.#now = config.now ?? (() => new Date());
    this.#maxAttempts = config.maxAttempts ?? 5;
  }

  async acquire(cluster: string, owner: LockOwner, ttlSeconds: number): Promise<DynamoLockInfo> {
    const name = clusterName('cluster', cluster);
    const runId = validRunId('runId', owner.runId);
    const ttl = positiveInt('ttlSeconds', ttlSeconds);
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
      const current = await this.#read(name);
      const now = this.#now();
      const fresh = (acquiredAt: string, takenOver?: TakenOverLock): LockItem => {
        const expiresAtMs = now.getTime() + ttl * 1000;
        return {
          ...lockKey(name),
          kind: 'lock',
          cluster: name,
          runId,
          startedBy: owner.startedBy,
          ...(owner.pid !== undefined ? { pid: owner.pid } : {}),
          ...(owner.host !== undefined ? { host: owner.host } : {}),
          ...(owner.execution !== undefined ? { execution: owner.execution } : {}),
          ...(owner.covers !== undefined ? { covers: owner.covers } : {}),
          acquiredAt,
          expiresAt: new Date(expiresAtMs).toISOString(),
          ...(takenOver ? { takenOver } : {}),
          expiresAtMs,
          ttl: Math.ceil(expiresAtMs / 1000),
          token: randomBytes(16).toString('hex'),
        };
      };
      let item: LockItem;
      if (current === null) item = fresh(now.toISOString());
      else if (current.runId === runId && (await this.#otherLiveExecution(current, owner))) {
        throw new LockHeldError(`run ${runId} is in progress in another execution: ${describeHolder(current)} (its execution still runs)`);
      } else if (current.runId === runId) {
        // The same run again keeps what was left for it.
        item = {
          ...fresh(current.acquiredAt, current.takenOver),
          ...Object.fromEntries(Object.entries(current).filter(([key]) => key.startsWith(JOIN_PREFIX))),
          ...(current.joinsClosed ? { joinsClosed: true } : {}),
        };
      } else {
        const alive = current.execution !== undefined ? await this.#holderAlive(publicInfo(current)) : null;
        const reason = alive === false ? 'holder execution ended' : alive === null && current.expiresAtMs <= now.getTime() ? 'expired' : null;
        if (reason === null) throw new LockHeldError(`cluster ${name} is locked: ${describeHolder(current)}${alive ? ' (its execution still runs)' : ''}`);
        item = fresh(now.toISOString(), {
          runId: current.runId,
          startedBy: current.startedBy,
          acquiredAt: current.acquiredAt,
          expiresAt: current.expiresAt,
          reason,
          at: now.toISOString(),
        });
      }

      try {
        await this.#doc.send(
          new PutCommand({
            TableName: this.#table,
            Item: item,
            ...(current === null
              ? { ConditionExpression: 'attribute_not_exists(pk)' }
              : {
                  ConditionExpression: '#token = :token',
                  ExpressionAttributeNames: { '#token': 'token' },
                  ExpressionAttributeValues: { ':token': current.token },
                }),
          }),
        );
        return publicInfo(item);
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error;
        // someone wrote between our read and our write: judge again
      }
    }
    const holder = await this.#read(name);
    if (holder) throw new LockHeldError(`cluster ${name} is locked: ${describeHolder(holder)}`);
    throw new LockHeldError(`could not take the lock of cluster ${name}: too much contention`);
  }

  /**
   * acquire's re-entrant case in one conditional write: the lock names this run and this owner's
   * execution (or none), so the item is extended as acquire would write it again (its acquiredAt,
   * takeover, joins and closed joins kept; the owner's fields and a new token written). Null when the
   * condition fails: nothing was written, and the caller reads and judges the lock.
   */
  async extendOwn(cluster: string, owner: LockOwner, ttlSeconds: number): Promise<DynamoLockInfo | null> {
    const name = clusterName('cluster', cluster);
    const runId = validRunId('runId', owner.runId);
    const ttl = positiveInt('ttlSeconds', ttlSeconds);
    const expiresAtMs = this.#now().getTime() + ttl * 1000;
    const names: Record<string, string> = { '#ttl': 'ttl', '#token': 'token' };
    const values: Record<string, unknown> = {
      ':runId': runId,
      ':startedBy': owner.startedBy,
      ':expiresAt': new Date(expiresAtMs).toISOString(),
      ':expiresAtMs': expiresAtMs,
      ':ttl': Math.ceil(expiresAtMs / 1000),
      ':token': randomBytes(16).toString('hex'),
    };
    const set = ['startedBy = :startedBy', 'expiresAt = :expiresAt', 'expiresAtMs = :expiresAtMs', '#ttl = :ttl', '#token = :token'];
    const remove: string[] = [];
    // The owner's own fields, as acquire's item carries them: written when given, removed when not.
    for (const field of ['pid', 'host', 'execution', 'covers'] as const) {
      names[`#${field}`] = field;
      if (owner[field] === undefined) remove.push(`#${field}`);
      else {
        set.push(`#${field} = :${field}`);
        values[`:${field}`] = owner[field];
      }
    }
    // acquire takes the lock again for its run unless another execution of the run holds it; with no
    // execution of its own the owner is never told apart from another (otherLiveExecution).
    const condition =
      owner.execution === undefined ? 'runId = :runId' : 'runId = :runId AND attribute_not_exists(#execution) OR runId = :runId AND #execution = :execution';
    try {
      const answer = await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: lockKey(name),
          UpdateExpression: `SET ${set.join(', ')}${remove.length > 0 ? ` REMOVE ${remove.join(', ')}` : ''}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return publicInfo(answer.Attributes as LockItem);
    } catch (error) {
      if (isConditionalCheckFailed(error)) return null;
      throw error;
    }
  }

  async renew(cluster: string, runId: string, ttlSeconds: number): Promise<void> {
    const name = clusterName('cluster', cluster);
    const id = validRunId('runId', runId);
    const ttl = positiveInt('ttlSeconds', ttlSeconds);
    const expiresAtMs = this.#now().getTime() + ttl * 1000;
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: lockKey(name),
          UpdateExpression: 'SET expiresAt = :expiresAt, expiresAtMs = :expiresAtMs, #ttl = :ttl, #token = :newToken',
          // Only longer: a renewal never ends a lease sooner than it was given.
          ConditionExpression: 'attribute_exists(pk) AND runId = :runId AND expiresAtMs < :expiresAtMs',
          ExpressionAttributeNames: { '#ttl': 'ttl', '#token': 'token' },
          ExpressionAttributeValues: {
            ':expiresAt': new Date(expiresAtMs).toISOString(),
            ':expiresAtMs': expiresAtMs,
            ':ttl': Math.ceil(expiresAtMs / 1000),
            ':newToken': randomBytes(16).toString('hex'),
            ':runId': id,
          },
        }),
      );
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      const holder = await this.#read(name);
      // Still this run's, with a lease that ends later: nothing to renew.
      if (holder?.runId === id && holder.expiresAtMs >= expiresAtMs) return;
      throw new LockLostError(
        holder
          ? `run ${id} no longer holds the lock of cluster ${name}: ${describeHolder(holder)}`
          : `run ${id} does not hold the lock of cluster ${name}: nobody holds it`,
        { cause: error },
      );
    }
  }

  async release(cluster: string, runId: string, owner?: LockOwner): Promise<void> {
    const name = clusterName('cluster', cluster);
    const id = validRunId('runId', runId);
    let condition: Pick<DeleteCommandInput, 'ConditionExpression' | 'ExpressionAttributeValues' | 'ExpressionAttributeNames'> = {
      ConditionExpression: 'runId = :runId',
      ExpressionAttributeValues: { ':runId': id },
    };
    if (owner !== undefined) {
      const current = await this.#read(name);
      if (current === null || current.runId !== id) return; // not ours (any more)
      if (await this.#otherLiveExecution(current, owner)) return; // the run's owner is another execution
      condition = {
        ConditionExpression: 'runId = :runId AND #token = :token',
        ExpressionAttributeNames: { '#token': 'token' },
        ExpressionAttributeValues: { ':runId': id, ':token': current.token },
      };
    }
    try {
      await this.#doc.send(new DeleteCommand({ TableName: this.#table, Key: lockKey(name), ...condition }));
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error; // not ours (any more), or already gone
    }
  }

  async heldElsewhere(cluster: string, owner: LockOwner): Promise<DynamoLockInfo | null> {
    const current = await this.#read(clusterName('cluster', cluster));
    if (current === null || current.runId !== owner.runId) return null;
    return (await this.#otherLiveExecution(current, owner)) ? publicInfo(current) : null;
  }

  /** The lock names an execution other than the owner's, and that execution still runs (as far as can be told). */
  async #otherLiveExecution(current: LockItem, owner: LockOwner): Promise<boolean> {
    if (current.execution === undefined || owner.execution === undefined || current.execution === owner.execution) return false;
    return (await this.#holderAlive(publicInfo(current))) === true;
  }

  async current(cluster: string): Promise<DynamoLockInfo | null> {
    const item = await this.#read(clusterName('cluster', cluster));
    return item ? publicInfo(item) : null;
  }

  // The last holder: an item of its own beside the lock's (sort key `last`), replaced whole.
  async recordLastHolder(cluster: string, last: LastHolder): Promise<void> {
    const name = clusterName('cluster', cluster);
    const item = {
      ...lastHolderKey(name),
      runId: validRunId('runId', last.runId),
      covers: last.covers,
      succeeded: last.succeeded,
      releasedAt: last.releasedAt,
    };
    await this.#doc.send(new PutCommand({ TableName: this.#table, Item: item }));
  }

  async lastHolder(cluster: string): Promise<LastHolder | null> {
    const answer = await this.#doc.send(new GetCommand({ TableName: this.#table, Key: lastHolderKey(clusterName('cluster', cluster)), ConsistentRead: true }));
    const item = answer.Item;
    if (!item || typeof item['runId'] !== 'string' || typeof item['releasedAt'] !== 'string') return null;
    const covers = Array.isArray(item['covers']) ? item['covers'].filter((c): c is string => typeof c === 'string') : [];
    return { runId: item['runId'], covers, succeeded: item['succeeded'] === true, releasedAt: item['releasedAt'] };
  }

  async requestJoin(cluster: string, holderRunId: string, join: JoinRequest): Promise<JoinAnswer> {
    const name = clusterName('cluster', cluster);
    const holder = validRunId('holderRunId', holderRunId);
    const current = await this.#read(name);
    if (current === null || current.runId !== holder) return 'not-held';
    if (current.joinsClosed === true) return 'closed';
    if (joinsOf(current).some((j) => j.runId === join.runId)) return 'requested';
    try {
      // One attribute per waiting run, set only while the holder holds the lock and has not closed joins:
      // closeJoins is the cut.
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: lockKey(name),
          UpdateExpression: 'SET #join = :join',
          ConditionExpression: 'runId = :holder AND attribute_not_exists(joinsClosed)',
          ExpressionAttributeNames: { '#join': `${JOIN_PREFIX}${validRunId('join.runId', join.runId)}` },
          ExpressionAttributeValues: { ':join': join, ':holder': holder },
        }),
      );
      return 'requested';
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      const now = await this.#read(name);
      return now === null || now.runId !== holder ? 'not-held' : 'closed';
    }
  }

  async closeJoins(cluster: string, runId: string): Promise<JoinRequest[]> {
    const name = clusterName('cluster', cluster);
    const id = validRunId('runId', runId);
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: lockKey(name),
          UpdateExpression: 'SET joinsClosed = :closed',
          ConditionExpression: 'runId = :runId',
          ExpressionAttributeValues: { ':closed': true, ':runId': id },
        }),
      );
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      throw await this.#lost(name, id, error);
    }
    // Closed: no request is added any more, so this read holds every one.
    const closed = await this.#read(name);
    if (closed === null || closed.runId !== id) throw await this.#lost(name, id, undefined);
    return joinsOf(closed);
  }

  async #lost(name: string, id: string, cause: unknown): Promise<LockLostError> {
    const holder = await this.#read(name);
    return new LockLostError(
      holder
        ? `run ${id} no longer holds the lock of cluster ${name}: ${describeHolder(holder)}`
        : `run ${id} does not hold the lock of cluster ${name}: nobody holds it`,
      { cause },
    );
  }

  async #read(cluster: string): Promise<LockItem | null> {
    const answer = await this.#doc.send(new GetCommand({ TableName: this.#table, Key: lockKey(cluster), ConsistentRead: true }));
    return (answer.Item as LockItem | undefined) ?? null;
  }
}
