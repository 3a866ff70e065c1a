// Lambda, for the functions of the synthesized template: each function runs its bundled code from
// cdk.out in an execution environment of its own (a worker thread, lambdaWorker.mjs) whose environment
// is the template's variables for that function plus what the Lambda runtime adds: region, function
// name, memory, the task root (the asset directory, which Lambda unpacks into /var/task: template
// values under /var/task point into it), and the role session's credentials. Each function gets its
// own credentials, so every request its SDK clients sign names the function and, through it, the role
// whose policy the IAM check applies. The AWS endpoint (AWS_ENDPOINT_URL) is the rehearsal's.
//
// One environment per function, kept warm; invocations of one function queue behind each other as
// concurrent invocations would each get a container, which this rehearsal's single run never needs.

import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { LambdaFunction } from './template.ts';

const WORKER = fileURLToPath(new URL('./lambdaWorker.mjs', import.meta.url));

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}

export interface InvokeResult {
  /** The function's result as JSON text (Lambda's Payload), or the error document when functionError is set. */
  payload: string;
  functionError?: 'Unhandled';
  errorType?: string;
  errorMessage?: string;
  durationMs: number;
}

interface Pending {
  resolve: (r: { ok: boolean; payload?: string; errorType?: string; errorMessage?: string; trace?: string[] }) => void;
}

class Environment {
  readonly worker: Worker;
  readonly pending = new Map<string, Pending>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(fn: LambdaFunction, env: Record<string, string>, onLine: (line: string) => void) {
    this.worker = new Worker(WORKER, { workerData: { assetDir: fn.assetDir, handler: fn.handler }, env, stdout: true, stderr: true, execArgv: [] });
    for (const stream of [this.worker.stdout, this.worker.stderr]) {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) if (line.trim() !== '') onLine(line);
      });
    }
    this.worker.on('message', (m: { id: string; ok: boolean }) => {
      this.pending.get(m.id)?.resolve(m);
      this.pending.delete(m.id);
    });
    this.worker.on('error', (error) => {
      for (const p of this.pending.values()) p.resolve({ ok: false, errorType: 'Runtime.ExitError', errorMessage: String(error) });
      this.pending.clear();
    });
    this.worker.unref();
  }

  invoke(event: unknown, context: Record<string, unknown>): Promise<{ ok: boolean; payload?: string; errorType?: string; errorMessage?: string; trace?: string[] }> {
    const run = this.#queue.then(
      () =>
        new Promise<{ ok: boolean; payload?: string; errorType?: string; errorMessage?: string; trace?: string[] }>((resolve) => {
          const id = randomUUID();
          this.pending.set(id, { resolve });
          this.worker.postMessage({ id, event, context });
        }),
    );
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

export class LambdaService {
  readonly functions: LambdaFunction[];
  /** Each function's log lines (stdout and stderr of its environment), in order. */
  readonly logs = new Map<string, string[]>();
  readonly invocations: Array<{ functionName: string; requestId: string; startedAt: number; durationMs: number; errorType?: string }> = [];
  readonly #credentials = new Map<string, Credentials>();
  readonly #environments = new Map<string, Environment>();

