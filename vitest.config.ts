import { defineConfig } from 'vitest/config';

// Every engine starts real worker threads, and the machine running the suite may be a loaded 2-core box:
// test files run one at a time, with generous timeouts, and tests poll for conditions instead of sleeping.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    teardownTimeout: 30_000,
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
