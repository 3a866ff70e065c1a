// etcd release numbers ("3.2.22"), compared by major, minor and patch. The workflow and the sandbox both order by it.

/** Negative when `a` is older than `b`, 0 when the same release, positive when newer. */
export function compareEtcdVersions(a: string, b: string): number {
  const pa = a.split('.').map((n) => Number.parseInt(n, 10) || 0);
  const pb = b.split('.').map((n) => Number.parseInt(n, 10) || 0);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}
