import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigEditError, InvalidInputError } from '../../functions/errors.ts';
import { getFlannelEndpoints, setFlannelEndpoints } from '../../functions/config/flanneld.ts';

const FIXTURE = readFileSync(new URL('../../sandbox/templates/flanneld', import.meta.url), 'utf8');

const M0 = 'https://master-0.example.com:2379';
const M1 = 'https://master-1.example.com:2379';
const M2 = 'https://master-2.example.com:2379';
const M3 = 'https://master-3.example.com:2379';

describe('Function: getFlannelEndpoints', () => {
  it('reads the endpoints of the fixture', () => {
    expect(getFlannelEndpoints(FIXTURE)).toEqual([M0, M1, M2]);
  });

  it('ignores the commented example and empty entries', () => {
    expect(getFlannelEndpoints(`#FLANNEL_ETCD_ENDPOINTS="http://x:2379"\nFLANNEL_ETCD_ENDPOINTS=${M0},,\n`)).toEqual([M0]);
  });

  it('throws ConfigEditError when the key is absent or only commented out', () => {
    expect(() => getFlannelEndpoints('#FLANNEL_ETCD_ENDPOINTS="x"\n')).toThrow(
      new ConfigEditError('FLANNEL_ETCD_ENDPOINTS is not set in /etc/sysconfig/flanneld'),
    );
  });
});

describe('Function: setFlannelEndpoints', () => {
  it('rewrites only the endpoints line, keeping its double quotes', () => {
    const out = setFlannelEndpoints(FIXTURE, [M0, M2, M3]);
    expect(out).toBe(FIXTURE.replace(`FLANNEL_ETCD_ENDPOINTS="${M0},${M1},${M2}"`, `FLANNEL_ETCD_ENDPOINTS="${M0},${M2},${M3}"`));
    expect(out).not.toBe(FIXTURE);
  });

  it('leaves the file byte-identical when the endpoints are the same, and is idempotent', () => {
    expect(setFlannelEndpoints(FIXTURE, [M0, M1, M2])).toBe(FIXTURE);
    const once = setFlannelEndpoints(FIXTURE, [M0, M2, M3]);
    expect(setFlannelEndpoints(once, [M0, M2, M3])).toBe(once);
  });

  it('keeps a bare value bare', () => {
    expect(setFlannelEndpoints(`FLANNEL_ETCD_ENDPOINTS=${M0}\n`, [M3])).toBe(`FLANNEL_ETCD_ENDPOINTS=${M3}\n`);
  });

  it('throws ConfigEditError when the key is absent', () => {
    expect(() => setFlannelEndpoints('# nothing\n', [M3])).toThrow(ConfigEditError);
  });

  it('refuses an empty list and hostile URLs', () => {
    expect(() => setFlannelEndpoints(FIXTURE, [])).toThrow(InvalidInputError);
    expect(() => setFlannelEndpoints(FIXTURE, [`${M0}"; reboot; "`])).toThrow(InvalidInputError);
    expect(() => setFlannelEndpoints(FIXTURE, [`${M0}\nFLANNEL_OPTIONS=-x`])).toThrow(InvalidInputError);
    expect(() => setFlannelEndpoints(FIXTURE, [`${M0},${M1}`])).toThrow(InvalidInputError);
  });
});
