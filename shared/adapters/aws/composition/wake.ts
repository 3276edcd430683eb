import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { WakeConfig } from '../../../config.js';
import { MissCache } from '../../../app/miss-cache.js';
import type { WakeDeps } from '../../../app/wake.js';
import { systemClock, type Clock } from '../../../ports/clock.js';
import type { DynamoDbTenantStore } from '../dynamodb-tenant-store.js';
import { tenantStore, wakeEstimate, type AwsClients } from './clients.js';

export interface WakeDepsOverrides extends Pick<AwsClients, 'dynamoClient'> {
  clock?: Clock;
  /** Embedded mode shares one store between the API, the wake handler and the control plane. */
  store?: DynamoDbTenantStore;
}

/** The wake function; embedded mode runs the same wiring. The cache of unknown slugs lives as long as the process. */
export function wakeDeps(config: WakeConfig, overrides: WakeDepsOverrides = {}): WakeDeps {
  const dynamoClient = overrides.dynamoClient ?? new DynamoDBClient({});
  return {
    store: overrides.store ?? tenantStore(config.tenantTable, dynamoClient),
    clock: overrides.clock ?? systemClock,
    settings: {
      rootDomain: config.baseUrl.hostname,
      maxActiveTenants: config.maxActiveTenants,
      shards: config.shards,
      minRunMs: config.minRunMs,
      plans: config.plans,
      anonymousWakesPerHour: config.anonymousWakesPerHour,
      holdMs: config.holdMs,
    },
    unknownTenants: new MissCache({ ttlMs: 30_000, maxEntries: 10_000 }),
    wakeTimes: wakeEstimate(config.tenantTable, dynamoClient),
  };
}
