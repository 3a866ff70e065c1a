// EventBridge's event patterns and input transformers, for what the stack's rules use: a pattern is
// an object whose leaves are arrays of allowed values, each a literal (string, number, boolean, null)
// or a `{prefix}`, `{"anything-but"}`, `{exists}` or `{suffix}` matcher; nested objects match nested
// fields. Anything else is refused rather than guessed at. The input transformer reads InputPathsMap's
// JSON paths (`$.a.b[0].c`) and fills InputTemplate's `<name>` placeholders: inside a JSON string the
// value's text, elsewhere its JSON.

import { randomUUID } from 'node:crypto';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * The event EventBridge gets from CloudWatch when an alarm changes state ("CloudWatch Alarm State
 * Change"): the envelope around `detail`, in the account and region of the alarm `alarmArn`.
 */
export function alarmStateChangeEvent<D>(
  env: { account: string; region: string },
  alarmArn: string,
  at: Date,
  detail: D,
): { version: string; id: string; 'detail-type': string; source: string; account: string; time: string; region: string; resources: string[]; detail: D } {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'CloudWatch Alarm State Change',
    source: 'aws.cloudwatch',
    account: env.account,
    time: at.toISOString().replace(/\.\d+Z$/, 'Z'),
    region: env.region,
    resources: [alarmArn],
    detail,
  };
}

function isObject(value: unknown): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function matchesValue(allowed: Json, actual: Json | undefined): boolean {
  if (isObject(allowed)) {
    const [kind, ...extra] = Object.keys(allowed);
    if (extra.length > 0) throw new Error(`event pattern matcher ${JSON.stringify(allowed)} is not supported`);
    const arg = allowed[kind!];
    switch (kind) {
      case 'prefix':
        return typeof actual === 'string' && typeof arg === 'string' && actual.startsWith(arg);
      case 'suffix':
        return typeof actual === 'string' && typeof arg === 'string' && actual.endsWith(arg);
      case 'exists':
        return arg === (actual !== undefined);
      case 'anything-but':
        return actual !== undefined && !(Array.isArray(arg) ? arg : [arg]).some((a) => a === actual);
      default:
        throw new Error(`event pattern matcher ${kind ?? '?'} is not supported`);
    }
  }
  return actual !== undefined && allowed === actual;
}

/** Whether `event` matches `pattern` (EventBridge semantics for the subset above; arrays in the event match when any element does). */
export function matchesPattern(pattern: Record<string, Json>, event: Record<string, Json>): boolean {
  return Object.entries(pattern).every(([key, allowed]) => {
    const actual = event[key];
    if (isObject(allowed)) return isObject(actual) && matchesPattern(allowed, actual);
    if (!Array.isArray(allowed)) throw new Error(`event pattern field ${key} must be an array or an object`);
    const values = Array.isArray(actual) ? actual : [actual];
    return allowed.some((a) => (isObject(a) && 'exists' in a && a['exists'] === false ? actual === undefined : values.some((v) => matchesValue(a, v))));
  });
}

/** A JSON path of the form `$`, `$.a.b`, `$.a[0].b`, `$.detail['x-y']`. */
export function readPath(root: Json, path: string): Json | undefined {
  if (!path.startsWith('$')) throw new Error(`not a JSON path: ${path}`);
  const tokens = [...path.slice(1).matchAll(/\.([A-Za-z0-9_$-]+)|\[(\d+)\]|\['([^']+)'\]/g)];
  if (tokens.map((t) => t[0]).join('') !== path.slice(1)) throw new Error(`JSON path ${path} is not supported`);
  let value: Json | undefined = root;
  for (const t of tokens) {
    const key = t[1] ?? t[3];
    if (key !== undefined) value = isObject(value) ? value[key] : undefined;
    else value = Array.isArray(value) ? value[Number(t[2])] : undefined;
  }
  return value;
}

/** The target input a rule's InputTransformer makes of an event. */
export function transformInput(event: Record<string, Json>, transformer: { InputPathsMap?: Record<string, string>; InputTemplate: string }): string {
  const values = Object.fromEntries(Object.entries(transformer.InputPathsMap ?? {}).map(([name, path]) => [name, readPath(event, path)]));
  let out = '';
  let inString = false;
  const template = transformer.InputTemplate;
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (c === '\\' && inString) {
      out += c + (template[i + 1] ?? '');
      i++;
      continue;
    }
    if (c === '"') inString = !inString;
    if (c === '<') {
      const end = template.indexOf('>', i);
      const name = end > i ? template.slice(i + 1, end) : '';
      if (name in values) {
        const value = values[name];
        if (inString) out += typeof value === 'string' ? JSON.stringify(value).slice(1, -1) : value === undefined ? '' : JSON.stringify(value);
        else out += value === undefined ? 'null' : JSON.stringify(value);
        i = end;
        continue;
      }
    }
    out += c;
  }
  return out;
}
