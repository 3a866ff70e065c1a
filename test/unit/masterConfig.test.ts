import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigEditError, InvalidInputError } from '../../functions/errors.ts';
import { getEtcdClientUrls, replaceEtcdMember, setEtcdClientUrls } from '../../functions/config/masterConfig.ts';

const FIXTURE = readFileSync(new URL('../../sandbox/templates/master-config.yaml', import.meta.url), 'utf8');

const M0 = 'https://master-0.example.com:2379';
const M1 = 'https://master-1.example.com:2379';
const M2 = 'https://master-2.example.com:2379';
const M3 = 'https://master-3.example.com:2379';

describe('Function: getEtcdClientUrls', () => {
  it('reads etcdClientInfo.urls of the fixture', () => {
    expect(getEtcdClientUrls(FIXTURE)).toEqual([M0, M1, M2]);
  });

  it('reads a flow sequence', () => {
    expect(getEtcdClientUrls(`etcdClientInfo:\n  urls: [${M0}, "${M1}"]\n`)).toEqual([M0, M1]);
  });

  it('throws ConfigEditError when urls is missing, not a sequence, or the file does not parse', () => {
    expect(() => getEtcdClientUrls('etcdClientInfo:\n  ca: x\n')).toThrow(new ConfigEditError('master-config.yaml has no etcdClientInfo.urls'));
    expect(() => getEtcdClientUrls('kind: MasterConfig\n')).toThrow(ConfigEditError);
    expect(() => getEtcdClientUrls(`etcdClientInfo:\n  urls: ${M0}\n`)).toThrow(
      new ConfigEditError('etcdClientInfo.urls in master-config.yaml is not a sequence'),
    );
    expect(() => getEtcdClientUrls('etcdClientInfo:\n  urls:\n  - a: b\n')).toThrow(ConfigEditError);
    expect(() => getEtcdClientUrls('etcdClientInfo: [\n')).toThrow(ConfigEditError);
  });
});

describe('Function: setEtcdClientUrls', () => {
  it('leaves an unchanged file byte-identical', () => {
    expect(setEtcdClientUrls(FIXTURE, [M0, M1, M2])).toBe(FIXTURE);
  });

  it('changes only the url lines, keeping their 4-space indentation', () => {
    const out = setEtcdClientUrls(FIXTURE, [M0, M2, M3]);
    expect(out).toBe(FIXTURE.replace(`    - ${M0}\n    - ${M1}\n    - ${M2}\n`, `    - ${M0}\n    - ${M2}\n    - ${M3}\n`));
    expect(out).not.toBe(FIXTURE);
    expect(getEtcdClientUrls(out)).toEqual([M0, M2, M3]);
  });

  it('grows and shrinks the list, touching nothing around it', () => {
    const grown = setEtcdClientUrls(FIXTURE, [M0, M1, M2, M3, 'https://198.51.100.14:2379']);
    const a = FIXTURE.split('\n');
    const b = grown.split('\n');
    const at = a.indexOf(`    - ${M2}`);
    expect(b.slice(0, at + 1)).toEqual(a.slice(0, at + 1));
    expect(b.slice(at + 1, at + 3)).toEqual([`    - ${M3}`, '    - https://198.51.100.14:2379']);
    expect(b.slice(at + 3)).toEqual(a.slice(at + 1));
    expect(setEtcdClientUrls(grown, [M0, M1, M2])).toBe(FIXTURE);
  });

  it('keeps the quoting, the dash gap and a flow style', () => {
    expect(setEtcdClientUrls(`a: 1\netcdClientInfo:\n  urls:\n  -   "${M0}"\nb: 2\n`, [M3])).toBe(`a: 1\netcdClientInfo:\n  urls:\n  -   "${M3}"\nb: 2\n`);
    expect(setEtcdClientUrls(`etcdClientInfo:\n  urls: ['${M0}', '${M1}'] # keep\n`, [M1, M3])).toBe(`etcdClientInfo:\n  urls: ['${M1}', '${M3}'] # keep\n`);
    expect(setEtcdClientUrls(`etcdClientInfo:\n  urls: []\n`, [M3])).toBe(`etcdClientInfo:\n  urls: [${M3}]\n`);
  });

  it('works on a file without a final newline', () => {
    expect(setEtcdClientUrls(`etcdClientInfo:\n  urls:\n  - ${M0}`, [M3])).toBe(`etcdClientInfo:\n  urls:\n  - ${M3}`);
  });

  it('is idempotent', () => {
    const once = setEtcdClientUrls(FIXTURE, [M0, M2, M3]);
    expect(setEtcdClientUrls(once, [M0, M2, M3])).toBe(once);
  });

  it('refuses an empty list, invalid URLs and a file without etcdClientInfo.urls', () => {
    expect(() => setEtcdClientUrls(FIXTURE, [])).toThrow(InvalidInputError);
    expect(() => setEtcdClientUrls(FIXTURE, [`${M0}\n  evil: true`])).toThrow(InvalidInputError);
    expect(() => setEtcdClientUrls(FIXTURE, ['https://a:2379 # x'])).toThrow(InvalidInputError);
    expect(() => setEtcdClientUrls('kind: MasterConfig\n', [M0])).toThrow(ConfigEditError);
    expect(() => setEtcdClientUrls('etcdClientInfo:\n  urls: x\n', [M0])).toThrow(ConfigEditError);
  });
});

describe('Function: replaceEtcdMember', () => {
  it('drops the failed member, keeps order and appends the new one', () => {
    expect(replaceEtcdMember([M0, M1, M2], { remove: [M1], add: M3 })).toEqual([M0, M2, M3]);
  });

  it('matches whole hosts and ports, never substrings', () => {
    const M10 = 'https://master-10.example.com:2379';
    expect(replaceEtcdMember([M1, M10], { remove: [M1], add: M3 })).toEqual([M10, M3]);
    expect(replaceEtcdMember(['https://198.51.100.1:2379', 'https://198.51.100.11:2379'], { remove: ['https://198.51.100.1:2379'], add: M3 })).toEqual([
      'https://198.51.100.11:2379',
      M3,
    ]);
    expect(replaceEtcdMember([M1, 'https://master-1.example.com:4001'], { remove: [M1], add: M3 })).toEqual(['https://master-1.example.com:4001', M3]);
  });

  it('compares hosts case-insensitively and ignores a trailing slash', () => {
    expect(replaceEtcdMember(['https://MASTER-1.example.com:2379/', M0], { remove: [M1], add: `${M0}/` })).toEqual([M0]);
  });

  it('does not add a member that is already there, and drops duplicates', () => {
    expect(replaceEtcdMember([M0, M3, M0], { remove: [], add: M3 })).toEqual([M0, M3]);
  });

  it('is idempotent', () => {
    const once = replaceEtcdMember([M0, M1, M2], { remove: [M1, M3], add: M3 });
    expect(once).toEqual([M0, M2, M3]);
    expect(replaceEtcdMember(once, { remove: [M1, M3], add: M3 })).toEqual(once);
  });

  it('validates add and remove', () => {
    expect(() => replaceEtcdMember([M0], { remove: ['master-1'], add: M3 })).toThrow(InvalidInputError);
    expect(() => replaceEtcdMember([M0], { remove: [], add: 'https://x:2379/$(reboot)' })).toThrow(InvalidInputError);
    expect(() => replaceEtcdMember(['not a url'], { remove: [], add: M3 })).toThrow(ConfigEditError);
  });
});
