// One of the construct's functions: a handler of functions/handlers/, bundled with a local esbuild (no
// Docker), the host scripts copied beside the bundle for SSM to send; arm64, X-Ray tracing.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Validations, type Duration } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { PROJECT_ROOT } from './shared.ts';

export interface HandlerFunctionProps {
  description: string;
  handlerFile: string;
  memorySize: number;
  timeout: Duration;
  role: iam.IRole;
  logGroup: logs.ILogGroup;
  environment: Record<string, string>;
  runtime: lambda.Runtime;
}

/** Local esbuild (no Docker), the host scripts copied beside the bundle for SSM to send. */
function bundling(): BundlingOptions {
  const scripts = join(PROJECT_ROOT, 'functions/scripts');
  return {
    forceDockerBundling: false,
    format: OutputFormat.CJS,
    target: 'node22',
    minify: true,
    // Error classes must keep their names: Lambda reports errorType = error.name (set from the class
    // name, functions/errors.ts) and the state machine's Retry and Catch match on it.
    keepNames: true,
    sourceMap: true,
    sourcesContent: false,
    // Bundle the pinned AWS SDK clients the code was tested with, not the runtime's copy.
    bundleAwsSDK: true,
    commandHooks: {
      beforeBundling: () => [],
      beforeInstall: () => [],
      // From this package's own directory, wherever the app that uses the construct lives.
      afterBundling: (_inputDir: string, outputDir: string) => [
        `mkdir -p "${outputDir}/scripts/lib"`,
        `cp "${scripts}/"*.sh "${outputDir}/scripts/"`,
        `cp "${scripts}/lib/"*.sh "${outputDir}/scripts/lib/"`,
      ],
    },
  };
}

/** Where NodejsFunction finds the lock file: this package's, or (installed without one) the app's. */
function projectFiles(): { projectRoot?: string; depsLockFilePath?: string } {
  const lock = join(PROJECT_ROOT, 'package-lock.json');
  return existsSync(lock) ? { projectRoot: PROJECT_ROOT, depsLockFilePath: lock } : {};
}

/** A function of the construct, created on `scope` (the EtcdReplacement itself: its logical ID does not change). */
export function handlerFunction(scope: Construct, id: string, props: HandlerFunctionProps): NodejsFunction {
  const fn = new NodejsFunction(scope, id, {
    description: props.description,
    entry: join(PROJECT_ROOT, 'functions/handlers', props.handlerFile),
    handler: 'handler',
    ...projectFiles(),
    runtime: props.runtime,
    architecture: lambda.Architecture.ARM_64,
    memorySize: props.memorySize,
    timeout: props.timeout,
    role: props.role,
    logGroup: props.logGroup,
    tracing: lambda.Tracing.ACTIVE,
    environment: props.environment,
    bundling: bundling(),
  });
  Validations.of(fn).acknowledge({
    id: 'AwsSolutions-L1',
    reason: "Pinned to nodejs22.x: the runtime the bundle is built for (esbuild target node22) and tested on; move with the project's Node version.",
  });
  return fn;
}
