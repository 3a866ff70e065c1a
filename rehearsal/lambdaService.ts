// Lambda, for the functions of the synthesized template: each function runs its bundled code from
// cdk.out in an execution environment of its own (a Node.js process, lambdaWorker.mjs, of the binary
// `runtime.node`: the deployed functions run on nodejs22.x) whose environment is the template's
// variables for that function plus what the Lambda runtime adds: region, function name, memory, the
// task root (the asset directory, which Lambda unpacks into /var/task: template values under /var/task
// point into it), and the role session's credentials. Each function gets its own credentials, so every
// request its SDK clients sign names the function and, through it, the role whose policy the IAM check
// applies. The AWS endpoint (AWS_ENDPOINT_URL) is the rehearsal's. Each environment reports the Node.js
// version that runs it (runtimes()).
//
// One environment per function, kept warm; invocations of one function queue behind each other as
// concurrent invocations would each get a container, which this rehearsal's single run never needs.

import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { delay, NO_LATENCY, type LatencyModel } from './latency.ts';
import type { LambdaFunction } from './template.ts';

const WORKER = fileURLToPath(new URL('./lambdaWorker.mjs', import.meta.url));

/** The Node.js binary that runs the functions: ETCD_REPLACE_LAMBDA_NODE when set, else the one running the rehearsal. */
export const lambdaNode = (): string => process.env['ETCD_REPLACE_LAMBDA_NODE'] || process.execPath;

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
  resolve: (r: Answer) => void;
}

type Answer = { ok: boolean; payload?: string; errorType?: string; errorMessage?: string; trace?: string[] };

export interface Runtime {
  /** `process.version` in the function's environment. */
  version: string;
  execPath: string;
}

class Environment {
  readonly process: ChildProcess;
  readonly pending = new Map<string, Pending>();
  readonly runtime: Promise<Runtime>;
  readonly exited: Promise<void>;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(fn: LambdaFunction, env: Record<string, string>, node: string, onLine: (line: string) => void) {
    this.process = fork(WORKER, [fn.assetDir, fn.handler], {
      execPath: node,
      execArgv: [],
      env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    for (const stream of [this.process.stdout!, this.process.stderr!]) {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) if (line.trim() !== '') onLine(line);
      });
    }
    let started: (r: Runtime) => void = () => {};
    let failedToStart: (e: Error) => void = () => {};
    this.runtime = new Promise<Runtime>((resolve, reject) => {
      started = resolve;
      failedToStart = reject;
    });
    this.runtime.catch(() => undefined);
    this.process.on('message', (m: Answer & { id?: string; runtime?: Runtime }) => {
      if (m.runtime) return started(m.runtime);
      if (m.id === undefined) return;
      this.pending.get(m.id)?.resolve(m);
      this.pending.delete(m.id);
    });
    const lost = (why: string) => {
      failedToStart(new Error(`${fn.name}: ${why}`));
      for (const p of this.pending.values())
        p.resolve({ ok: false, errorType: 'Runtime.ExitError', errorMessage: `RequestId: ${fn.name} Error: Runtime exited: ${why}` });
      this.pending.clear();
    };
    this.exited = new Promise((resolve) => {
      this.process.on('exit', (code, signal) => {
        lost(signal ? `signal: ${signal}` : `exit status ${code ?? '?'}`);
        resolve();
      });
    });
    this.process.on('error', (error) => lost(String(error)));
  }

  /** Set by prewarm: the environment runs, but its first invocation still costs a cold start. */
  cold = false;

  invoke(event: unknown, context: Record<string, unknown>, warm = false): Promise<Answer> {
    const run = this.#queue.then(
      () =>
        new Promise<Answer>((resolve) => {
          const id = randomUUID();
          this.pending.set(id, { resolve });
          if (this.process.exitCode !== null || this.process.signalCode !== null || !this.process.connected) {
            this.pending.delete(id);
            resolve({ ok: false, errorType: 'Runtime.ExitError', errorMessage: 'Runtime exited' });
            return;
          }
          this.process.send({ id, event, context, ...(warm ? { warm } : {}) });
        }),
    );
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Ends the environment (SIGKILL, as Lambda ends a timed-out one) and waits until its process has exited. */
  async terminate(): Promise<void> {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill('SIGKILL');
    await this.exited;
  }
}

export class LambdaService {
  readonly functions: LambdaFunction[];
  /** Each function's log lines (stdout and stderr of its environment), in order. */
  readonly logs = new Map<string, string[]>();
  /** Every invocation, in order; `step`: the task state a step function's event names. */
  readonly invocations: Array<{ functionName: string; requestId: string; startedAt: number; durationMs: number; step?: string; errorType?: string }> = [];
  readonly #credentials = new Map<string, Credentials>();
  readonly #environments = new Map<string, Environment>();
  readonly #runtimes = new Map<string, Runtime>();

