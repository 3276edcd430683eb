import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECSClient } from '@aws-sdk/client-ecs';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { ReconcilerConfig, SweepConfig } from '../../config.js';
import { reconcile, type ReconcileDeps } from '../../app/reconcile.js';
import type { SweepDeps } from '../../app/sweep.js';
import { translatingAwsErrors } from './aws-errors.js';
import { CloudWatchActivity } from './cloudwatch-activity.js';
import { documentClientFor, DynamoDbTenantStore } from './dynamodb-tenant-store.js';
import { EcsCompute } from './ecs-compute.js';
import { ElbRouting } from './elb-routing.js';
import { efsStorageFor, reconcilerDeps, type ReconcilerClients } from './reconciler-deps.js';

export interface SweepClients extends ReconcilerClients {
  cloudWatchClient?: CloudWatchClient;
}

/**
 * Wires the sweep to DynamoDB, CloudWatch, ECS and ELBv2. The reconciler it calls is
 * `reconcilerDeps` (same settings as the reconcile function) over the same adapter instances,
 * which the sweep also uses at their wider types: the store's listings and markers, and the
 * ECS and ELBv2 inventories (and, with a data path, the EFS storage) for drift repair.
 */
export function sweepDeps(
  config: ReconcilerConfig,
  sweepConfig: Pick<SweepConfig, 'loadBalancerFullName'>,
  clients: SweepClients = {},
  logger?: ReconcileDeps['logger'],
): SweepDeps {
  const dynamoClient = clients.dynamoClient ?? new DynamoDBClient({});
  const ecsClient = clients.ecsClient ?? new ECSClient({});
  const elbClient = clients.elbClient ?? new ElasticLoadBalancingV2Client({});
  const store = new DynamoDbTenantStore({
    tableName: config.tenantTable,
    client: documentClientFor(dynamoClient),
  });
  const compute = translatingAwsErrors(new EcsCompute({ ...config.ecs, installation: config.installation, client: ecsClient }));
  const routing = translatingAwsErrors(new ElbRouting({ ...config.elb, installation: config.installation, client: elbClient }));
  const storage = efsStorageFor(config, { ...clients, ecsClient });
  const reconcileDeps: ReconcileDeps = {
    ...reconcilerDeps(config, { dynamoClient, ecsClient, elbClient }, storage),
    store,
    compute,
    routing,
    ...(logger ? { logger } : {}),
  };
  return {
    store,
    activity: new CloudWatchActivity({
      client: clients.cloudWatchClient ?? new CloudWatchClient({}),
      loadBalancerFullName: sweepConfig.loadBalancerFullName,
    }),
    clock: reconcileDeps.clock,
    reconcile: (tenantId) => reconcile(reconcileDeps, tenantId),
    drift: { compute, routing, ...(storage ? { storage } : {}) },
  };
}
