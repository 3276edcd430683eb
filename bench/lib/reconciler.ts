import { EcsCompute } from '../../shared/adapters/aws/ecs-compute.js';
import { ElbRouting } from '../../shared/adapters/aws/elb-routing.js';
import type { DynamoDbTenantStore } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import type { ReconcileDeps, ReconcileSettings } from '../../shared/app/reconcile.js';
import { RECONCILE_DEFAULTS, tenantHost } from '../../shared/config.js';
import type { Clock } from '../../shared/ports/clock.js';
import { BASE_URL } from './api.js';
import { efsStorageOver } from '../../test/support/aws-adapters.js';
import { BASE_TASK_DEFINITION, CLUSTER, LISTENER_ARN, VPC_ID, type AwsModel } from '../../test/support/aws-model.js';

/** The installation id the bench's adapters run as. */
export const INSTALLATION = 'bench';

/** The reconciler's settings as deployed (RECONCILE_DEFAULTS and cdk.json's defaults). */
export const DEPLOYED_SETTINGS: ReconcileSettings = {
  ...RECONCILE_DEFAULTS,
  hostFor: (tenantId) => tenantHost(new URL(BASE_URL), tenantId),
  maxActiveTenants: 90,
  spotAttemptsBeforeFallback: 3,
  fallbackToOnDemand: true,
  maxRestarts: 3,
  tombstoneSeconds: 7 * 86_400,
};

/**
 * The reconcile use case wired as shared/adapters/aws/reconciler-deps.ts wires it for the
 * Lambda: the real EcsCompute and ElbRouting, here over the mocked SDK clients, and EfsStorage
 * when `settings.persistentData` is on (an installation with a data path).
 */
export function reconcilerOver(
  aws: AwsModel,
  store: DynamoDbTenantStore,
  clock: Clock,
  settings: Partial<ReconcileSettings> = {},
): ReconcileDeps {
  return {
    store,
    compute: new EcsCompute({
      client: aws.ecsClient,
      installation: INSTALLATION,
      cluster: CLUSTER,
      taskDefinition: BASE_TASK_DEFINITION,
      containerName: 'app',
      subnets: ['subnet-a', 'subnet-b'],
      securityGroups: ['sg-tenants'],
    }),
    routing: new ElbRouting({
      client: aws.elbClient,
      installation: INSTALLATION,
      listenerArn: LISTENER_ARN,
      vpcId: VPC_ID,
      port: 80,
      healthCheckPath: '/',
    }),
    ...(settings.persistentData ? { storage: efsStorageOver(aws, INSTALLATION) } : {}),
    clock,
    settings: { ...DEPLOYED_SETTINGS, ...settings },
  };
}

/** A clock the bench moves by hand, so simulated AWS time costs no real time. */
export class ManualClock implements Clock {
  constructor(public time = Date.parse('2026-01-05T09:00:00.000Z')) {}
  now(): Date {
    return new Date(this.time);
  }
}
