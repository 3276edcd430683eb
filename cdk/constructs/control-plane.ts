import { Duration } from 'aws-cdk-lib';
import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction as LambdaTarget } from 'aws-cdk-lib/aws-events-targets';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { RECONCILE_DEFAULTS } from '../../shared/config.js';
import { EVENT_SOURCE, TENANT_CHANGED } from '../../shared/domain/domain-events.js';
import type { DormouseEventBus } from './event-bus.js';
import { dormouseFunction } from './function.js';
import type { LoadBalancer } from './load-balancer.js';
import type { OperatorAlerts } from './operator-alerts.js';
import type { TenantCluster } from './tenant-cluster.js';
import type { TenantTable } from './tenant-table.js';

/** What the control plane is told about the product, beyond the resources it is wired to. */
export interface ControlPlaneSettings {
  /** `https://<domain>`: tenants are served at `<scheme>://<slug>.<domain>`. */
  readonly baseUrl: string;
  readonly maxTenants: number;
  readonly maxActiveTenants: number;
  readonly trialDays: number;
  readonly idempotencyTtlSeconds: number;
  readonly idleTimeoutMinutes: number;
  readonly spotAttempts: number;
  readonly onDemandFallback: boolean;
  readonly maxRestarts: number;
  readonly tombstoneDays: number;
  readonly logRetention: RetentionDays;
}

export interface ControlPlaneProps {
  readonly tables: TenantTable;
  readonly events: DormouseEventBus;
  readonly cluster: TenantCluster;
  readonly loadBalancer: LoadBalancer;
  readonly alerts: OperatorAlerts;
  readonly settings: ControlPlaneSettings;
}

/** Reconcile runs are held to this so that a lease (5 min) always outlives the run holding it. */
const RECONCILE_TIMEOUT = Duration.minutes(2);
if (RECONCILE_TIMEOUT.toMilliseconds() >= RECONCILE_DEFAULTS.leaseMs) {
  throw new Error('The reconcile timeout must be shorter than the reconcile lease');
}

/**
 * Dormouse's functions and the events that drive them:
 * - api: the HTTP API (the `TenantApi` construct routes to it);
 * - stream-publisher: tenant table stream → domain events on the bus (through the Pipe);
 * - reconcile: `Tenant Changed` on the bus → converge that tenant (ECS, ELBv2);
 * - task-events: `ECS Task State Change` of this cluster on the default bus → actual state.
 * Every asynchronous path ends in a dead-letter queue with an alarm.
 */
export class ControlPlane extends Construct {
  readonly api: NodejsFunction;
  readonly streamPublisher: NodejsFunction;
  readonly reconcile: NodejsFunction;
  readonly taskEvents: NodejsFunction;
  readonly reconcileRule: Rule;
  readonly taskEventsRule: Rule;

