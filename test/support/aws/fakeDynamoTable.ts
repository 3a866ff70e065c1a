// A small in-memory DynamoDB table behind aws-sdk-client-mock's DynamoDBDocumentClient mock: Get, Put,
// Update (SET, then optionally REMOVE), Delete and Query on the table's indexes, with condition expressions of the forms
// the adapters use (attribute_exists / attribute_not_exists, =, <, <=, >, >=, joined by AND / OR;
// AND binds tighter). Enough to run the lock contract and the run store against real conditional-write
// semantics; anything else throws so a test never silently passes on an unsupported expression.

import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AwsClientStub } from 'aws-sdk-client-mock';

type Item = Record<string, unknown>;
type Names = Record<string, string> | undefined;
type Values = Record<string, unknown> | undefined;

const keyOf = (pk: unknown, sk: unknown) => JSON.stringify([pk, sk]);

function resolveName(token: string, names: Names): string {
  if (token.startsWith('#')) {
    const name = names?.[token];
    if (name === undefined) throw new Error(`fake DynamoDB: unknown name ${token}`);
    return name;
  }
  return token;
}

function resolveValue(token: string, values: Values): unknown {
  if (!token.startsWith(':') || !values || !(token in values)) throw new Error(`fake DynamoDB: unknown value ${token}`);
  return values[token];
}

