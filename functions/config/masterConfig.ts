// /etc/origin/master/master-config.yaml: etcdClientInfo.urls. The yaml Document API finds the sequence and its
// source range; the edit rewrites only those lines, so comments, order, quoting and indentation elsewhere
// (which a whole-document re-stringify would normalise) stay byte for byte.

import { isScalar, isSeq, parseDocument, type Scalar, type YAMLSeq } from 'yaml';
import { ConfigEditError, InvalidInputError } from '../errors.ts';
import { etcdUrl, parseEtcdUrl } from '../validate.ts';

const PATH = ['etcdClientInfo', 'urls'];

function urlsNode(text: string): { seq: YAMLSeq; items: Scalar[] } {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    throw new ConfigEditError(`master-config.yaml does not parse: ${doc.errors[0]?.message ?? ''}`, { cause: doc.errors[0] });
  }
  const node = doc.getIn(PATH, true);
  if (node === undefined) throw new ConfigEditError('master-config.yaml has no etcdClientInfo.urls');
  if (!isSeq(node)) throw new ConfigEditError('etcdClientInfo.urls in master-config.yaml is not a sequence');
  const items = node.items.map((item, i) => {
    if (!isScalar(item) || typeof item.value !== 'string') {
      throw new ConfigEditError(`etcdClientInfo.urls[${i}] in master-config.yaml is not a string`);
    }
    return item;
  });
  return { seq: node, items };
}

/** The etcd client URLs the master uses (etcdClientInfo.urls), in file order. */
export function getEtcdClientUrls(text: string): string[] {
  return urlsNode(text).items.map((item) => String(item.value));
}

function quoted(url: string, like: Scalar | undefined): string {
  if (like?.type === 'QUOTE_DOUBLE') return `"${url}"`;
  if (like?.type === 'QUOTE_SINGLE') return `'${url}'`;
  return url;
}

function range(node: { range?: [number, number, number] | null }): [number, number, number] {
  if (!node.range) throw new ConfigEditError('master-config.yaml: no source position for etcdClientInfo.urls');
  return node.range;
}

/**
 * Sets etcdClientInfo.urls, rewriting only the lines of that sequence in the style they had (indentation, quoting,
 * block or flow). Returns the text unchanged when the URLs are already those.
 */
export function setEtcdClientUrls(text: string, urls: string[]): string {
  if (urls.length === 0) throw new InvalidInputError('urls', 'a master needs at least one etcd URL');
  const wanted = urls.map((url, i) => etcdUrl(`urls[${i}]`, url));
  const { seq, items } = urlsNode(text);
  const current = items.map((item) => String(item.value));
  if (current.length === wanted.length && current.every((url, i) => url === wanted[i])) return text;

  const [seqStart, seqEnd] = range(seq);
  const first = items[0];
  let out: string;
  if (seq.flow || !first) {
    const rendered = `[${wanted.map((url) => quoted(url, first)).join(', ')}]`;
    out = text.slice(0, seqStart) + rendered + text.slice(seqEnd);
  } else {
    const lineStart = text.lastIndexOf('\n', seqStart - 1) + 1;
    const indent = text.slice(lineStart, seqStart);
    if (!/^[ ]*$/.test(indent)) throw new ConfigEditError('etcdClientInfo.urls does not start on its own line');
    const gap = text.slice(seqStart + 1, range(first)[0]);
    const last = items[items.length - 1] ?? first;
    const newline = text.indexOf('\n', range(last)[1]);
    const lineEnd = newline < 0 ? text.length : newline;
    const cr = text[lineEnd - 1] === '\r' ? '\r' : '';
    const rendered = wanted.map((url) => `${indent}-${gap}${quoted(url, first)}`).join(`${cr}\n`);
    out = text.slice(0, lineStart) + rendered + cr + text.slice(lineEnd);
  }

  const check = getEtcdClientUrls(out);
  if (check.length !== wanted.length || check.some((url, i) => url !== wanted[i])) {
    throw new ConfigEditError('editing etcdClientInfo.urls did not give the URLs asked for');
  }
  return out;
}

function endpointKey(field: string, url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new ConfigEditError(`${field} ${JSON.stringify(url)} is not a URL`, { cause: error });
  }
  const port = parsed.port || (parsed.protocol === 'https:' ? '443' : parsed.protocol === 'http:' ? '80' : '');
  return `${parsed.protocol}//${parsed.hostname}:${port}`;
}

/**
 * The URL list with the `remove` endpoints dropped (exact host and port, never a substring) and `add` appended if
 * absent; order kept, duplicates dropped. Idempotent.
 */
export function replaceEtcdMember(urls: string[], change: { remove: string[]; add: string }): string[] {
  const add = etcdUrl('add', change.add);
  const removed = new Set(change.remove.map((url, i) => endpointKey(`remove[${i}]`, parseEtcdUrl(`remove[${i}]`, url).url)));
  const addKey = endpointKey('add', add);
  const seen = new Set<string>();
  const out: string[] = [];
  urls.forEach((url, i) => {
    const key = endpointKey(`urls[${i}]`, url);
    if (removed.has(key) || seen.has(key)) return;
    seen.add(key);
    out.push(url);
  });
  if (!seen.has(addKey)) out.push(add);
  return out;
}
