import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { accepted } from '../support/accepted.ts';
import { InvalidInputError } from '../../functions/errors.ts';
import {
  absolutePath,
  artifactKey,
  assertNoControlChars,
  clusterName,
  etcdUrl,
  hostName,
  hostname,
  instanceId,
  ipv4,
  memberId,
  memberIdFromDecimal,
  parseEtcdUrl,
  positiveInt,
  runId,
  sandboxName,
  shellQuote,
  shellSetArgs,
} from '../../functions/validate.ts';

// Values an attacker (or a typo) could put into a field that ends up in a shell or a config file.
const HOSTILE = [
  '$(reboot)',
  '`reboot`',
  'a; rm -rf /',
  'a && rm -rf /',
  'a | sh',
  "a'b",
  'a"b',
  'a\nb',
  'a\rb',
  'a\u0000b',
  'a\tb',
  'a b',
  '-a',
  '--foo',
  '--foo=bar',
  '../../etc/passwd',
  'mаster-0', // Cyrillic а
  'master‐0', // U+2010 hyphen
  'ｍaster-0', // fullwidth m
  'master-0\u200b', // zero-width space
  '',
  'a'.repeat(10_000),
];

function rejection(fn: () => unknown): InvalidInputError {
  try {
    fn();
  } catch (error) {
    if (error instanceof InvalidInputError) return error;
    throw error;
  }
  throw new Error('expected InvalidInputError, nothing was thrown');
}

describe('Function: hostname', () => {
  it('accepts FQDNs and short names unchanged', () => {
    expect(hostname('host', 'master-0.example.com')).toBe('master-0.example.com');
    expect(hostname('host', 'node0')).toBe('node0');
    expect(hostname('host', '0node.example.com')).toBe('0node.example.com');
  });

  it('accepts the longest legal labels and names', () => {
    const label = 'a'.repeat(63);
    const name = [label, label, label, 'b'.repeat(61)].join('.');
    expect(name).toHaveLength(253);
    expect(hostname('host', name)).toBe(name);
  });

  it('rejects names and labels that are too long', () => {
    expect(rejection(() => hostname('host', `${'a'.repeat(64)}.example.com`)).message).toBe(
      `invalid host: "${'a'.repeat(60)}..." (76 characters) has a label longer than 63 characters`,
    );
    const tooLong = ['a'.repeat(63), 'a'.repeat(63), 'a'.repeat(63), 'a'.repeat(62)].join('.');
    expect(rejection(() => hostname('host', tooLong)).message).toMatch(/is longer than 253 characters$/);
  });

  it('rejects a leading hyphen anywhere, so no name is read as an option', () => {
    expect(rejection(() => hostname('host', '-master-0')).message).toBe('invalid host: "-master-0" has a label starting or ending with a hyphen');
    expect(() => hostname('host', '--foo')).toThrow(InvalidInputError);
    expect(() => hostname('host', 'master.-x.example.com')).toThrow(InvalidInputError);
    expect(() => hostname('host', 'master-.example.com')).toThrow(InvalidInputError);
  });

  it('rejects uppercase, trailing dots, empty labels and addresses', () => {
    expect(rejection(() => hostname('host', 'Master-0')).message).toBe('invalid host: "Master-0" may hold only lowercase letters, digits, hyphens and dots');
    expect(rejection(() => hostname('host', 'master-0.example.com.')).message).toBe('invalid host: "master-0.example.com." must not end with a dot');
    expect(rejection(() => hostname('host', 'a..b')).message).toBe('invalid host: "a..b" has an empty label');
    expect(rejection(() => hostname('host', '198.51.100.10')).message).toBe(
      'invalid host: "198.51.100.10" ends in an all-numeric label (an address is not a hostname)',
    );
    expect(() => hostname('host', '.example.com')).toThrow(InvalidInputError);
  });

  it('rejects every hostile value with the field named', () => {
    for (const value of HOSTILE) {
      const error = rejection(() => hostname('newHostname', value));
      expect(error.field).toBe('newHostname');
      expect(error.name).toBe('InvalidInputError');
      expect(error.exitCode).toBe(2);
    }
  });

  it('rejects values that are not strings', () => {
    expect(rejection(() => hostname('host', undefined)).message).toBe('invalid host: expected a string, got undefined');
    expect(rejection(() => hostname('host', null)).message).toBe('invalid host: expected a string, got null');
    expect(rejection(() => hostname('host', ['a'])).message).toBe('invalid host: expected a string, got object');
  });

  it('escapes control characters in its message', () => {
    expect(rejection(() => hostname('host', 'a\nb')).message).toBe('invalid host: "a\\nb" contains a control character');
    expect(rejection(() => hostname('host', 'a\u2028b')).message).toBe('invalid host: "a\\u2028b" contains a control character');
  });
});

