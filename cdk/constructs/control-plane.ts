import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction as LambdaTarget } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Schedule, ScheduleExpression, TimeWindow, type IScheduleTarget } from 'aws-cdk-lib/aws-scheduler';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { SWEEP_DEFAULTS } from '../../shared/app/sweep.js';
import { RECONCILE_DEFAULTS } from '../../shared/config/reconcile-settings.js';
import { EVENT_SOURCE, TENANT_CHANGED } from '../../shared/domain/domain-events.js';
import type { TaskArchitecture } from '../../shared/domain/prices.js';
import type { DormouseEventBus } from './event-bus.js';
import { dormouseFunction } from './function.js';
import { bindActivity, bindRouting, bindTenantRecords, type LoadBalancer } from './load-balancer.js';
import type { OperatorAlerts } from './operator-alerts.js';
import type { TenantCluster } from './tenant-cluster.js';
import type { TenantStorage } from './tenant-storage.js';
import type { TenantTable } from './tenant-table.js';
import { addSettings } from '../settings.js';

/** What the control plane is told about the product, beyond the resources it is wired to. */
export interface ControlPlaneSettings {
  /** In every name and tag of tenant resources; IAM holds the reconciler to resources tagged with it. */
  readonly installation: string;
  /** `https://<domain>`: tenants are served at `<scheme>://<slug>.<domain>`. */
  readonly baseUrl: string;
  readonly maxTenants: number;
  readonly maxActiveTenants: number;
  readonly trialDays: number;
  readonly idempotencyTtlSeconds: number;
  readonly idleTimeoutMinutes: number;
  /** Least time a tenant runs after a start or a wake before it may be passivated or evicted. */
  readonly minRunMinutes: number;
  /** How long before a trial ends the `Tenant Expiring` event goes out. */
  readonly expiringNoticeHours: number;
  /** The sweep runs this often. */
  readonly sweepRateMinutes: number;
  /** A tenant in a passing phase this long is reported by the sweep, and alarmed on. */
  readonly stuckMinutes: number;
  /** How long before its keep-warm hours a sleeping tenant is woken. */
  readonly warmLeadMinutes: number;
  /** Task traffic above this (bytes per second) keeps a tenant awake. @default 0: requests only */
  readonly networkActivityBytesPerSecond?: number;
  readonly spotAttempts: number;
  readonly onDemandFallback: boolean;
  readonly maxRestarts: number;
  readonly tombstoneDays: number;
  /** Concurrent executions reserved for, and capping, the reconcile function. */
  readonly reconcileConcurrency: number;
  /** Wakes of one tenant by requests to its address, per hour. */
  readonly anonymousWakesPerHour: number;
  /** How long the wake function holds a request that is not a browser navigation; its timeout is this plus a margin. */
  readonly wakeHoldSeconds: number;
  /** Concurrent executions reserved for, and capping, the wake function. */
  readonly wakeConcurrency: number;
  /** IAM role and user ARNs allowed on the admin routes. */
  readonly adminPrincipals: readonly string[];
  readonly logRetention: RetentionDays;
  /** Signups per source address and hour; 0 turns the limit off. */
  readonly signupsPerHour: number;
  /** Trials start only once the owner opens a mailed link. */
  readonly verifyEmail: boolean;
  /** From address of the verification mails; the API may send as this address only. */
  readonly emailSender: string;
  /** How a tenant's task is replaced: the old one stopped first (one writer of its data), or overlapping. */
  readonly handover: 'stop-first' | 'overlap';
  /** The resolved plans as `DORMOUSE_PLANS` JSON, written for every function that reads plans. */
  readonly plans: string;
  /** What tenant tasks run on, written for the functions that price their running time (API, stream publisher). */
  readonly taskArchitecture: TaskArchitecture;
  /** The pages' branding, written to the API and wake functions. @default no branding */
  readonly branding?: { readonly name?: string; readonly logoUrl?: string; readonly accent?: string; readonly supportUrl?: string };
}

