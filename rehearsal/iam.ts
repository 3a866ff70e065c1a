// Every AWS API call of the rehearsal, checked against the caller's policies from the template with
// @cloud-copilot/iam-simulate: the identity policies of the caller's role and, where the resource has
// one in the template, its resource policy (the bucket's, the topic's). Conditions are evaluated with
// the request's context keys: resource tags (ssm:resourceTag/…, aws:ResourceTag/…), dynamodb:LeadingKeys,
// cloudwatch:namespace, s3:prefix, and aws:SecureTransport = true (on AWS the SDK and the hosts' curl
// use HTTPS). A denied call is answered with AccessDenied, as AWS would, and recorded.

import { runSimulation, runUnsafeSimulation } from '@cloud-copilot/iam-simulate';
import type { PolicyDocument, Role } from './template.ts';

export type Verdict = 'Allowed' | 'ExplicitlyDenied' | 'ImplicitlyDenied' | 'Error';

export interface CheckedCall {
  /** The function (or service) that made the call. */
  caller: string;
  role: string;
  action: string;
  resource: string;
  verdict: Verdict;
  /** What made the call: an SDK request, a presigned URL, or the service itself on the caller's behalf. */
  via: 'sdk' | 'presigned-url' | 'implied' | 'service';
  context: Record<string, string | string[]>;
  detail?: string;
}

export interface CheckRequest {
  caller: string;
  role: Role;
  action: string;
  resource: string;
  context?: Record<string, string | string[]>;
  resourcePolicy?: PolicyDocument | undefined;
  via: CheckedCall['via'];
}

export class IamCheck {
  readonly calls: CheckedCall[] = [];

  constructor(private readonly account: string) {}

  async check(request: CheckRequest): Promise<CheckedCall> {
    const context: Record<string, string | string[]> = { 'aws:SecureTransport': 'true', 'aws:PrincipalAccount': this.account, ...request.context };
    const sessionArn = `arn:aws:sts::${this.account}:assumed-role/${request.role.name}/${request.caller}`;
    const simulation = {
      request: { principal: sessionArn, action: request.action, resource: { resource: request.resource, accountId: this.account }, contextVariables: context },
      identityPolicies: request.role.policies.map((p) => ({ name: p.name, policy: p.document })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(request.resourcePolicy ? { resourcePolicy: request.resourcePolicy } : {}),
    };
    let verdict: Verdict;
    let detail: string | undefined;
    const result = await runSimulation(simulation, {});
    if (result.resultType === 'error') {
      // AWS-owned SSM documents have no account in their ARN (arn:aws:ssm:REGION::document/NAME), which
      // the simulator's resource patterns do not accept: those are evaluated without its input validation.
      if (/^arn:aws:ssm:[^:]+::document\//.test(request.resource)) {
        const unsafe = runUnsafeSimulation(simulation, {}) as unknown;
        verdict = (typeof unsafe === 'string' ? unsafe : (unsafe as { result: string }).result) as Verdict;
        detail = 'AWS-owned document, evaluated without resource-pattern validation';
      } else {
        verdict = 'Error';
        detail = JSON.stringify(result.errors);
      }
    } else {
      verdict = result.overallResult as Verdict;
    }
    const call: CheckedCall = {
      caller: request.caller,
      role: request.role.name,
      action: request.action,
      resource: request.resource,
      verdict,
      via: request.via,
      context: request.context ?? {},
      ...(detail ? { detail } : {}),
    };
    this.calls.push(call);
    return call;
  }

  denied(): CheckedCall[] {
    return this.calls.filter((c) => c.verdict !== 'Allowed');
  }

  /** One line per distinct (role, action, resource shape, via), with how many calls and the verdicts. */
  table(roleLabel: (roleName: string) => string): string {
    const rows = new Map<
      string,
      { role: string; action: string; resource: string; via: string; count: number; verdicts: Set<string>; conditions: Set<string> }
    >();
    for (const c of this.calls) {
      // ARNs without partition, region and account (all the stack's own); per-run names elided.
      const resource = c.resource
        .replace(new RegExp(`^arn:aws:([a-z0-9-]+):[a-z0-9-]*:(${this.account})?:`), '$1:')
        .replace(/^arn:aws:s3:::/, 's3:')
        .replace(/(function:[A-Za-z0-9]+-[A-Za-z0-9]+-Step)[A-Za-z]+[0-9A-F]{8}-[0-9A-F]+$/, '$1*')
        .replace(/-[0-9A-F]{8}-[0-9A-F]{12}$/, '')
        .replace(/(instance\/)i-[0-9a-f]+/, '$1i-…')
        .replace(/(security-group\/)sg-[0-9a-f]+/, '$1sg-…')
        .replace(/(execution:[^:]+:).+$/, '$1…')
        .replace(/(\/etcd-replace\/runs\/)[^/]+\/([a-z-]+?)-[^/]*$/, '$1…/$2-…');
      const key = [c.role, c.action, resource, c.via].join('|');
      const row = rows.get(key) ?? {
        role: roleLabel(c.role),
        action: c.action,
        resource,
        via: c.via,
        count: 0,
        verdicts: new Set<string>(),
        conditions: new Set<string>(),
      };
      row.count++;
      row.verdicts.add(c.verdict);
      for (const [k, v] of Object.entries(c.context))
        if (!k.startsWith('aws:Secure') && !k.startsWith('aws:Principal')) row.conditions.add(`${k}=${Array.isArray(v) ? v.join(',') : v}`);
      rows.set(key, row);
    }
    const list = [...rows.values()].sort((a, b) => a.role.localeCompare(b.role));
    const width = (f: (r: (typeof list)[number]) => string, title: string) => Math.max(title.length, ...list.map((r) => f(r).length));
    const cols: Array<[string, (r: (typeof list)[number]) => string]> = [
      ['role', (r) => r.role],
      ['action', (r) => r.action],
      ['resource', (r) => r.resource],
      ['via', (r) => r.via],
      ['calls', (r) => String(r.count)],
      ['verdict', (r) => [...r.verdicts].join(',')],
    ];
    const widths = cols.map(([title, f]) => width(f, title));
    const line = (cells: string[]) =>
      cells
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd();
    return [line(cols.map(([t]) => t)), line(widths.map((w) => '-'.repeat(w))), ...list.map((r) => line(cols.map(([, f]) => f(r))))].join('\n');
  }
}