describe('Function: ipv4', () => {
  it('accepts dotted quads', () => {
    expect(ipv4('ip', '198.51.100.10')).toBe('198.51.100.10');
    expect(ipv4('ip', '0.0.0.0')).toBe('0.0.0.0');
    expect(ipv4('ip', '255.255.255.255')).toBe('255.255.255.255');
  });

  it('rejects out-of-range parts, leading zeros and wrong shapes', () => {
    const rejected = [
      '256.1.1.1',
      '1.2.3.04',
      '01.2.3.4',
      '1.2.3',
      '1.2.3.4.5',
      '1.2.3.',
      ' 1.2.3.4',
      '1.2.3.4 ',
      '0x1.2.3.4',
      '1.2.3.-4',
      '::1',
      '１.2.3.4',
      '١.2.3.4',
    ];
    expect(accepted(rejected, (value) => ipv4('ip', value), InvalidInputError)).toEqual([]);
    expect(rejection(() => ipv4('ip', '1.2.3.04')).message).toBe('invalid ip: "1.2.3.04" is not an IPv4 address (four numbers 0-255 without leading zeros)');
  });

  it('rejects every hostile value', () => {
    expect(accepted(HOSTILE, (value) => ipv4('ip', value), InvalidInputError)).toEqual([]);
    expect(() => ipv4('ip', '1.2.3.4\n')).toThrow(InvalidInputError);
    expect(() => ipv4('ip', '1.2.3.4; reboot')).toThrow(InvalidInputError);
  });
});

describe('Function: memberId', () => {
  it('pads and lowercases hex ids', () => {
    expect(memberId('id', '8e9e05c52164694d')).toBe('8e9e05c52164694d');
    expect(memberId('id', '8E9E05C52164694D')).toBe('8e9e05c52164694d');
    expect(memberId('id', 'abc')).toBe('0000000000000abc');
  });

  it('rejects non-hex, too long, zero and hostile ids', () => {
    expect(rejection(() => memberId('id', '8e9e05c52164694d0')).message).toBe('invalid id: "8e9e05c52164694d0" is not an etcd member id (1 to 16 hex digits)');
    expect(rejection(() => memberId('id', '0000')).message).toBe('invalid id: member id 0 is not a valid etcd member id');
    expect(accepted(['0x1f', 'g1', '-1f', ...HOSTILE], (value) => memberId('id', value), InvalidInputError)).toEqual([]);
  });
});

