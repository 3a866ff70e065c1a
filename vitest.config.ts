import { defineConfig } from 'vitest/config';

// Sandbox tests build real etcd hosts in network namespaces; they spend most of their time waiting on
// etcd, so their files run side by side (`--maxWorkers` in scripts/test.sh). Each file tags what it
// builds (test/support/sandboxBuildTag.ts) for the test command's report.
const sandboxTier = {
  setupFiles: ['test/support/sandboxBuildTag.ts'],
  testTimeout: 300_000,
  hookTimeout: 300_000,
};

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/aws/**/*.test.ts', 'test/cdk/**/*.test.ts'],
          testTimeout: 60_000,
          // Three workers on 2 cores: some files wait on timers and child processes while others use the CPU.
          maxWorkers: '150%',
        },
      },
      {
        // Every behaviour, on the sandbox's default etcd: OpenShift 3.11's 3.2.22 where its build is found.
        test: {
          name: 'sandbox',
          include: ['test/sandbox/**/*.test.ts'],
          exclude: ['test/sandbox/learner/**'],
          ...sandboxTier,
        },
      },
      {
        // The learner path (`member add --learner`, `member promote`), which only etcd 3.4 has: Debian's 3.4.23.
        test: {
          name: 'learner',
          include: ['test/sandbox/learner/**/*.test.ts'],
          env: { ETCD_REPLACE_ETCD_VERSION: '3.4.23' },
          ...sandboxTier,
        },
      },
    ],
  },
});
