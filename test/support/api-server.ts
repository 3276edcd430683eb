import { startEmbedded } from '../../shared/adapters/local/embedded.js';
import { createTestTables, type TestTables } from './dynamodb.js';

export const TEST_ADMIN_TOKEN = 'admin-token-for-tests-0123456789';

/**
 * The API as `npm start` serves it, on a free port, over fresh tables in the run's DynamoDB
 * Local; tenants are recorded but nothing runs them (tests of the running side start more).
 */
export async function startTestApi(env: Record<string, string> = {}) {
  const tables = await createTestTables();
  const embedded = await startEmbedded(
    {
      DORMOUSE_API_PORT: '0',
      DORMOUSE_GATEWAY_PORT: '8080',
      DORMOUSE_DYNAMODB_ENDPOINT: tables.endpoint,
      DORMOUSE_TABLE_NAME: tables.tenantTable,
      DORMOUSE_IDEMPOTENCY_TABLE_NAME: tables.idempotencyTable,
      DORMOUSE_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      ...env,
    },
    { apiOnly: true },
  );
  return { embedded, tables };
}

/**
 * The whole of embedded mode, tenant processes included, over fresh tables: sweeps run only when
 * the test runs one, at the moments it chooses, and the built-in trial plan sleeps after a second.
 */
export async function startTestEmbedded(adminToken = TEST_ADMIN_TOKEN) {
  const tables = await createTestTables();
  const embedded = await startEmbedded(
    {
      ...embeddedTestEnv(tables, adminToken),
      DORMOUSE_SWEEP_SECONDS: '3600',
      DORMOUSE_IDLE_SECONDS: '1',
      DORMOUSE_MIN_RUN_SECONDS: '1',
    },
    { onError: () => {} },
  );
  return { embedded, tables };
}

/** What every embedded test starts with: free ports, the given tables, a known admin token. */
export function embeddedTestEnv(tables: TestTables, adminToken = TEST_ADMIN_TOKEN): Record<string, string> {
  return {
    DORMOUSE_API_PORT: '0',
    DORMOUSE_GATEWAY_PORT: '0',
    DORMOUSE_DYNAMODB_ENDPOINT: tables.endpoint,
    DORMOUSE_TABLE_NAME: tables.tenantTable,
    DORMOUSE_IDEMPOTENCY_TABLE_NAME: tables.idempotencyTable,
    DORMOUSE_ADMIN_TOKEN: adminToken,
  };
}

/** Polls `probe` every 200 ms until `accept` holds; fails naming `what` and the last value. */
export async function eventually<T>(what: string, probe: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