describe('Function: memberIdFromDecimal', () => {
  it('converts the etcd3 client decimal string to 16 hex digits', () => {
    expect(memberIdFromDecimal('10276657743932975437')).toBe('8e9e05c52164694d');
    expect(memberIdFromDecimal('1')).toBe('0000000000000001');
    expect(memberIdFromDecimal('18446744073709551615')).toBe('ffffffffffffffff');
  });

  it('rejects values beyond 64 bits, zero, leading zeros and numbers', () => {
    expect(rejection(() => memberIdFromDecimal('18446744073709551616')).message).toBe('invalid memberId: "18446744073709551616" does not fit in 64 bits');
    expect(rejection(() => memberIdFromDecimal('0', 'leader')).message).toBe('invalid leader: member id 0 is not a valid etcd member id');
    expect(() => memberIdFromDecimal('012')).toThrow(InvalidInputError);
    expect(() => memberIdFromDecimal('1e3')).toThrow(InvalidInputError);
    expect(() => memberIdFromDecimal(12)).toThrow(InvalidInputError);
    expect(accepted(HOSTILE, (value) => memberIdFromDecimal(value), InvalidInputError)).toEqual([]);
  });
});

describe('Function: instanceId', () => {
  it('accepts short and long EC2 instance ids', () => {
    expect(instanceId('instance', 'i-0123abcd')).toBe('i-0123abcd');
    expect(instanceId('instance', 'i-0123456789abcdef0')).toBe('i-0123456789abcdef0');
  });

  it('rejects other lengths, uppercase and hostile values', () => {
    const rejected = ['i-0123abc', 'i-0123456789abcdef', 'i-0123ABCD', 'I-0123abcd', 'i-0123abcd ', 'i-0123456789abcdef01', ...HOSTILE];
    expect(accepted(rejected, (value) => instanceId('instance', value), InvalidInputError)).toEqual([]);
  });
});

describe('Function: hostName', () => {
  it('accepts short sandbox host names', () => {
    expect(hostName('name', 'master-0')).toBe('master-0');
    expect(hostName('name', 'etcd-spare-0')).toBe('etcd-spare-0');
    expect(hostName('name', `n${'0'.repeat(62)}`)).toHaveLength(63);
  });

  it('rejects dots, leading digits or hyphens, and long names', () => {
    const rejected = ['master-0.example.com', '0master', '-master', `n${'0'.repeat(63)}`, 'Master-0', ...HOSTILE];
    expect(accepted(rejected, (value) => hostName('name', value), InvalidInputError)).toEqual([]);
  });
});

describe('Function: sandboxName', () => {
  it('accepts up to 16 characters', () => {
    expect(sandboxName('sandbox', 'sb1')).toBe('sb1');
    expect(sandboxName('sandbox', 'a234567890123456')).toBe('a234567890123456');
  });

  it('rejects longer or odd names', () => {
    const rejected = ['a2345678901234567', '1sb', 'sb_1', 'SB', ...HOSTILE];
    expect(accepted(rejected, (value) => sandboxName('sandbox', value), InvalidInputError)).toEqual([]);
  });
});

describe('Function: clusterName', () => {
  it('accepts letters, digits, dots, underscores and hyphens', () => {
    expect(clusterName('cluster', 'Prod_East-1.ocp')).toBe('Prod_East-1.ocp');
    expect(clusterName('cluster', 'a'.repeat(64))).toHaveLength(64);
  });

  it('rejects a leading punctuation character, long and hostile names', () => {
    const rejected = ['-prod', '.prod', '_prod', 'a'.repeat(65), 'prod/east', ...HOSTILE];
    expect(accepted(rejected, (value) => clusterName('cluster', value), InvalidInputError)).toEqual([]);
  });
});

describe('Function: runId', () => {
  it('accepts 6 to 80 characters of a-z 0-9 -', () => {
    expect(runId('runId', 'run-20240101-abc')).toBe('run-20240101-abc');
    expect(runId('runId', 'abcdef')).toBe('abcdef');
    expect(runId('runId', 'a'.repeat(80))).toHaveLength(80);
  });

  it('rejects short, long, uppercase and hostile ids', () => {
    const rejected = ['abcde', 'a'.repeat(81), '-abcdef', 'Run-123456', 'run_123456', 'run.123456', ...HOSTILE];
    expect(accepted(rejected, (value) => runId('runId', value), InvalidInputError)).toEqual([]);
  });
});

