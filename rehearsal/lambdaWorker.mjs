// One Lambda function's execution environment: a Node.js process of its own (the binary the rehearsal
// names, as Lambda's nodejs22.x runtime is a Node 22 process) whose environment is the function's (the
// template's variables plus what the Lambda runtime sets, NODE_OPTIONS included), which loads the
// function's bundled handler from its asset directory as the Node.js runtime does (`index.handler`:
// require index.js, call its `handler`), and runs one invocation at a time, as one warm container does.
// It first tells its parent which Node.js runs it. Errors go back as Lambda reports them: errorType
// (the error's name), errorMessage and trace.
import { createRequire } from 'node:module';
import { join } from 'node:path';

const [assetDir, handlerName] = process.argv.slice(2);
const dot = handlerName.lastIndexOf('.');
const file = join(assetDir, handlerName.slice(0, dot));
const exported = handlerName.slice(dot + 1);
const require = createRequire(join(assetDir, 'index.js'));
let handler;

process.send({ runtime: { version: process.version, execPath: process.execPath } });

process.on('message', async ({ id, event, context, warm }) => {
  // Started ahead of the run (LambdaService.prewarm): load the handler's code, answer, wait for work.
  if (warm) {
    try {
      handler ??= require(file)[exported];
      process.send({ id, ok: true, payload: 'null' });
    } catch (error) {
      process.send({ id, ok: false, errorType: 'Runtime.ImportModuleError', errorMessage: String(error) });
    }
    return;
  }
  process.env._X_AMZN_TRACE_ID = context.traceId;
  const deadline = Date.now() + context.timeoutMs;
  const lambdaContext = {
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: '$LATEST',
    invokedFunctionArn: context.functionArn,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: context.requestId,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  try {
    handler ??= require(file)[exported];
    if (typeof handler !== 'function') throw Object.assign(new Error(`${handlerName} is undefined or not exported`), { name: 'Runtime.HandlerNotFound' });
    const result = await handler(event, lambdaContext);
    process.send({ id, ok: true, payload: JSON.stringify(result ?? null) });
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    process.send({ id, ok: false, errorType: e.name || 'Error', errorMessage: e.message, trace: String(e.stack ?? '').split('\n') });
  }
});

// The parent going away ends the environment.
process.on('disconnect', () => process.exit(0));
