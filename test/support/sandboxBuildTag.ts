// Setup file of the sandbox projects: tags every sandbox and host a test file builds (in this worker
// and in the CLI processes it starts) with that file, for the test command's report of what each file
// built (sandbox/buildLog.ts).
import path from 'node:path';
import { beforeAll } from 'vitest';
import { BUILD_TAG_ENV } from '../../sandbox/buildLog.ts';
import { REPO } from './cli.ts';

// The first parameter is the (empty) fixture context, which vitest requires as a destructuring pattern.
beforeAll(({}, suite) => {
  process.env[BUILD_TAG_ENV] = path.relative(REPO, suite.file.filepath);
});