describe('Function: absolutePath', () => {
  it('accepts plain absolute paths, with or without a trailing slash', () => {
    expect(absolutePath('path', '/etc/etcd/generated_certs/etcd-master-3.example.com')).toBe('/etc/etcd/generated_certs/etcd-master-3.example.com');
    expect(absolutePath('path', '/var/lib/etcd/')).toBe('/var/lib/etcd/');
    expect(absolutePath('path', '/')).toBe('/');
  });

  it('rejects relative paths, .. segments, // and other characters', () => {
    expect(rejection(() => absolutePath('path', '/etc/../root')).message).toBe('invalid path: "/etc/../root" contains a ".." segment');
    expect(rejection(() => absolutePath('path', '/etc//etcd')).message).toBe('invalid path: "/etc//etcd" contains "//"');
    const rejected = ['etc/etcd', '/etc/..', '/etc/etcd ', '/etc/$(reboot)', '/etc/*', '~/x', ...HOSTILE];
    expect(accepted(rejected, (value) => absolutePath('path', value), InvalidInputError)).toEqual([]);
  });

  it('keeps .. inside a name, which is not a segment', () => {
    expect(absolutePath('path', '/tmp/a..b')).toBe('/tmp/a..b');
  });
});

describe('Function: etcdUrl', () => {
  it('accepts https URLs of a hostname or an address and a port', () => {
    expect(etcdUrl('url', 'https://198.51.100.10:2379')).toBe('https://198.51.100.10:2379');
    expect(etcdUrl('url', 'https://master-0.example.com:2380')).toBe('https://master-0.example.com:2380');
  });

  it('drops a single trailing slash', () => {
    expect(etcdUrl('url', 'https://198.51.100.10:2379/')).toBe('https://198.51.100.10:2379');
  });

  it('rejects other schemes, missing ports, paths, queries, user info and bad hosts', () => {
    expect(
      accepted(
        [
          'http://198.51.100.10:2379',
          'HTTPS://198.51.100.10:2379',
          'https://198.51.100.10',
          'https://198.51.100.10:2379/v2',
          'https://198.51.100.10:2379?x=1',
          'https://198.51.100.10:2379#x',
          'https://user@198.51.100.10:2379',
          'https://user:pw@198.51.100.10:2379',
          'https://198.51.100.10:0',
          'https://198.51.100.10:65536',
          'https://198.51.100.10:02379',
          'https://256.1.1.1:2379',
          'https://[::1]:2379',
          'https://-x:2379',
          'https://Master-0:2379',
          'https://a b:2379',
          'https://198.51.100.10:2379,https://198.51.100.11:2379',
          ' https://198.51.100.10:2379',
          ...HOSTILE,
        ],
        (value) => etcdUrl('url', value),
        InvalidInputError,
      ),
    ).toEqual([]);
    expect(rejection(() => etcdUrl('url', 'https://198.51.100.10:65536')).message).toBe(
      'invalid url: "https://198.51.100.10:65536" has a port outside 1-65535 (or with leading zeros)',
    );
  });

  it('returns the parts through parseEtcdUrl', () => {
    expect(parseEtcdUrl('url', 'https://master-0.example.com:2379/')).toEqual({
      host: 'master-0.example.com',
      port: 2379,
      url: 'https://master-0.example.com:2379',
    });
  });
});

describe('Function: artifactKey', () => {
  it('accepts relative keys of plain characters', () => {
    expect(artifactKey('key', 'runs/run-123456/master-3.example.com.tgz')).toBe('runs/run-123456/master-3.example.com.tgz');
  });

  it('rejects absolute keys, .., //, a leading hyphen and other characters', () => {
    expect(rejection(() => artifactKey('key', '/runs/x')).message).toBe('invalid key: "/runs/x" must not start with "/"');
    expect(rejection(() => artifactKey('key', 'runs/../x')).message).toBe('invalid key: "runs/../x" contains ".."');
    const rejected = ['runs//x', '-x', 'runs/x y', 'runs/x?y', 'a'.repeat(1025), ...HOSTILE];
    expect(accepted(rejected, (value) => artifactKey('key', value), InvalidInputError)).toEqual([]);
  });
});

