import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/dynamodb-global-setup.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    env: {
      // Handler logs are asserted where they matter; elsewhere they would bury test output.
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    // DynamoDB Local and child processes make some tests slower than unit tests.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
