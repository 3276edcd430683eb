import { ECSClient } from '@aws-sdk/client-ecs';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { ReconcilerConfig } from '../../../config.js';
import { reconcileSettings } from '../../../config/reconcile-settings.js';
import type { ReconcileDeps } from '../../../app/reconcile.js';
import { systemClock } from '../../../ports/clock.js';
import { translatingAwsErrors } from '../aws-errors.js';
import { EcsCompute } from '../ecs-compute.js';
import { ElbRouting } from '../elb-routing.js';
import { tenantStore, type AwsClients } from './clients.js';

/** The reconciler's adapters, at the wider types the sweep also uses them at. */
export function reconcilerAdapters(config: ReconcilerConfig, clients: AwsClients) {
  return {
    store: tenantStore(config.tenantTable, clients.dynamoClient),
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
  };
}

/** The reconcile function: the reconciler on DynamoDB, ECS and ELBv2. */
export function reconcilerDeps(config: ReconcilerConfig, clients: AwsClients = {}): ReconcileDeps {
  return { ...reconcilerAdapters(config, clients), clock: systemClock, settings: reconcileSettings(config) };
}