  constructor(
    functions: LambdaFunction[],
    readonly runtime: {
      region: string;
      endpointUrl: string;
      extraEnv?: Record<string, string>;
      /** The Node.js binary of the environments (default: lambdaNode()). */ node?: string;
      /** Lambda's own time (latency.ts): a cold start's Init phase, a warm invocation's overhead. */
      latency?: LatencyModel;
    },
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

  /** The Node.js binary the environments run on. */
  get node(): string {
    return this.runtime.node ?? lambdaNode();
  }

  /** The Node.js each function's environment reported, by function name (the functions invoked so far). */
  runtimes(): Map<string, Runtime> {
    const invoked = new Set(this.invocations.map((i) => i.functionName));
    return new Map([...this.#runtimes].filter(([name]) => invoked.has(name)));
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
    const fromTemplate = Object.fromEntries(
      Object.entries(fn.environment).map(([k, v]) => [k, v.startsWith('/var/task') ? fn.assetDir + v.slice('/var/task'.length) : v]),
    );
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
    const { lambdaColdMs, lambdaWarmMs } = this.runtime.latency ?? NO_LATENCY;
    // The invoke's round trip, and a cold start's Init phase; without prewarm that overlaps the local process's own start.
    const overhead = delay(lambdaWarmMs + (environment && !environment.cold ? 0 : lambdaColdMs));
    if (environment) environment.cold = false;
    environment ??= this.#environment(fn);
    await overhead;
    const requestId = randomUUID();
    const startedAt = Date.now();
    const traceId = `Root=1-${Math.floor(startedAt / 1000).toString(16)}-${randomBytes(12).toString('hex')};Parent=${randomBytes(8).toString('hex')};Sampled=0`;
    const timeoutMs = fn.timeoutSeconds * 1000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<{ ok: false; errorType: string; errorMessage: string }>((resolve) => {
      timer = setTimeout(
        () => resolve({ ok: false, errorType: 'Sandbox.Timedout', errorMessage: `Task timed out after ${fn.timeoutSeconds.toFixed(2)} seconds` }),
        timeoutMs,
      );
    });
    const answer = await Promise.race([environment.invoke(event, { requestId, functionArn: fn.arn, timeoutMs, traceId }), timedOut]);
    clearTimeout(timer);
    if (!answer.ok && answer.errorType === 'Sandbox.Timedout') {
      // Lambda ends an environment whose invocation timed out; the next invocation starts a new one.
      this.#environments.delete(fn.name);
      await environment.terminate();
    }
    const durationMs = Date.now() - startedAt;
    const step = typeof (event as { step?: unknown } | null)?.step === 'string' ? { step: (event as { step: string }).step } : {};
    if (answer.ok) {
      this.invocations.push({ functionName: fn.name, requestId, startedAt, durationMs, ...step });
      return { payload: answer.payload ?? 'null', durationMs };
    }
    this.invocations.push({ functionName: fn.name, requestId, startedAt, durationMs, ...step, errorType: answer.errorType ?? 'Error' });
    const document = { errorType: answer.errorType, errorMessage: answer.errorMessage, trace: 'trace' in answer ? (answer.trace ?? []) : [] };
    return {
      payload: JSON.stringify(document),
      functionError: 'Unhandled',
      errorType: answer.errorType ?? 'Error',
      errorMessage: answer.errorMessage ?? '',
      durationMs,
    };
  }

  #environment(fn: LambdaFunction): Environment {
    const lines: string[] = [];
    this.logs.set(fn.name, lines);
    const environment = new Environment(fn, this.environmentOf(fn), this.node, (line) => lines.push(line));
    environment.runtime.then(
      (r) => this.#runtimes.set(fn.name, r),
      () => undefined,
    );
    this.#environments.set(fn.name, environment);
    return environment;
  }

  /**
   * Starts every function's environment and loads its code before the run, `parallel` at a time, so
   * that this machine's process start is not counted in the run's time: each function's first
   * invocation then costs the model's cold start (latency.ts), as on AWS.
   */
  async prewarm(parallel = 3): Promise<void> {
    const queue = this.functions.filter((f) => !this.#environments.has(f.name));
    const worker = async () => {
      for (let fn = queue.shift(); fn; fn = queue.shift()) {
        const environment = this.#environment(fn);
        environment.cold = true;
        const answer = await environment.invoke(null, { requestId: 'prewarm', functionArn: fn.arn, timeoutMs: 60_000, traceId: '' }, true);
        if (!answer.ok) throw new Error(`${fn.name}: its code did not load: ${answer.errorMessage ?? ''}`);
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
  }

  async close(): Promise<void> {
    await Promise.all([...this.#environments.values()].map((e) => e.terminate()));
    this.#environments.clear();
  }
}