export interface ControlPlaneProps {
  readonly tables: TenantTable;
  readonly events: DormouseEventBus;
  readonly cluster: TenantCluster;
  /** One load balancer per shard, in shard order; tenants are spread over them. */
  readonly loadBalancers: readonly LoadBalancer[];
  /**
   * Where each tenant gets its own DNS record, needed with more than one load balancer.
   * @default none: one load balancer, whose wildcard record serves every tenant
   */
  readonly tenantRecords?: { readonly hostedZoneId: string; readonly domain: string };
  readonly alerts: OperatorAlerts;
  readonly settings: ControlPlaneSettings;
  /** Persistent tenant data. @default none: tenants are stateless */
  readonly storage?: TenantStorage;
}

/** Just under the HTTP API's 30 s integration limit, so the function's answer, not a 503 from the gateway, reaches the caller. */
const API_TIMEOUT_WITH_ARCHIVES = Duration.seconds(29);

/** Reconcile runs are held to this so that a lease (5 min) always outlives the run holding it. */
const RECONCILE_TIMEOUT = Duration.minutes(2);
if (RECONCILE_TIMEOUT.toMilliseconds() >= RECONCILE_DEFAULTS.leaseMs) {
  throw new Error('The reconcile timeout must be shorter than the reconcile lease');
}

/**
 * The sweep reconciles tenants too, so the same bound holds; and its work budget, plus the
 * 20 s the handler keeps to finish its page and write its marker, must fit well inside it.
 */
const SWEEP_TIMEOUT = Duration.minutes(2);
const SWEEP_BUDGET_SECONDS = SWEEP_DEFAULTS.budgetMs / 1000;
if (SWEEP_TIMEOUT.toMilliseconds() >= RECONCILE_DEFAULTS.leaseMs || SWEEP_BUDGET_SECONDS + 20 >= SWEEP_TIMEOUT.toSeconds()) {
  throw new Error('The sweep timeout must be shorter than the reconcile lease and longer than its budget plus 20 s');
}

/**
 * The wake function answers visitors of sleeping tenants while they wait: a page from one read
 * (two at most when it wakes one), or a held request that reads once a second meanwhile, so a
 * small function does. Its timeout is the hold plus room for a cold start and the answer (the
 * handler ends a hold 2 s before its deadline anyway), and stays under the ALB's 60 s idle timeout.
 */
const WAKE_TIMEOUT_MARGIN_SECONDS = 5;
const ALB_IDLE_TIMEOUT_SECONDS = 60;
const WAKE_MEMORY_MB = 256;

export function wakeTimeout(holdSeconds: number): Duration {
  const seconds = holdSeconds + WAKE_TIMEOUT_MARGIN_SECONDS;
  if (seconds >= ALB_IDLE_TIMEOUT_SECONDS) throw new Error('The wake hold plus its margin must stay under the ALB idle timeout (60 s)');
  return Duration.seconds(seconds);
}

/**
 * Dormouse's functions and the events that drive them:
 * - api: the HTTP API (the `TenantApi` construct routes to it);
 * - stream-publisher: tenant table stream → domain events on the bus (through the Pipe);
 * - reconcile: `Tenant Changed` on the bus → converge that tenant (ECS, ELBv2);
 * - task-events: `ECS Task State Change` of this cluster on the default bus → actual state;
 * - wake: the load balancer's catch-all rule, i.e. every `*.<domain>` host without a tenant rule;
 * - sweep: EventBridge Scheduler, every `sweepRateMinutes` → passivate idle tenants, expire
 *   trials, retry and resync, repair drift.
 * Every asynchronous path ends in a dead-letter queue with an alarm; wake and sweep, which no
 * queue stands behind, alarm on their errors.
 */
export class ControlPlane extends Construct {
  readonly api: NodejsFunction;
  readonly streamPublisher: NodejsFunction;
  readonly reconcile: NodejsFunction;
  readonly taskEvents: NodejsFunction;
  readonly wake: NodejsFunction;
  readonly sweep: NodejsFunction;
  readonly reconcileRule: Rule;
  readonly taskEventsRule: Rule;
  readonly sweepSchedule: Schedule;

