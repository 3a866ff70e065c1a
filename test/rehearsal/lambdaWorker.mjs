// One Lambda function's execution environment: a worker thread whose process.env is the function's
// environment (the template's variables plus what the Lambda runtime sets), which loads the function's
// bundled handler from its asset directory as the Node.js runtime does (`index.handler`: require
// index.js, call its `handler`), and runs one invocation at a time, as one warm container does.
// Errors go back as Lambda reports them: errorType (the error's name), errorMessage and trace.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';

const { assetDir, handler: handlerName } = workerData;
const dot = handlerName.lastIndexOf('.');
const file = join(assetDir, handlerName.slice(0, dot));
const exported = handlerName.slice(dot + 1);
const require = createRequire(join(assetDir, 'index.js'));
let handler;

parentPort.on('message', async ({ id, event, context }) => {
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
    parentPort.postMessage({ id, ok: true, payload: JSON.stringify(result ?? null) });
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    parentPort.postMessage({ id, ok: false, errorType: e.name || 'Error', errorMessage: e.message, trace: String(e.stack ?? '').split('\n') });
  }
});
