import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECSClient } from '@aws-sdk/client-ecs';
import { EFSClient } from '@aws-sdk/client-efs';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { RECONCILE_DEFAULTS, tenantHost, type ReconcilerConfig } from '../../config.js';
import type { ReconcileDeps } from '../../app/reconcile.js';
import { systemClock } from '../../ports/clock.js';
import type { Storage, StorageInventory } from '../../ports/storage.js';
import { translatingAwsErrors } from './aws-errors.js';
import { documentClientFor, DynamoDbTenantStore } from './dynamodb-tenant-store.js';
import { EcsCompute } from './ecs-compute.js';
import { EfsStorage } from './efs-storage.js';
import { ElbRouting } from './elb-routing.js';

export interface ReconcilerClients {
  dynamoClient?: DynamoDBClient;
  ecsClient?: ECSClient;
  elbClient?: ElasticLoadBalancingV2Client;
  efsClient?: EFSClient;
  lambdaClient?: LambdaClient;
}

/** The tenants' data on EFS when the installation has a data path, else undefined (stateless). */
export function efsStorageFor(config: ReconcilerConfig, clients: ReconcilerClients = {}): (Storage & StorageInventory) | undefined {
  if (!config.storage) return undefined;
  return translatingAwsErrors(
    new EfsStorage({
      ...config.storage,
      installation: config.installation,
      baseTaskDefinition: config.ecs.taskDefinition,
      containerName: config.ecs.containerName,
      efsClient: clients.efsClient ?? new EFSClient({}),
      ecsClient: clients.ecsClient ?? new ECSClient({}),
      lambdaClient: clients.lambdaClient ?? new LambdaClient({}),
    }),
  );
}

/**
 * Wires the reconciler to DynamoDB, ECS and ELBv2, and to EFS and Lambda when the installation
 * has a data path; each client defaults to the SDK's own.
 */
export function reconcilerDeps(
  config: ReconcilerConfig,
  clients: ReconcilerClients = {},
  storage: (Storage & StorageInventory) | undefined = efsStorageFor(config, clients),
): ReconcileDeps {
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
    ...(storage ? { storage } : {}),
    clock: systemClock,
    settings: {
      ...RECONCILE_DEFAULTS,
      hostFor: (tenantId) => tenantHost(config.baseUrl, tenantId),
      maxActiveTenants: config.maxActiveTenants,
      spotAttemptsBeforeFallback: config.spotAttemptsBeforeFallback,
      fallbackToOnDemand: config.fallbackToOnDemand,
      maxRestarts: config.maxRestarts,
      tombstoneSeconds: config.tombstoneSeconds,
      persistentData: storage !== undefined,
      handover: config.handover,
    },
  };
}