  /**
   * Lets the API send verification mail through SES as `sender` and nothing else: the identity
   * is either the address or its domain (whichever the operator verified), and the From address
   * is pinned by condition.
   */
  private allowSendingMail(sender: string): void {
    const domain = sender.slice(sender.lastIndexOf('@') + 1);
    const stack = Stack.of(this);
    const identity = (name: string) =>
      stack.formatArn({ service: 'ses', resource: 'identity', resourceName: name, arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
    this.api.addToRolePolicy(
      new PolicyStatement({
        sid: 'SendVerificationMail',
        actions: ['ses:SendEmail'],
        resources: [identity(sender), identity(domain)],
        conditions: { StringEquals: { 'ses:FromAddress': sender } },
      }),
    );
    addSettings(this.api, { DORMOUSE_EMAIL_SENDER: sender });
  }

  constructor(scope: Construct, id: string, props: ControlPlaneProps) {
    super(scope, id);
    const { tables, events, cluster, loadBalancers, alerts, settings } = props;
    if (loadBalancers.length > 1 && !props.tenantRecords)
      throw new Error("Several load balancers need a hosted zone for the tenants' own records");
    const logRetention = settings.logRetention;

    this.api = dormouseFunction(this, 'Api', {
      entry: 'api',
      description: 'Dormouse tenant API (signup, status, commands, admin)',
      serviceName: 'dormouse-api',
      logRetention,
      memorySize: 512,
      // With tenant data it waits for exports and restores, up to what API Gateway waits (30 s).
      timeout: props.storage ? API_TIMEOUT_WITH_ARCHIVES : Duration.seconds(10),
    });
    props.storage?.bindArchives(this.api);
    tables.bindTenantStore(this.api);
    tables.bindTimelineReader(this.api);
    cluster.bindLogReader(this.api);
    tables.bindIdempotencyStore(this.api);
    addSettings(this.api, {
      DORMOUSE_BASE_URL: settings.baseUrl,
      DORMOUSE_MAX_TENANTS: settings.maxTenants,
      DORMOUSE_TRIAL_DAYS: settings.trialDays,
      DORMOUSE_IDEMPOTENCY_TTL_SECONDS: settings.idempotencyTtlSeconds,
      DORMOUSE_ADMIN_PRINCIPALS: settings.adminPrincipals,
      DORMOUSE_SIGNUPS_PER_HOUR: settings.signupsPerHour,
      DORMOUSE_VERIFY_EMAIL: settings.verifyEmail,
      DORMOUSE_PLANS: settings.plans,
      DORMOUSE_TASK_ARCHITECTURE: settings.taskArchitecture,
      ...brandingSettings(settings.branding),
    });
    if (settings.verifyEmail) this.allowSendingMail(settings.emailSender);

    this.streamPublisher = dormouseFunction(this, 'StreamPublisher', {
      entry: 'stream-publisher',
      description: 'Dormouse: tenant table changes to domain events on the bus',
      serviceName: 'dormouse-stream-publisher',
      logRetention,
      timeout: Duration.seconds(60),
    });
    events.grantPutEventsTo(this.streamPublisher);
    tables.bindTimelineWriter(this.streamPublisher);
    addSettings(this.streamPublisher, { DORMOUSE_EVENT_BUS_NAME: events.busName, DORMOUSE_TASK_ARCHITECTURE: settings.taskArchitecture });
    events.streamChanges(tables, this.streamPublisher);

    this.reconcile = dormouseFunction(this, 'Reconcile', {
      entry: 'reconcile',
      description: 'Dormouse: converge a tenant toward its expected state (ECS tasks, ALB rules)',
      serviceName: 'dormouse-reconcile',
      logRetention,
      memorySize: 512,
      timeout: RECONCILE_TIMEOUT,
      // Held to its share of the account's concurrency, so that a burst of tenant changes (a
      // flood of signups or wakes) queues in Lambda's async queue, where events wait up to the
      // rule's retries, instead of taking every execution from the API and wake functions.
      reservedConcurrentExecutions: settings.reconcileConcurrency,
    });
    bindReconciler(this.reconcile, props);
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
    // The plans' sizes: what a task's running time is metered at.
    addSettings(this.taskEvents, { DORMOUSE_PLANS: settings.plans });
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

    this.wake = dormouseFunction(this, 'Wake', {
      entry: 'wake',
      description: 'Dormouse: tenant hosts without a rule; wakes sleeping tenants, answers unknown ones',
      serviceName: 'dormouse-wake',
      logRetention,
      // On the request path of every sleeping or unknown host: small and quick. Anyone can make
      // it hold a request for the whole hold, so its concurrency is capped: a flood of held
      // requests turns into load balancer errors for sleeping hosts, never into a drained
      // account pool (the API, task events) or a bill without bound.
      memorySize: WAKE_MEMORY_MB,
      timeout: wakeTimeout(settings.wakeHoldSeconds),
      reservedConcurrentExecutions: settings.wakeConcurrency,
    });
    // With several shards the wake function reads every shard's slot count (one BatchGetItem).
    tables.bindWakeStore(this.wake, { shards: loadBalancers.length });
    addSettings(this.wake, {
      DORMOUSE_BASE_URL: settings.baseUrl,
      // The same ceiling as the reconciler's: a wake evicts an idle tenant when this many slots are taken.
      DORMOUSE_MAX_ACTIVE_TENANTS: settings.maxActiveTenants,
      DORMOUSE_MIN_RUN_MINUTES: settings.minRunMinutes,
      DORMOUSE_ANONYMOUS_WAKES_PER_HOUR: settings.anonymousWakesPerHour,
      DORMOUSE_WAKE_HOLD_SECONDS: settings.wakeHoldSeconds,
      DORMOUSE_PLANS: settings.plans,
      ...brandingSettings(settings.branding),
    });
    addShardCount(this.wake, loadBalancers);
    // The same function wakes tenants of every shard.
    for (const loadBalancer of loadBalancers) loadBalancer.routeUnknownHostsTo(this.wake);
    alerts.alarmOnErrors('WakeErrors', this.wake, {
      what:
        'The wake function failed (a crash, timeout or bad configuration the handler could not turn into a page) in 3 ' +
        'five-minute periods in a row: visitors of sleeping tenants get 502 errors instead of a waking page.',
      period: Duration.minutes(5),
    });

    this.sweep = dormouseFunction(this, 'Sweep', {
      entry: 'sweep',
      description: 'Dormouse: passivate idle tenants, expire trials, retry and resync, repair drift',
      serviceName: 'dormouse-sweep',
      logRetention,
      memorySize: 512,
      timeout: SWEEP_TIMEOUT,
      // One run at a time: runs keep their place in markers, and two would sweep the same page.
      reservedConcurrentExecutions: 1,
    });
    bindReconciler(this.sweep, props);
    bindActivity(this.sweep, loadBalancers);
    addSettings(this.sweep, {
      DORMOUSE_IDLE_MINUTES: settings.idleTimeoutMinutes,
      DORMOUSE_MIN_RUN_MINUTES: settings.minRunMinutes,
      DORMOUSE_EXPIRING_NOTICE_HOURS: settings.expiringNoticeHours,
      DORMOUSE_SWEEP_PAGE_SIZE: SWEEP_DEFAULTS.pageSize,
      DORMOUSE_SWEEP_BUDGET_SECONDS: SWEEP_BUDGET_SECONDS,
      DORMOUSE_STUCK_MINUTES: settings.stuckMinutes,
      DORMOUSE_WARM_LEAD_MINUTES: settings.warmLeadMinutes,
      ...(settings.networkActivityBytesPerSecond
        ? { DORMOUSE_NETWORK_ACTIVITY_BYTES_PER_SECOND: settings.networkActivityBytesPerSecond }
        : {}),
    });
    const sweepRate = Duration.minutes(settings.sweepRateMinutes);
    // A failed run is not retried, and a run that waited a whole period behind the one before is
    // dropped: the next run covers both. No failure destination either: a failed run is not a
    // lost message, and the errors alarm below is what tells the operators.
    this.sweep.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: sweepRate });
    const sweepDlq = alerts.deadLetterQueue(
      'SweepScheduleDlq',
      'EventBridge Scheduler could not invoke the sweep function, so idle tenants are not put to sleep and trials do not end.',
    );
    this.sweepSchedule = new Schedule(this, 'SweepSchedule', {
      description: 'Dormouse: run the sweep',
      schedule: ScheduleExpression.rate(sweepRate),
      // On the minute: a spread-out run would only delay passivation.
      timeWindow: TimeWindow.off(),
      target: invokeOnly(this, 'SweepSchedule', this.sweep, sweepDlq),
    });
    alerts.alarmOnErrors('SweepErrors', this.sweep, {
      what: 'The sweep failed in 3 runs in a row: idle tenants may not be put to sleep, trials may not end and drift is not repaired.',
      period: sweepRate,
    });
    alerts.alarmOnStuckTenants('TenantsStuck', { stuckMinutes: settings.stuckMinutes, period: sweepRate });
  }
}

