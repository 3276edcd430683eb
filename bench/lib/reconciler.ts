import { EcsCompute } from '../../shared/adapters/aws/ecs-compute.js';
import { ElbRouting, type ElbRoutingOptions } from '../../shared/adapters/aws/elb-routing.js';
import type { DynamoDbTenantStore } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import type { ReconcileDeps, ReconcileSettings } from '../../shared/app/reconcile.js';
import { loadReconcilerConfig } from '../../shared/config.js';
import { reconcileSettings } from '../../shared/config/reconcile-settings.js';
import type { Clock } from '../../shared/ports/clock.js';
import { BASE_URL } from './api.js';
import { efsStorageOver } from '../../test/support/aws-adapters.js';
import { BASE_TASK_DEFINITION, CLUSTER, LISTENER_ARN, VPC_ID, type AwsModel } from '../../test/support/aws-model.js';

/** The installation id the bench's adapters run as. */
export const INSTALLATION = 'bench';

/**
 * The reconciler's configuration as deployed: what the CDK app writes by default, read by the
 * reconcile function's loader, every other setting at its declared default.
 */
export const DEPLOYED_CONFIG = loadReconcilerConfig({
  DORMOUSE_TABLE_NAME: 'dormouse-bench',
  DORMOUSE_INSTALLATION: INSTALLATION,
  DORMOUSE_BASE_URL: BASE_URL,
  DORMOUSE_CLUSTER: CLUSTER,
  DORMOUSE_TASK_DEFINITION: BASE_TASK_DEFINITION,
  DORMOUSE_SUBNETS: 'subnet-a,subnet-b',
  DORMOUSE_SECURITY_GROUPS: 'sg-tenants',
  DORMOUSE_VPC_ID: VPC_ID,
  DORMOUSE_LISTENER_ARN: LISTENER_ARN,
});

/** The reconciler's settings as deployed. */
export const DEPLOYED_SETTINGS: ReconcileSettings = reconcileSettings(DEPLOYED_CONFIG);

/**
 * The reconcile use case on the real EcsCompute and ElbRouting, configured as the reconcile
 * function is, here over the mocked SDK clients, and EfsStorage when `settings.persistentData`
 * is on (an installation with a data path).
 */
export function reconcilerOver(
  aws: AwsModel,
  store: DynamoDbTenantStore,
  clock: Clock,
  settings: Partial<ReconcileSettings> = {},
  elb: Pick<ElbRoutingOptions, 'describeRate'> = {},
): ReconcileDeps {
  return {
    store,
    compute: new EcsCompute({ ...DEPLOYED_CONFIG.ecs, client: aws.ecsClient, installation: INSTALLATION }),
    routing: new ElbRouting({
      ...DEPLOYED_CONFIG.elb,
      listenerArn: DEPLOYED_CONFIG.elb.listenerArns,
      client: aws.elbClient,
      installation: INSTALLATION,
      ...elb,
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