export function evaluateCondition(expression: string, item: Item | undefined, names: Names, values: Values): boolean {
  return expression.split(/\s+OR\s+/).some((alternative) =>
    alternative.split(/\s+AND\s+/).every((clause) => {
      const text = clause
        .trim()
        .replace(/^\((.*)\)$/, '$1')
        .trim();
      const fn = /^(attribute_exists|attribute_not_exists)\(\s*([#\w]+)\s*\)$/.exec(text);
      if (fn) {
        const present = item !== undefined && item[resolveName(fn[2] as string, names)] !== undefined;
        return fn[1] === 'attribute_exists' ? present : !present;
      }
      const cmp = /^([#\w]+)\s*(=|<=|>=|<|>)\s*(:\w+)$/.exec(text);
      if (!cmp) throw new Error(`fake DynamoDB: unsupported condition ${JSON.stringify(text)}`);
      if (item === undefined) return false;
      const left = item[resolveName(cmp[1] as string, names)] as number | string | undefined;
      const right = resolveValue(cmp[3] as string, values) as number | string;
      if (left === undefined) return false;
      switch (cmp[2]) {
        case '=':
          return left === right;
        case '<':
          return left < right;
        case '<=':
          return left <= right;
        case '>':
          return left > right;
        default:
          return left >= right;
      }
    }),
  );
}

function conditionFailed(): ConditionalCheckFailedException {
  return new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
}

export interface FakeTableOptions {
  indexes?: Record<string, { partitionKey: string; sortKey: string }>;
  /** Items per Query page (to exercise LastEvaluatedKey). Default 1000. */
  pageSize?: number;
}

export class FakeDynamoTable {
  readonly items = new Map<string, Item>();
  readonly #indexes: Record<string, { partitionKey: string; sortKey: string }>;
  readonly #pageSize: number;

  constructor(options: FakeTableOptions = {}) {
    this.#indexes = options.indexes ?? {};
    this.#pageSize = options.pageSize ?? 1000;
  }

  /** Routes the document client mock's commands to this table. */
  attach(m: AwsClientStub<DynamoDBDocumentClient>): void {
    m.on(GetCommand).callsFake((input: GetCommand['input']) => {
      const item = this.items.get(keyOf(input.Key?.['pk'], input.Key?.['sk']));
      return item ? { Item: structuredClone(item) } : {};
    });
    m.on(PutCommand).callsFake((input: PutCommand['input']) => {
      const item = input.Item as Item;
      const key = keyOf(item['pk'], item['sk']);
      if (
        input.ConditionExpression &&
        !evaluateCondition(input.ConditionExpression, this.items.get(key), input.ExpressionAttributeNames, input.ExpressionAttributeValues)
      ) {
        throw conditionFailed();
      }
      this.items.set(key, structuredClone(item));
      return {};
    });
    m.on(UpdateCommand).callsFake((input: UpdateCommand['input']) => {
      const key = keyOf(input.Key?.['pk'], input.Key?.['sk']);
      const current = this.items.get(key);
      if (
        input.ConditionExpression &&
        !evaluateCondition(input.ConditionExpression, current, input.ExpressionAttributeNames, input.ExpressionAttributeValues)
      ) {
        throw conditionFailed();
      }
      const update = /^SET\s+(.*?)(?:\s+REMOVE\s+(.*))?$/.exec(input.UpdateExpression ?? '');
      if (!update) throw new Error(`fake DynamoDB: unsupported update ${input.UpdateExpression ?? ''}`);
      const next: Item = { ...(current ?? { ...input.Key }) };
      for (const assignment of (update[1] as string).split(',')) {
        const [name, value] = assignment.split('=').map((s) => s.trim());
        next[resolveName(name as string, input.ExpressionAttributeNames)] = structuredClone(resolveValue(value as string, input.ExpressionAttributeValues));
      }
      for (const name of update[2]?.split(',') ?? []) delete next[resolveName(name.trim(), input.ExpressionAttributeNames)];
      this.items.set(key, next);
      if (input.ReturnValues === 'ALL_NEW') return { Attributes: structuredClone(next) };
      return input.ReturnValues === 'ALL_OLD' && current ? { Attributes: structuredClone(current) } : {};
    });
    m.on(DeleteCommand).callsFake((input: DeleteCommand['input']) => {
      const key = keyOf(input.Key?.['pk'], input.Key?.['sk']);
      if (
        input.ConditionExpression &&
        !evaluateCondition(input.ConditionExpression, this.items.get(key), input.ExpressionAttributeNames, input.ExpressionAttributeValues)
      ) {
        throw conditionFailed();
      }
      this.items.delete(key);
      return {};
    });
    m.on(QueryCommand).callsFake((input: QueryCommand['input']) => {
      const index = input.IndexName ? this.#indexes[input.IndexName] : { partitionKey: 'pk', sortKey: 'sk' };
      if (!index) throw new Error(`fake DynamoDB: no index ${input.IndexName ?? ''}`);
      const cond = /^([#\w]+)\s*=\s*(:\w+)$/.exec(input.KeyConditionExpression ?? '');
      if (!cond) throw new Error(`fake DynamoDB: unsupported key condition ${input.KeyConditionExpression ?? ''}`);
      const pkName = resolveName(cond[1] as string, input.ExpressionAttributeNames);
      if (pkName !== index.partitionKey) throw new Error(`fake DynamoDB: key condition on ${pkName}, index key is ${index.partitionKey}`);
      const pkValue = resolveValue(cond[2] as string, input.ExpressionAttributeValues);
      const sk = index.sortKey;
      let rows = [...this.items.values()]
        .filter((item) => item[pkName] === pkValue && item[sk] !== undefined)
        .sort((a, b) => ((a[sk] as string) < (b[sk] as string) ? -1 : (a[sk] as string) > (b[sk] as string) ? 1 : 0));
      if (input.ScanIndexForward === false) rows.reverse();
      const startKey = input.ExclusiveStartKey;
      if (startKey) {
        const at = rows.findIndex((item) => item['pk'] === startKey['pk'] && item['sk'] === startKey['sk']);
        rows = rows.slice(at + 1);
      }
      const size = Math.min(input.Limit ?? Infinity, this.#pageSize);
      const page = rows.slice(0, size);
      const more = rows.length > page.length;
      const last = page[page.length - 1];
      return {
        Items: page.map((item) => structuredClone(item)),
        ...(more && last ? { LastEvaluatedKey: { pk: last['pk'], sk: last['sk'], [pkName]: last[pkName], [sk]: last[sk] } } : {}),
      };
    });
  }
}
