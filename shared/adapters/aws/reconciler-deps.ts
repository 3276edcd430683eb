import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECSClient } from '@aws-sdk/client-ecs';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { RECONCILE_DEFAULTS, tenantHost, type ReconcilerConfig } from '../../config.js';
import type { ReconcileDeps } from '../../app/reconcile.js';
import { systemClock } from '../../ports/clock.js';
import { translatingAwsErrors } from './aws-errors.js';
import { documentClientFor, DynamoDbTenantStore } from './dynamodb-tenant-store.js';
import { EcsCompute } from './ecs-compute.js';
import { ElbRouting } from './elb-routing.js';

export interface ReconcilerClients {
  dynamoClient?: DynamoDBClient;
  ecsClient?: ECSClient;
  elbClient?: ElasticLoadBalancingV2Client;
}

/** Wires the reconciler to DynamoDB, ECS and ELBv2; each client defaults to the SDK's own. */
export function reconcilerDeps(config: ReconcilerConfig, clients: ReconcilerClients = {}): ReconcileDeps {
  const dynamoClient = clients.dynamoClient ?? new DynamoDBClient({});
  return {
    store: new DynamoDbTenantStore({
      tableName: config.tenantTable,
      client: documentClientFor(dynamoClient),
    }),
    compute: translatingAwsErrors(
      new EcsCompute({ ...config.ecs, installation: config.installation, client: clients.ecsClient ?? new ECSClient({}) }),
    ),
    routing: translatingAwsErrors(
      new ElbRouting({
        ...config.elb,
        installation: config.installation,
        client: clients.elbClient ?? new ElasticLoadBalancingV2Client({}),
      }),
    ),
    clock: systemClock,
    settings: {
      ...RECONCILE_DEFAULTS,
      hostFor: (tenantId) => tenantHost(config.baseUrl, tenantId),
      maxActiveTenants: config.maxActiveTenants,
      spotAttemptsBeforeFallback: config.spotAttemptsBeforeFallback,
      fallbackToOnDemand: config.fallbackToOnDemand,
      maxRestarts: config.maxRestarts,
      tombstoneSeconds: config.tombstoneSeconds,
    },
  };
}