/**
 * Everything the reconciler needs wherever it runs, the reconcile function or the sweep (which
 * reconciles the tenants it finds due): the tenant table, ECS, ELBv2, the tenant file system
 * when there is one, and its settings.
 */
function bindReconciler(fn: NodejsFunction, { tables, cluster, loadBalancers, tenantRecords, settings, storage }: ControlPlaneProps): void {
  // With several shards placement reads every shard's slot count (one BatchGetItem).
  tables.bindTenantStore(fn, { shards: loadBalancers.length });
  // With persistent data every tenant runs a task definition of its own, which mounts its access point.
  cluster.bindCompute(fn, settings.installation, { tenantTaskDefinitions: storage !== undefined });
  storage?.bindReconciler(fn, settings.installation);
  bindRouting(fn, settings.installation, loadBalancers);
  addShardCount(fn, loadBalancers);
  if (loadBalancers.length > 1 && tenantRecords) bindTenantRecords(fn, tenantRecords);
  addSettings(fn, {
    DORMOUSE_INSTALLATION: settings.installation,
    DORMOUSE_BASE_URL: settings.baseUrl,
    DORMOUSE_MAX_ACTIVE_TENANTS: settings.maxActiveTenants,
    DORMOUSE_SPOT_ATTEMPTS: settings.spotAttempts,
    DORMOUSE_ON_DEMAND_FALLBACK: settings.onDemandFallback,
    DORMOUSE_MAX_RESTARTS: settings.maxRestarts,
    DORMOUSE_TOMBSTONE_DAYS: settings.tombstoneDays,
    DORMOUSE_HANDOVER: settings.handover,
    DORMOUSE_PLANS: settings.plans,
  });
}

