import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECSClient } from '@aws-sdk/client-ecs';
import { EFSClient } from '@aws-sdk/client-efs';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { Route53Client } from '@aws-sdk/client-route-53';
import type { ReconcilerConfig } from '../../../config.js';
import { reconcileSettings } from '../../../config/reconcile-settings.js';
import type { ReconcileDeps } from '../../../app/reconcile.js';
import { systemClock } from '../../../ports/clock.js';
import type { Dns } from '../../../ports/dns.js';
import type { Storage, StorageInventory } from '../../../ports/storage.js';
import { translatingAwsErrors } from '../aws-errors.js';
import { EcsCompute } from '../ecs-compute.js';
import { EfsStorage } from '../efs-storage.js';
import { ELB_DESCRIBE_PACE, ElbRouting } from '../elb-routing.js';
import { Route53Dns } from '../route53-dns.js';
import { shardLoadBalancers } from '../shard-load-balancers.js';
import { tenantStore, wakeEstimate, type AwsClients } from './clients.js';

/** The reconciler's adapters, at the wider types the sweep also uses them at. */
export function reconcilerAdapters(config: ReconcilerConfig, clients: AwsClients) {
  const ecsClient = clients.ecsClient ?? new ECSClient({});
  const storage = efsStorageFor(config, { ...clients, ecsClient });
  const dns = route53DnsFor(config, clients);
  const dynamoClient = clients.dynamoClient ?? new DynamoDBClient({});
  return {
    ...(storage ? { storage } : {}),
    ...(dns ? { dns } : {}),
    store: tenantStore(config.tenantTable, dynamoClient),
    wakeTimes: wakeEstimate(config.tenantTable, dynamoClient),
    compute: translatingAwsErrors(new EcsCompute({ ...config.ecs, installation: config.installation, client: ecsClient })),
    routing: translatingAwsErrors(
      new ElbRouting({
        ...config.elb,
        listenerArn: config.elb.listenerArns,
        installation: config.installation,
        client: clients.elbClient ?? new ElasticLoadBalancingV2Client({}),
        describeRate: ELB_DESCRIBE_PACE,
      }),
    ),
  };
}

/** Each tenant's own record in Route 53 when the installation has more than one shard, else undefined (the wildcard record serves). */
function route53DnsFor(config: ReconcilerConfig, clients: AwsClients): Dns | undefined {
  if (!config.dns) return undefined;
  const loadBalancers = shardLoadBalancers({
    listenerArns: config.elb.listenerArns,
    client: clients.elbClient ?? new ElasticLoadBalancingV2Client({}),
  });
  return translatingAwsErrors(new Route53Dns({ ...config.dns, loadBalancers, client: clients.route53Client ?? new Route53Client({}) }));
}

/** The tenants' data on EFS when the installation has a data path, else undefined (stateless). */
function efsStorageFor(config: ReconcilerConfig, clients: AwsClients): (Storage & StorageInventory) | undefined {
  if (!config.storage) return undefined;
  return translatingAwsErrors(
    new EfsStorage({
      ...config.storage,
      installation: config.installation,
      baseTaskDefinition: config.ecs.taskDefinition,
      planTaskDefinitions: config.ecs.planTaskDefinitions,
      containerName: config.ecs.containerName,
      efsClient: clients.efsClient ?? new EFSClient({}),
      ecsClient: clients.ecsClient ?? new ECSClient({}),
      lambdaClient: clients.lambdaClient ?? new LambdaClient({}),
    }),
  );
}

/** The reconcile function: the reconciler on DynamoDB, ECS and ELBv2, and on EFS and Lambda with a data path. */
export function reconcilerDeps(config: ReconcilerConfig, clients: AwsClients = {}): ReconcileDeps {
  return { ...reconcilerAdapters(config, clients), clock: systemClock, settings: reconcileSettings(config) };
}
