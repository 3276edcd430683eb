import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { WakeConfig } from '../../config.js';
import { MissCache } from '../../app/miss-cache.js';
import type { WakeDeps } from '../../app/wake.js';
import { systemClock, type Clock } from '../../ports/clock.js';
import { documentClientFor, DynamoDbTenantStore } from './dynamodb-tenant-store.js';

export interface WakeDepsOverrides {
  /** Defaults to the SDK's standard configuration, which honours AWS_ENDPOINT_URL(_DYNAMODB). */
  dynamoClient?: DynamoDBClient;
  clock?: Clock;
}

/**
 * Wires the wake use case to DynamoDB. Built once per process (at cold start on Lambda), so the
 * client's connections and the cache of unknown slugs serve every request that follows.
 */
export function wakeDeps(config: WakeConfig, overrides: WakeDepsOverrides = {}): WakeDeps {
  const dynamoClient = overrides.dynamoClient ?? new DynamoDBClient({});
  return {
    store: new DynamoDbTenantStore({
      tableName: config.tenantTable,
      client: documentClientFor(dynamoClient),
    }),
    clock: overrides.clock ?? systemClock,
    settings: {
      rootDomain: config.baseUrl.hostname,
      maxActiveTenants: config.maxActiveTenants,
      minRunMs: config.minRunMs,
      anonymousWakesPerHour: config.anonymousWakesPerHour,
    },
    unknownTenants: new MissCache({ ttlMs: 30_000, maxEntries: 10_000 }),
  };
}