  constructor(
    functions: LambdaFunction[],
    readonly runtime: { region: string; endpointUrl: string; extraEnv?: Record<string, string> },
  ) {
    this.functions = functions;
    for (const fn of functions) {
      this.#credentials.set(fn.name, {
        accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
        secretAccessKey: randomBytes(20).toString('base64'),
        sessionToken: randomBytes(48).toString('base64'),
      });
    }
  }

  byArn(arn: string): LambdaFunction | undefined {
    return this.functions.find((f) => f.arn === arn || f.name === arn);
  }

  credentialsOf(functionName: string): Credentials {
    const c = this.#credentials.get(functionName);
    if (!c) throw new Error(`no function ${functionName}`);
    return c;
  }

  /** The function whose credentials carry this access key id. */
  byAccessKey(accessKeyId: string): LambdaFunction | undefined {
    for (const [name, c] of this.#credentials) if (c.accessKeyId === accessKeyId) return this.functions.find((f) => f.name === name);
    return undefined;
  }

  /** The environment Lambda gives the function: the template's variables, and the runtime's own. */
  environmentOf(fn: LambdaFunction): Record<string, string> {
    const c = this.credentialsOf(fn.name);
    const fromTemplate = Object.fromEntries(Object.entries(fn.environment).map(([k, v]) => [k, v.startsWith('/var/task') ? fn.assetDir + v.slice('/var/task'.length) : v]));
    return {
      PATH: '/usr/local/bin:/usr/bin/:/bin',
      LANG: 'en_US.UTF-8',
      TZ: ':UTC',
      ...fromTemplate,
      AWS_REGION: this.runtime.region,
      AWS_DEFAULT_REGION: this.runtime.region,
      AWS_LAMBDA_FUNCTION_NAME: fn.name,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memorySize),
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.name}`,
      AWS_LAMBDA_LOG_STREAM_NAME: `rehearsal/[$LATEST]${randomBytes(16).toString('hex')}`,
      LAMBDA_TASK_ROOT: fn.assetDir,
      AWS_ACCESS_KEY_ID: c.accessKeyId,
      AWS_SECRET_ACCESS_KEY: c.secretAccessKey,
      AWS_SESSION_TOKEN: c.sessionToken,
      AWS_ENDPOINT_URL: this.runtime.endpointUrl,
      ...this.runtime.extraEnv,
    };
  }

  /** Invokes a function synchronously (RequestResponse), as Step Functions' lambda:invoke and EventBridge do. */
  async invoke(arn: string, event: unknown): Promise<InvokeResult> {
    const fn = this.byArn(arn);
    if (!fn) throw Object.assign(new Error(`Function not found: ${arn}`), { name: 'ResourceNotFoundException' });
    let environment = this.#environments.get(fn.name);
    if (!environment) {
      const lines: string[] = [];
      this.logs.set(fn.name, lines);
      environment = new Environment(fn, this.environmentOf(fn), (line) => lines.push(line));
      this.#environments.set(fn.name, environment);
    }
    const requestId = randomUUID();
    const startedAt = Date.now();
    const traceId = `Root=1-${Math.floor(startedAt / 1000).toString(16)}-${randomBytes(12).toString('hex')};Parent=${randomBytes(8).toString('hex')};Sampled=0`;
    const timeoutMs = fn.timeoutSeconds * 1000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<{ ok: false; errorType: string; errorMessage: string }>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, errorType: 'Sandbox.Timedout', errorMessage: `Task timed out after ${fn.timeoutSeconds.toFixed(2)} seconds` }), timeoutMs);
    });
    const answer = await Promise.race([environment.invoke(event, { requestId, functionArn: fn.arn, timeoutMs, traceId }), timedOut]);
    clearTimeout(timer);
    if (!answer.ok && answer.errorType === 'Sandbox.Timedout') {
      // Lambda ends an environment whose invocation timed out; the next invocation starts a new one.
      this.#environments.delete(fn.name);
      await environment.worker.terminate();
    }
    const durationMs = Date.now() - startedAt;
    if (answer.ok) {
      this.invocations.push({ functionName: fn.name, requestId, startedAt, durationMs });
      return { payload: answer.payload ?? 'null', durationMs };
    }
    this.invocations.push({ functionName: fn.name, requestId, startedAt, durationMs, errorType: answer.errorType ?? 'Error' });
    const document = { errorType: answer.errorType, errorMessage: answer.errorMessage, trace: 'trace' in answer ? (answer.trace ?? []) : [] };
    return { payload: JSON.stringify(document), functionError: 'Unhandled', errorType: answer.errorType ?? 'Error', errorMessage: answer.errorMessage ?? '', durationMs };
  }

  async close(): Promise<void> {
    await Promise.all([...this.#environments.values()].map((e) => e.worker.terminate()));
    this.#environments.clear();
  }
}