describe('Function: positiveInt', () => {
  it('parses decimal strings and safe integers within the bounds', () => {
    expect(positiveInt('timeout', '300')).toBe(300);
    expect(positiveInt('count', '0', { min: 0 })).toBe(0);
    expect(positiveInt('count', 5, { max: 5 })).toBe(5);
  });

  it('rejects numbers with other characters, signs, exponents, blanks and leading zeros', () => {
    const rejected = ['3abc', '', ' 3', '3 ', '1e3', '-1', '+1', '1.5', '0x10', '007', '３', 'Infinity', 'NaN'];
    expect(accepted(rejected, (value) => positiveInt('timeout', value), InvalidInputError)).toEqual([]);
    expect(rejection(() => positiveInt('timeout', '3abc')).message).toBe('invalid timeout: "3abc" is not a whole number (decimal digits only)');
  });

  it('rejects values out of range, fractional and unsafe numbers', () => {
    expect(rejection(() => positiveInt('timeout', '0')).message).toBe('invalid timeout: 0 is outside 1-9007199254740991');
    expect(rejection(() => positiveInt('members', '7', { min: 3, max: 5 })).message).toBe('invalid members: 7 is outside 3-5');
    expect(() => positiveInt('timeout', 1.5)).toThrow(InvalidInputError);
    expect(() => positiveInt('timeout', Number.NaN)).toThrow(InvalidInputError);
    expect(() => positiveInt('timeout', '9999999999999999')).toThrow(InvalidInputError);
    expect(() => positiveInt('timeout', '99999999999999999999')).toThrow(InvalidInputError);
  });
});

describe('Function: assertNoControlChars', () => {
  it('passes printable text, including non-ASCII letters', () => {
    expect(() => assertNoControlChars('text', 'hello wörld $(x)')).not.toThrow();
  });

  it('rejects NUL, newline, carriage return, escape, DEL, C1 controls and line separators', () => {
    const rejected = ['a\u0000', 'a\n', 'a\r', '\u001b[31m', 'a\u007f', 'a\u0085', 'a\u2028', 'a\u2029'];
    expect(accepted(rejected, (value) => assertNoControlChars('text', value), InvalidInputError)).toEqual([]);
  });
});

describe('Function: shellQuote', () => {
  it('wraps values in single quotes and escapes embedded single quotes', () => {
    expect(shellQuote('abc')).toBe("'abc'");
    expect(shellQuote('')).toBe("''");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote('$(reboot)')).toBe("'$(reboot)'");
  });

  it('refuses NUL', () => {
    expect(rejection(() => shellQuote('a\u0000b')).message).toBe('invalid shell argument: contains a NUL character');
  });

  it('round-trips every hostile value through a real shell unchanged', () => {
    const values = HOSTILE.filter((v) => !v.includes('\u0000'));
    values.push("''''", "'\\''", '\\', '"$HOME"', '*', '!', '#x', '~', '{a,b}', '\u00e9\u4e2d');
    const script = `${shellSetArgs(values)}\nfor a in "$@"; do printf '%s\\0' "$a"; done`;
    const out = execFileSync('sh', ['-c', script], { encoding: 'utf8' });
    expect(out.split('\u0000').slice(0, -1)).toEqual(values);
  });
});

describe('Function: shellSetArgs', () => {
  it('builds a set -- line of quoted words', () => {
    expect(shellSetArgs(['master-0.example.com', "a'b", '--foo'])).toBe("set -- 'master-0.example.com' 'a'\\''b' '--foo'");
    expect(shellSetArgs([])).toBe('set --');
  });
});
