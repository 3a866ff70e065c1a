// /etc/sysconfig/flanneld: FLANNEL_ETCD_ENDPOINTS, the same shell KEY="value" format as etcd.conf.

import { ConfigEditError, InvalidInputError } from '../errors.ts';
import { etcdUrl } from '../validate.ts';
import { readEtcdConf, setEtcdConfKeys } from './etcdConf.ts';

const KEY = 'FLANNEL_ETCD_ENDPOINTS';

/** The etcd endpoints flanneld uses, in file order; ConfigEditError if FLANNEL_ETCD_ENDPOINTS is not set. */
export function getFlannelEndpoints(text: string): string[] {
  const value = readEtcdConf(text).get(KEY);
  if (value === undefined) throw new ConfigEditError(`${KEY} is not set in /etc/sysconfig/flanneld`);
  return value
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');
}

/** Sets FLANNEL_ETCD_ENDPOINTS in place (quotes kept, every other byte unchanged); ConfigEditError if it is absent. */
export function setFlannelEndpoints(text: string, urls: string[]): string {
  if (urls.length === 0) throw new InvalidInputError('urls', 'flanneld needs at least one etcd endpoint');
  const value = urls.map((url, i) => etcdUrl(`urls[${i}]`, url)).join(',');
  if (!readEtcdConf(text).has(KEY)) throw new ConfigEditError(`${KEY} is not set in /etc/sysconfig/flanneld`);
  return setEtcdConfKeys(text, { [KEY]: value });
}