  constructor(scope: Construct, id: string, props: ControlPlaneProps) {
    super(scope, id);
    const { tables, events, cluster, loadBalancer, alerts, settings } = props;
    const logRetention = settings.logRetention;

    this.api = dormouseFunction(this, 'Api', {
      entry: 'api',
      description: 'Dormouse tenant API (signup, status, commands, admin)',
      serviceName: 'dormouse-api',
      logRetention,
      memorySize: 512,
      timeout: Duration.seconds(10),
    });
    tables.bindTenantStore(this.api);
    tables.bindIdempotencyStore(this.api);
    this.api.addEnvironment('DORMOUSE_BASE_URL', settings.baseUrl);
    this.api.addEnvironment('DORMOUSE_MAX_TENANTS', String(settings.maxTenants));
    this.api.addEnvironment('DORMOUSE_TRIAL_DAYS', String(settings.trialDays));
    this.api.addEnvironment('DORMOUSE_IDEMPOTENCY_TTL_SECONDS', String(settings.idempotencyTtlSeconds));

    this.streamPublisher = dormouseFunction(this, 'StreamPublisher', {
      entry: 'stream-publisher',
      description: 'Dormouse: tenant table changes to domain events on the bus',
      serviceName: 'dormouse-stream-publisher',
      logRetention,
      timeout: Duration.seconds(60),
    });
    events.grantPutEventsTo(this.streamPublisher);
    this.streamPublisher.addEnvironment('DORMOUSE_EVENT_BUS_NAME', events.busName);
    events.streamChanges(tables, this.streamPublisher);

    this.reconcile = dormouseFunction(this, 'Reconcile', {
      entry: 'reconcile',
      description: 'Dormouse: converge a tenant toward its expected state (ECS tasks, ALB rules)',
      serviceName: 'dormouse-reconcile',
      logRetention,
      memorySize: 512,
      timeout: RECONCILE_TIMEOUT,
    });
    tables.bindTenantStore(this.reconcile);
    cluster.bindCompute(this.reconcile);
    loadBalancer.bindRouting(this.reconcile);
    this.reconcile.addEnvironment('DORMOUSE_BASE_URL', settings.baseUrl);
    this.reconcile.addEnvironment('DORMOUSE_MAX_ACTIVE_TENANTS', String(settings.maxActiveTenants));
    this.reconcile.addEnvironment('DORMOUSE_SPOT_ATTEMPTS', String(settings.spotAttempts));
    this.reconcile.addEnvironment('DORMOUSE_ON_DEMAND_FALLBACK', String(settings.onDemandFallback));
    this.reconcile.addEnvironment('DORMOUSE_MAX_RESTARTS', String(settings.maxRestarts));
    this.reconcile.addEnvironment('DORMOUSE_TOMBSTONE_DAYS', String(settings.tombstoneDays));
    // Read by the idle sweep, which lands next; set now so the setting is in one place from the start.
    this.reconcile.addEnvironment('DORMOUSE_IDLE_MINUTES', String(settings.idleTimeoutMinutes));
    const reconcileDlq = alerts.deadLetterQueue(
      'ReconcileDlq',
      'A Tenant Changed event could not be delivered to, or was not handled by, the reconcile function.',
    );
    this.reconcile.configureAsyncInvoke({ retryAttempts: 2, onFailure: new SqsDestination(reconcileDlq) });
    this.reconcileRule = new Rule(this, 'TenantChanged', {
      eventBus: events.bus,
      description: 'A tenant changed: reconcile it',
      eventPattern: { source: [EVENT_SOURCE], detailType: [TENANT_CHANGED] },
      targets: [
        new LambdaTarget(this.reconcile, {
          deadLetterQueue: reconcileDlq,
          retryAttempts: 8,
          maxEventAge: Duration.hours(2),
        }),
      ],
    });

    this.taskEvents = dormouseFunction(this, 'TaskEvents', {
      entry: 'task-events',
      description: 'Dormouse: ECS task state changes of the tenant cluster to actual state',
      serviceName: 'dormouse-task-events',
      logRetention,
    });
    tables.bindTenantStore(this.taskEvents);
    const taskEventsDlq = alerts.deadLetterQueue(
      'TaskEventsDlq',
      'An ECS task state change could not be delivered to, or was not handled by, the task-events function.',
    );
    this.taskEvents.configureAsyncInvoke({ retryAttempts: 2, onFailure: new SqsDestination(taskEventsDlq) });
    // On the default bus, where ECS publishes; only this cluster's tasks.
    this.taskEventsRule = new Rule(this, 'TaskStateChange', {
      description: 'An ECS task of the Dormouse tenant cluster changed state',
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change'],
        detail: { clusterArn: [cluster.cluster.clusterArn] },
      },
      targets: [
        new LambdaTarget(this.taskEvents, {
          deadLetterQueue: taskEventsDlq,
          retryAttempts: 8,
          maxEventAge: Duration.hours(2),
        }),
      ],
    });
  }
}
