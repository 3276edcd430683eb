import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/dynamodb-global-setup.ts'],
    // DynamoDB Local and child processes make some tests slower than unit tests.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