/** Tells `fn` how many shards there are; one, the default, is left unsaid, as it was before shards. */
function addShardCount(fn: NodejsFunction, loadBalancers: readonly LoadBalancer[]): void {
  if (loadBalancers.length > 1) addSettings(fn, { DORMOUSE_SHARDS: loadBalancers.length });
}

/**
 * A schedule target that invokes `fn` once, without retries, with a role that may invoke
 * exactly `fn` and send to `deadLetterQueue`, assumable by EventBridge Scheduler for this
 * account's default schedule group only. (`LambdaInvoke` from aws-scheduler-targets would also
 * allow every version and alias, `<arn>:*`, and retry up to 185 times.)
 */
function invokeOnly(scope: Construct, id: string, fn: NodejsFunction, deadLetterQueue: IQueue): IScheduleTarget {
  const stack = Stack.of(scope);
  const role = new Role(scope, `${id}Role`, {
    description: `EventBridge Scheduler: invoke the Dormouse ${fn.node.id.toLowerCase()} function, nothing else`,
    assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
      conditions: {
        // Confused-deputy guard: Scheduler sets these to the schedule group's account and ARN.
        StringEquals: {
          'aws:SourceAccount': stack.account,
          'aws:SourceArn': stack.formatArn({
            service: 'scheduler',
            resource: 'schedule-group',
            resourceName: 'default',
            arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
          }),
        },
      },
    }),
  });
  role.addToPolicy(new PolicyStatement({ sid: 'Invoke', actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] }));
  role.addToPolicy(new PolicyStatement({ sid: 'DeadLetters', actions: ['sqs:SendMessage'], resources: [deadLetterQueue.queueArn] }));
  return {
    bind: () => ({
      arn: fn.functionArn,
      role,
      deadLetterConfig: { arn: deadLetterQueue.queueArn },
      // The next run covers a missed one; the shortest age Scheduler accepts.
      retryPolicy: { maximumRetryAttempts: 0, maximumEventAgeInSeconds: 60 },
    }),
  };
}

/** The branding as the functions read it; unset parts stay unset. */
function brandingSettings(branding: ControlPlaneSettings['branding'] = {}) {
  return {
    DORMOUSE_BRAND_NAME: branding.name,
    DORMOUSE_BRAND_LOGO_URL: branding.logoUrl,
    DORMOUSE_BRAND_ACCENT: branding.accent,
    DORMOUSE_SUPPORT_URL: branding.supportUrl,
  };
}
