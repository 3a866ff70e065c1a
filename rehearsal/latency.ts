// What AWS adds to a run, as real delays in the emulated services (docs/aws.md, "Time on AWS"). Each
// service waits what its AWS counterpart takes before it answers, so the run's own polling, retries
// and deadlines meet the latency they meet on AWS: a GetCommandInvocation sent while the command is
// still being reported answers InProgress, and the function polls again. Accounted (virtual) time
// would leave the functions' sleeps and polls as fast as this machine makes them, and so undercount
// the calls they make; the price of real delays is that a rehearsal takes as long as the run would.
//
// - SSM Run Command: `ssmMs` per command (default 1.0 s), half before the script starts on the host
//   (SendCommand to the agent: the command reaches the agent through the Message Gateway Service, or
//   at its next ec2messages poll), half after it exits (the agent's reply, then the service recording
//   the invocation's terminal status). `agentPollMs` > 0 adds the agent's polling: a command then waits
//   for the agent's next poll (every agentPollMs since the rehearsal started) before its delivery.
// - EventBridge: `eventBridgeMs` from an event's arrival to each target's first delivery attempt.
// - Lambda: `lambdaWarmMs` for every invocation (the synchronous invoke of a Step Functions task or an
//   EventBridge target), plus `lambdaColdMs` for a function's first (a new execution environment's Init
//   phase; the rehearsal starts every environment before the event, so this machine's process start is
//   not counted).
// - `apiMs`: every other AWS API call's round trip (DynamoDB, S3, EC2, SSM's reads, Step Functions, ...).
// Where each default comes from: docs/aws.md, "Time on AWS (the rehearsal)".

export interface LatencyModel {
  ssmMs: number;
  agentPollMs: number;
  eventBridgeMs: number;
  lambdaColdMs: number;
  lambdaWarmMs: number;
  apiMs: number;
}

export const AWS_LATENCY: LatencyModel = { ssmMs: 1000, agentPollMs: 0, eventBridgeMs: 150, lambdaColdMs: 200, lambdaWarmMs: 100, apiMs: 20 };

/** No added latency: the emulated services answer as fast as this machine does. */
export const NO_LATENCY: LatencyModel = { ssmMs: 0, agentPollMs: 0, eventBridgeMs: 0, lambdaColdMs: 0, lambdaWarmMs: 0, apiMs: 0 };

export const delay = (ms: number): Promise<void> => (ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve());

/** One line naming the model's figures, for the report. */
export function describeLatency(m: LatencyModel): string {
  return (
    `latency model: SSM ${(m.ssmMs / 1000).toFixed(1)} s per command (${m.ssmMs / 2} ms delivery, ${m.ssmMs / 2} ms completion` +
    `${m.agentPollMs > 0 ? `, agent polls every ${m.agentPollMs} ms` : ', pushed to the agent'}), EventBridge ${m.eventBridgeMs} ms, ` +
    `Lambda ${m.lambdaWarmMs} ms per invocation + ${m.lambdaColdMs} ms cold start, other API calls ${m.apiMs} ms`
  );
}
