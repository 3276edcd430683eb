import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECSClient } from '@aws-sdk/client-ecs';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import type { ApiConfig, ReconcilerConfig, StreamPublisherConfig, SweepConfig, TaskEventsConfig, WakeConfig } from '../../config.js';
import { reconcileSettings } from '../../config/reconcile-settings.js';
import { MissCache } from '../../app/miss-cache.js';
import { reconcile, type ReconcileDeps } from '../../app/reconcile.js';
import type { SweepDeps } from '../../app/sweep.js';
import type { TaskEventDeps } from '../../app/task-event.js';
import type { WakeDeps } from '../../app/wake.js';
import type { ApiDeps } from '../../http/api.js';
import { systemClock, type Clock } from '../../ports/clock.js';
import type { EmailSender } from '../../ports/email.js';
import type { EventPublisher } from '../../ports/events.js';
import { translatingAwsErrors } from './aws-errors.js';
import { CloudWatchActivity } from './cloudwatch-activity.js';
import { documentClientFor, DynamoDbTenantStore } from './dynamodb-tenant-store.js';
import { DynamoDbRateLimiter } from './dynamodb-rate-limiter.js';
import { EcsCompute } from './ecs-compute.js';
import { ElbRouting } from './elb-routing.js';
import { EventBridgePublisher } from './eventbridge-publisher.js';
import { SesEmailSender } from './ses-email-sender.js';

/**
 * The AWS composition root: every function's use case wired to its AWS adapters, from its loaded
 * configuration. The entry points in lambdas/ call these at cold start, so the clients'
 * connections serve every invocation that follows; tests and the bench pass their own clients.
 * Each client defaults to the SDK's standard configuration, which honours AWS_ENDPOINT_URL(_*).
 */

export interface AwsClients {
  dynamoClient?: DynamoDBClient;
  ecsClient?: ECSClient;
  elbClient?: ElasticLoadBalancingV2Client;
  cloudWatchClient?: CloudWatchClient;
  eventBridgeClient?: EventBridgeClient;
}

function tenantStore(tableName: string, dynamoClient = new DynamoDBClient({})): DynamoDbTenantStore {
  return new DynamoDbTenantStore({ tableName, client: documentClientFor(dynamoClient) });
}

export interface ApiDepsOverrides {
  dynamoClient?: DynamoDBClient;
  logger?: Logger;
  clock?: Clock;
  /** Defaults to Amazon SES from `config.emailSender` when verification is on. */
  emailSender?: EmailSender;
  /** Embedded mode's outbox page (GET /outbox). */
  outbox?: ApiDeps['outbox'];
}

/** The API function; embedded mode runs the same wiring on DynamoDB Local. */
export function apiDeps(config: ApiConfig, overrides: ApiDepsOverrides = {}): ApiDeps {
  const dynamoClient = overrides.dynamoClient ?? new DynamoDBClient({});
  const documentClient = documentClientFor(dynamoClient);
  const logger = overrides.logger ?? new Logger({ serviceName: 'dormouse-api' });
  for (const warning of config.warnings) logger.warn(warning);
  const sender =
    overrides.emailSender ?? (config.verifyEmail && config.emailSender ? new SesEmailSender({ from: config.emailSender }) : undefined);
  return {
    store: new DynamoDbTenantStore({ tableName: config.tenantTable, client: documentClient }),
    clock: overrides.clock ?? systemClock,
    config,
    idempotencyStore: new DynamoDBPersistenceLayer({ tableName: config.idempotencyTable, awsSdkV3Client: dynamoClient }),
    logger,
    limiter: new DynamoDbRateLimiter({ tableName: config.tenantTable, client: documentClient }),
    ...(sender ? { emailSender: sender } : {}),
    ...(overrides.outbox ? { outbox: overrides.outbox } : {}),
  };
}

export interface WakeDepsOverrides {
  dynamoClient?: DynamoDBClient;
  clock?: Clock;
}

/** The wake function. The cache of unknown slugs lives as long as the process, like the client. */
export function wakeDeps(config: WakeConfig, overrides: WakeDepsOverrides = {}): WakeDeps {
  return {
    store: tenantStore(config.tenantTable, overrides.dynamoClient),
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

/** The reconciler's adapters, at the wider types the sweep also uses them at. */
function reconcilerAdapters(config: ReconcilerConfig, clients: AwsClients) {
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

/**
 * The sweep function: DynamoDB, CloudWatch, and the reconciler it calls for the tenants it finds
 * due, wired as the reconcile function's over the same adapter instances, which the sweep also
 * uses for the store's listings and markers and for drift repair.
 */
export function sweepDeps(
  config: ReconcilerConfig,
  sweepConfig: Pick<SweepConfig, 'loadBalancerFullName'>,
  clients: AwsClients = {},
  logger?: ReconcileDeps['logger'],
): SweepDeps {
  const { store, compute, routing } = reconcilerAdapters(config, clients);
  const reconcileDeps: ReconcileDeps = {
    store,
    compute,
    routing,
    clock: systemClock,
    settings: reconcileSettings(config),
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
    drift: { compute, routing },
  };
}

/** The task events function: ECS task state changes into the tenant table. */
export function taskEventsDeps(config: TaskEventsConfig, clients: AwsClients = {}): TaskEventDeps {
  return { store: tenantStore(config.tenantTable, clients.dynamoClient) };
}

/** The stream publisher: domain events onto the bus. */
export function streamPublisherDeps(config: StreamPublisherConfig, clients: AwsClients = {}): { publisher: EventPublisher } {
  return {
    publisher: new EventBridgePublisher({
      busName: config.busName,
      ...(clients.eventBridgeClient ? { client: clients.eventBridgeClient } : {}),
    }),
  };
}
