import type { Handover } from './domain/plan.js';
import { builtInPlans, type PlanCatalog } from './domain/plans.js';
import type { TaskArchitecture } from './domain/prices.js';
import { parsePlanTaskDefinitions, readPlansSetting } from './config/plans.js';
import { ConfigError, declaredDefault, readSettings, withLocalDefaults, type Env } from './config/settings.js';
import type { Brand } from './http/page-layout.js';

/**
 * Configuration is read from the environment once, at cold start, into a typed object, one
 * loader per program. The variables themselves (parsers, defaults, meaning) are declared once,
 * in shared/config/settings.ts. A missing or malformed variable fails loudly with its name rather
 * than at first use.
 */

export { ConfigError, editDistance, parseEnv, unknownSettings, type Env, type UnknownSetting } from './config/settings.js';

export interface ApiConfig {
  tenantTable: string;
  idempotencyTable: string;
  /** Tenants are served at `<scheme>://<slug>.<host>[:port]` of this URL. */
  baseUrl: URL;
  maxTenants: number;
  idempotencyTtlSeconds: number;
  /** Bearer token that acts as admin. Embedded mode only: on AWS, admins sign requests with IAM. */
  adminToken?: string;
  /**
   * IAM roles and users whose signed requests are admin; any other IAM signer is refused. A
   * role's sessions (`arn:aws:sts::<account>:assumed-role/<name>/<session>`) count as the role.
   */
  adminPrincipals: string[];
  /** Things the configuration asked for that were not done, to be logged once at start. */
  warnings: string[];
  /** Signups one source address may make per hour; 0 turns the limit off. */
  signupsPerHour: number;
  /**
   * Take the client's address from the last `X-Forwarded-For` entry instead of the connection:
   * only behind a proxy that appends it, since anyone can send the header.
   */
  trustForwardedFor: boolean;
  /** Mail a one-time link and start the trial only once it is opened. */
  verifyEmail: boolean;
  /** The From address of verification mails; required when `verifyEmail` is on. */
  emailSender?: string;
  /** Export and restore of tenant data: the archive bucket and the function that reaches the file system. Absent when tenants are stateless. */
  archives?: { bucket: string; dataFunction: string };
  /** The tenant tasks' log group, read by `GET /tenants/{id}/logs` on AWS. */
  tenantLogGroup?: string;
  plans: PlanCatalog;
  /** The operator's product name, logo, accent colour and support link on the pages. */
  brand: Brand;
  /** What tenant tasks run on: the cost to date prices their running time at its rates. */
  taskArchitecture: TaskArchitecture;
}

/** The branding settings, as the pages take them. */
function readBrand(parsed: {
  DORMOUSE_BRAND_NAME?: string | undefined;
  DORMOUSE_BRAND_LOGO_URL?: URL | undefined;
  DORMOUSE_BRAND_ACCENT: string;
  DORMOUSE_SUPPORT_URL?: URL | undefined;
}): Brand {
  return {
    accent: parsed.DORMOUSE_BRAND_ACCENT,
    ...(parsed.DORMOUSE_BRAND_NAME ? { name: parsed.DORMOUSE_BRAND_NAME } : {}),
    ...(parsed.DORMOUSE_BRAND_LOGO_URL ? { logoUrl: parsed.DORMOUSE_BRAND_LOGO_URL } : {}),
    ...(parsed.DORMOUSE_SUPPORT_URL ? { supportUrl: parsed.DORMOUSE_SUPPORT_URL } : {}),
  };
}

/**
 * The installation's plans: `DORMOUSE_PLANS`, or the built-in ones (at the smallest Fargate
 * size; on AWS the CDK app always writes the plans out, at the configured size).
 */
function loadPlans(parsed: { DORMOUSE_PLANS?: string | undefined; DORMOUSE_TRIAL_DAYS: number }, idleMs: number): PlanCatalog {
  if (parsed.DORMOUSE_PLANS) return readPlansSetting(parsed.DORMOUSE_PLANS);
  return builtInPlans({ cpu: 256, memory: 512, idleMs, trialDays: parsed.DORMOUSE_TRIAL_DAYS });
}

export function loadApiConfig(env: Env = process.env): ApiConfig {
  const parsed = readSettings('api', env);
  // On Lambda admins are IAM principals on the allowlist: a shared secret in the function's
  // environment, readable by anyone who can read its configuration, must not open the admin routes.
  // AWS_LAMBDA_FUNCTION_NAME is set by Lambda in every function's environment.
  const onLambda = Boolean(env.AWS_LAMBDA_FUNCTION_NAME);
  const warnings =
    onLambda && parsed.DORMOUSE_ADMIN_TOKEN
      ? ['DORMOUSE_ADMIN_TOKEN is ignored on AWS Lambda: admins sign their requests with IAM (DORMOUSE_ADMIN_PRINCIPALS)']
      : [];
  const bucket = parsed.DORMOUSE_ARCHIVE_BUCKET;
  const dataFunction = parsed.DORMOUSE_DATA_FUNCTION;
  if (Boolean(bucket) !== Boolean(dataFunction)) {
    throw new ConfigError([
      `${bucket ? 'DORMOUSE_DATA_FUNCTION' : 'DORMOUSE_ARCHIVE_BUCKET'}: is required with ${bucket ? 'DORMOUSE_ARCHIVE_BUCKET' : 'DORMOUSE_DATA_FUNCTION'} (export and restore need both)`,
    ]);
  }
  if (parsed.DORMOUSE_VERIFY_EMAIL && !parsed.DORMOUSE_EMAIL_SENDER) {
    throw new ConfigError(['DORMOUSE_EMAIL_SENDER: is required when DORMOUSE_VERIFY_EMAIL is true (the From address of the mails)']);
  }
  return {
    tenantTable: parsed.DORMOUSE_TABLE_NAME,
    idempotencyTable: parsed.DORMOUSE_IDEMPOTENCY_TABLE_NAME,
    baseUrl: parsed.DORMOUSE_BASE_URL,
    maxTenants: parsed.DORMOUSE_MAX_TENANTS,
    idempotencyTtlSeconds: parsed.DORMOUSE_IDEMPOTENCY_TTL_SECONDS,
    ...(parsed.DORMOUSE_ADMIN_TOKEN && !onLambda ? { adminToken: parsed.DORMOUSE_ADMIN_TOKEN } : {}),
    adminPrincipals: parsed.DORMOUSE_ADMIN_PRINCIPALS ?? [],
    warnings,
    signupsPerHour: parsed.DORMOUSE_SIGNUPS_PER_HOUR,
    trustForwardedFor: parsed.DORMOUSE_TRUST_FORWARDED_FOR,
    verifyEmail: parsed.DORMOUSE_VERIFY_EMAIL,
    ...(parsed.DORMOUSE_EMAIL_SENDER ? { emailSender: parsed.DORMOUSE_EMAIL_SENDER } : {}),
    ...(bucket && dataFunction ? { archives: { bucket, dataFunction } } : {}),
    ...(parsed.DORMOUSE_TENANT_LOG_GROUP ? { tenantLogGroup: parsed.DORMOUSE_TENANT_LOG_GROUP } : {}),
    // Trial lengths are the plans': DORMOUSE_TRIAL_DAYS is the built-in trial plan's.
    plans: loadPlans(parsed, parsed.DORMOUSE_IDLE_MINUTES * 60_000),
    brand: readBrand(parsed),
    taskArchitecture: parsed.DORMOUSE_TASK_ARCHITECTURE,
  };
}

/** `https://acme.example.com` for slug `acme` and base URL `https://example.com`. */
export function tenantUrl(baseUrl: URL, slug: string): string {
  const url = new URL(baseUrl);
  url.hostname = `${slug}.${baseUrl.hostname}`;
  return url.origin;
}

/** `acme.example.com` for slug `acme` and base URL `https://example.com`: the ALB host rule value. */
export function tenantHost(baseUrl: URL, slug: string): string {
  return `${slug}.${baseUrl.hostname}`;
}

/** What an installation decides about reconciling tenants, wherever the reconciler runs. */
export interface ReconcilePolicy {
  /** Tenants are served at `<slug>.<its host>`. */
  baseUrl: URL;
  /** Routing slots per shard. */
  maxActiveTenants: number;
  /** Routing shards: load balancers, each with `maxActiveTenants` slots. */
  shards: number;
  spotAttemptsBeforeFallback: number;
  fallbackToOnDemand: boolean;
  maxRestarts: number;
  tombstoneSeconds: number;
  /** Tenants keep data of their own, removed when they are deleted. */
  persistentData: boolean;
  handover: Handover;
  plans: PlanCatalog;
}

export interface ReconcilerConfig extends ReconcilePolicy {
  tenantTable: string;
  /** Part of every name and tag of the resources the reconciler creates; set by the CDK app. */
  installation: string;
  ecs: {
    cluster: string;
    taskDefinition: string;
    /** Task definitions of the plans with an image of their own; other plans run `taskDefinition`. */
    planTaskDefinitions: Record<string, string>;
    containerName: string;
    subnets: string[];
    securityGroups: string[];
    assignPublicIp: boolean;
  };
  /** `listenerArns`: one HTTPS listener per shard, in shard order. */
  elb: { listenerArns: string[]; vpcId: string; port: number; healthCheckPath: string };
  /** Each tenant's persistent data on EFS; set exactly when `persistentData` is, absent when the installation is stateless. */
  storage?: { dataPath: string; fileSystemId: string; dataFunction: string };
  /** Each tenant's own DNS record: only with more than one shard (one shard keeps the wildcard record). */
  dns?: ShardDnsConfig;
}

export interface ShardDnsConfig {
  /** The zone of the tenants' domain. */
  hostedZoneId: string;
  /** Tenants are `<slug>.<domain>`: the host of the base URL. */
  domain: string;
}

/**
 * The DNS settings of an installation with more than one shard; undefined with one, whose
 * tenants share the wildcard record. The load balancers a tenant's record may alias are not
 * configured: the reconciler reads them off the shards' listeners (shardLoadBalancers).
 */
export function loadShardDns(parsed: {
  DORMOUSE_SHARDS: number;
  DORMOUSE_BASE_URL: URL;
  DORMOUSE_HOSTED_ZONE_ID?: string | undefined;
}): ShardDnsConfig | undefined {
  const shards = parsed.DORMOUSE_SHARDS;
  if (shards <= 1) return undefined;
  if (!parsed.DORMOUSE_HOSTED_ZONE_ID) {
    throw new ConfigError([`DORMOUSE_HOSTED_ZONE_ID: is required with ${shards} shards (each tenant gets its own record)`]);
  }
  return { hostedZoneId: parsed.DORMOUSE_HOSTED_ZONE_ID, domain: parsed.DORMOUSE_BASE_URL.hostname };
}

/** `arn:<partition>:elasticloadbalancing:<region>:<account>:listener/`, then `app/<name>/<id>/<listener-id>`. */
const LISTENER_ARN = /^(arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:listener\/)(app\/[A-Za-z0-9-]{1,32}\/[0-9a-f]+\/[0-9a-f]+)$/;
const LISTENER_END = /^app\/[A-Za-z0-9-]{1,32}\/[0-9a-f]+\/[0-9a-f]+$/;

/**
 * The listener ARNs of `DORMOUSE_LISTENER_ARN`, in full. A shard's differs from the first only in
 * its end, `app/<name>/<id>/<listener-id>`, so an entry after the first may be just that: it is
 * completed with the first's `arn:…:listener/`, which keeps the setting within Lambda's 4 KB
 * with many shards. An entry that is neither stops start-up, named.
 */
export function readListenerArns(entries: readonly string[], shards: number): string[] {
  requireOnePerShard('DORMOUSE_LISTENER_ARN', entries, shards);
  const prefix = LISTENER_ARN.exec(entries[0] ?? '')?.[1];
  const arns = entries.map((entry) => (prefix && LISTENER_END.test(entry) ? `${prefix}${entry}` : entry));
  const problems = arns.flatMap((arn, index) =>
    LISTENER_ARN.test(arn)
      ? []
      : [
          `DORMOUSE_LISTENER_ARN: entry ${index + 1} (${entries[index]}) must be a listener ARN ` +
            'arn:aws:elasticloadbalancing:<region>:<account>:listener/app/<name>/<id>/<listener-id>' +
            (index > 0 ? ', or after a whole first one, its end app/<name>/<id>/<listener-id>' : ''),
        ],
  );
  if (problems.length > 0) throw new ConfigError(problems);
  return arns;
}

/** `app/<name>/<id>` of a listener ARN `…:listener/app/<name>/<id>/<listener-id>`: its load balancer's CloudWatch dimension. */
function loadBalancerFullName(listenerArn: string): string {
  return LISTENER_ARN.exec(listenerArn)![2]!.split('/').slice(0, 3).join('/');
}

export function loadReconcilerConfig(env: Env = process.env): ReconcilerConfig {
  const parsed = readSettings('reconciler', env);
  const dataPath = parsed.DORMOUSE_DATA_PATH;
  const missing = dataPath ? (['DORMOUSE_FILE_SYSTEM_ID', 'DORMOUSE_DATA_FUNCTION'] as const).filter((name) => !parsed[name]) : [];
  if (missing.length > 0) throw new ConfigError(missing.map((name) => `${name}: is required when DORMOUSE_DATA_PATH is set`));
  const plans = loadPlans(parsed, parsed.DORMOUSE_IDLE_MINUTES * 60_000);
  const listenerArns = readListenerArns(parsed.DORMOUSE_LISTENER_ARN, parsed.DORMOUSE_SHARDS);
  const dns = loadShardDns(parsed);
  return {
    ...(dns ? { dns } : {}),
    tenantTable: parsed.DORMOUSE_TABLE_NAME,
    installation: parsed.DORMOUSE_INSTALLATION,
    baseUrl: parsed.DORMOUSE_BASE_URL,
    ecs: {
      cluster: parsed.DORMOUSE_CLUSTER,
      taskDefinition: parsed.DORMOUSE_TASK_DEFINITION,
      planTaskDefinitions: parsePlanTaskDefinitions(parsed.DORMOUSE_PLAN_TASK_DEFINITIONS, plans),
      containerName: parsed.DORMOUSE_CONTAINER_NAME,
      subnets: parsed.DORMOUSE_SUBNETS,
      securityGroups: parsed.DORMOUSE_SECURITY_GROUPS,
      assignPublicIp: parsed.DORMOUSE_ASSIGN_PUBLIC_IP,
    },
    elb: {
      listenerArns,
      vpcId: parsed.DORMOUSE_VPC_ID,
      port: parsed.DORMOUSE_CONTAINER_PORT,
      healthCheckPath: parsed.DORMOUSE_HEALTH_CHECK_PATH,
    },
    maxActiveTenants: parsed.DORMOUSE_MAX_ACTIVE_TENANTS,
    shards: parsed.DORMOUSE_SHARDS,
    spotAttemptsBeforeFallback: parsed.DORMOUSE_SPOT_ATTEMPTS,
    fallbackToOnDemand: parsed.DORMOUSE_ON_DEMAND_FALLBACK,
    maxRestarts: parsed.DORMOUSE_MAX_RESTARTS,
    tombstoneSeconds: parsed.DORMOUSE_TOMBSTONE_DAYS * 86_400,
    persistentData: dataPath !== undefined,
    plans,
    ...(dataPath !== undefined
      ? {
          storage: {
            dataPath,
            fileSystemId: parsed.DORMOUSE_FILE_SYSTEM_ID!,
            dataFunction: parsed.DORMOUSE_DATA_FUNCTION!,
          },
        }
      : {}),
    handover: parsed.DORMOUSE_HANDOVER,
  };
}

/** A list with one entry per shard; any other count would route some shard nowhere, so start-up stops. */
function requireOnePerShard(name: string, values: readonly string[], shards: number): void {
  if (values.length === shards) return;
  throw new ConfigError([
    `${name}: lists ${values.length} value(s) but DORMOUSE_SHARDS is ${shards}: give one per shard, comma-separated in shard order`,
  ]);
}

export interface WakeConfig {
  tenantTable: string;
  /** Its hostname is the root domain: a request for `<slug>.<hostname>` names tenant `<slug>`. */
  baseUrl: URL;
  /** Must match the reconciler's: a wake evicts an idle tenant when this many slots are taken on every shard. */
  maxActiveTenants: number;
  /** Must match the reconciler's: how many shards of `maxActiveTenants` slots there are. */
  shards: number;
  /** A woken tenant is not evicted for another before it has run, and been idle, this long. */
  minRunMs: number;
  /** How often in an hour requests to its address may wake one tenant. */
  anonymousWakesPerHour: number;
  /** How long a request that is not a browser navigation is held while its tenant wakes. */
  holdMs: number;
  plans: PlanCatalog;
  /** The operator's branding, for the waking, failed and gone pages to adopt. */
  brand?: Brand;
  /** The self-service page, which the failed page links a tenant's owner to. */
  manageUrl?: URL;
}

export function loadWakeConfig(env: Env = process.env): WakeConfig {
  const parsed = readSettings('wake', env);
  return {
    tenantTable: parsed.DORMOUSE_TABLE_NAME,
    baseUrl: parsed.DORMOUSE_BASE_URL,
    maxActiveTenants: parsed.DORMOUSE_MAX_ACTIVE_TENANTS,
    shards: parsed.DORMOUSE_SHARDS,
    minRunMs: parsed.DORMOUSE_MIN_RUN_MINUTES * 60_000,
    anonymousWakesPerHour: parsed.DORMOUSE_ANONYMOUS_WAKES_PER_HOUR,
    holdMs: parsed.DORMOUSE_WAKE_HOLD_SECONDS * 1000,
    plans: loadPlans(parsed, parsed.DORMOUSE_IDLE_MINUTES * 60_000),
    brand: readBrand(parsed),
    ...(parsed.DORMOUSE_MANAGE_URL ? { manageUrl: parsed.DORMOUSE_MANAGE_URL } : {}),
  };
}

/** The sweep's own settings; it also reads the reconciler's configuration to reconcile tenants. */
export interface SweepConfig {
  /**
   * `app/<name>/<id>` per shard, in shard order: the LoadBalancer dimension of each ALB's
   * CloudWatch metrics, read off the shard's listener ARN (`DORMOUSE_LISTENER_ARN`).
   */
  loadBalancerFullNames: string[];
  idleMs: number;
  minRunMs: number;
  expiringNoticeMs: number;
  pageSize: number;
  budgetMs: number;
  /** A tenant in a passing phase (Provisioning, Deleting, …) this long is reported as stuck. */
  stuckMs: number;
  plans: PlanCatalog;
  /** A sleeping tenant with keep-warm hours is woken this long before they begin. */
  warmLeadMs: number;
  /** A task receiving more than this (bytes per second, over a minute) is busy; 0: requests only. */
  networkActivityBytesPerSecond: number;
}

export function loadSweepConfig(env: Env = process.env): SweepConfig {
  const parsed = readSettings('sweep', env);
  return {
    loadBalancerFullNames: readListenerArns(parsed.DORMOUSE_LISTENER_ARN, parsed.DORMOUSE_SHARDS).map(loadBalancerFullName),
    idleMs: parsed.DORMOUSE_IDLE_MINUTES * 60_000,
    minRunMs: parsed.DORMOUSE_MIN_RUN_MINUTES * 60_000,
    expiringNoticeMs: parsed.DORMOUSE_EXPIRING_NOTICE_HOURS * 3_600_000,
    pageSize: parsed.DORMOUSE_SWEEP_PAGE_SIZE,
    budgetMs: parsed.DORMOUSE_SWEEP_BUDGET_SECONDS * 1000,
    stuckMs: parsed.DORMOUSE_STUCK_MINUTES * 60_000,
    plans: loadPlans(parsed, parsed.DORMOUSE_IDLE_MINUTES * 60_000),
    warmLeadMs: parsed.DORMOUSE_WARM_LEAD_MINUTES * 60_000,
    networkActivityBytesPerSecond: parsed.DORMOUSE_NETWORK_ACTIVITY_BYTES_PER_SECOND,
  };
}

export interface TaskEventsConfig {
  tenantTable: string;
  /** The sizes a task's running time is metered at. */
  plans: PlanCatalog;
}

export function loadTaskEventsConfig(env: Env = process.env): TaskEventsConfig {
  const parsed = readSettings('task-events', env);
  return { tenantTable: parsed.DORMOUSE_TABLE_NAME, plans: loadPlans(parsed, parsed.DORMOUSE_IDLE_MINUTES * 60_000) };
}

export interface TenantDataConfig {
  /** Without it the tenant data function only removes files. */
  archiveBucket?: string;
}

export function loadTenantDataConfig(env: Env = process.env): TenantDataConfig {
  const bucket = readSettings('tenant-data', env).DORMOUSE_ARCHIVE_BUCKET;
  return bucket ? { archiveBucket: bucket } : {};
}

export interface StreamPublisherConfig {
  busName: string;
  /** Where tenants' timelines are kept. */
  tenantTable: string;
  /** What tenant tasks run on: `Tenant Usage` prices their running time at its rates. */
  taskArchitecture: TaskArchitecture;
}

export function loadStreamPublisherConfig(env: Env = process.env): StreamPublisherConfig {
  const parsed = readSettings('stream-publisher', env);
  return {
    busName: parsed.DORMOUSE_EVENT_BUS_NAME,
    tenantTable: parsed.DORMOUSE_TABLE_NAME,
    taskArchitecture: parsed.DORMOUSE_TASK_ARCHITECTURE,
  };
}

/** The architecture of the machine embedded mode runs on, where its tenants' processes run. */
export function machineArchitecture(arch: string = process.arch): TaskArchitecture {
  return arch === 'arm64' ? 'arm64' : 'x86_64';
}

/**
 * Embedded mode's own settings (`npm start`), with its local defaults. It runs the API too, whose
 * settings `loadApiConfig(withLocalDefaults(env))` reads; the reconciler's policy omits the base
 * URL, which depends on the port the gateway gets.
 */
export interface EmbeddedConfig {
  installation: string;
  apiPort: number;
  gatewayPort: number;
  /** Relative to the working directory. */
  dataDir?: string;
  dynamoDbPort?: number;
  /** Use a DynamoDB Local that is already running instead of starting one. */
  dynamoDbEndpoint?: string;
  /** The tenant application, a command line; the demo app when absent. */
  tenantCommand?: string;
  healthCheckPath: string;
  /** How long a new task may fail its health check before it is replaced. */
  unhealthyTimeoutMs: number;
  sweepMs: number;
  idleMs: number;
  minRunMs: number;
  /** A tenant Pending, Provisioning, Waking, Passivating or Deleting this long gets a warning line. */
  stuckMs: number;
  anonymousWakesPerHour: number;
  /** How long a request that is not a browser navigation is held while its tenant wakes. */
  wakeHoldMs: number;
  /** A sleeping tenant with keep-warm hours is woken this long before they begin. */
  warmLeadMs: number;
  /** What costs are priced at: `DORMOUSE_TASK_ARCHITECTURE`, else the machine's. */
  taskArchitecture: TaskArchitecture;
  reconcile: Omit<ReconcilePolicy, 'baseUrl'>;
}

/** `machine`: the architecture the tenants' processes run on when the setting does not say. */
export function loadEmbeddedConfig(env: Env = process.env, machine: TaskArchitecture = machineArchitecture()): EmbeddedConfig {
  // Its declared default (x86_64) is for AWS installations that predate the setting; here the
  // tenants run on this machine, so an unset variable means its architecture.
  const parsed = readSettings('embedded', { DORMOUSE_TASK_ARCHITECTURE: machine, ...withLocalDefaults(env) });
  return {
    installation: parsed.DORMOUSE_INSTALLATION,
    apiPort: parsed.DORMOUSE_API_PORT,
    gatewayPort: parsed.DORMOUSE_GATEWAY_PORT,
    ...(parsed.DORMOUSE_DATA_DIR !== undefined ? { dataDir: parsed.DORMOUSE_DATA_DIR } : {}),
    ...(parsed.DORMOUSE_DYNAMODB_PORT !== undefined ? { dynamoDbPort: parsed.DORMOUSE_DYNAMODB_PORT } : {}),
    ...(parsed.DORMOUSE_DYNAMODB_ENDPOINT !== undefined ? { dynamoDbEndpoint: parsed.DORMOUSE_DYNAMODB_ENDPOINT } : {}),
    ...(parsed.DORMOUSE_TENANT_COMMAND !== undefined ? { tenantCommand: parsed.DORMOUSE_TENANT_COMMAND } : {}),
    healthCheckPath: parsed.DORMOUSE_HEALTH_CHECK_PATH,
    unhealthyTimeoutMs: parsed.DORMOUSE_UNHEALTHY_SECONDS * 1000,
    sweepMs: parsed.DORMOUSE_SWEEP_SECONDS * 1000,
    idleMs: parsed.DORMOUSE_IDLE_SECONDS * 1000,
    minRunMs: parsed.DORMOUSE_MIN_RUN_SECONDS * 1000,
    stuckMs: parsed.DORMOUSE_STUCK_MINUTES * 60_000,
    anonymousWakesPerHour: parsed.DORMOUSE_ANONYMOUS_WAKES_PER_HOUR,
    wakeHoldMs: parsed.DORMOUSE_WAKE_HOLD_SECONDS * 1000,
    warmLeadMs: parsed.DORMOUSE_WARM_LEAD_MINUTES * 60_000,
    taskArchitecture: parsed.DORMOUSE_TASK_ARCHITECTURE,
    reconcile: {
      maxActiveTenants: parsed.DORMOUSE_MAX_ACTIVE_TENANTS,
      shards: parsed.DORMOUSE_SHARDS,
      // Processes have no Spot capacity to run out of: the AWS defaults stand.
      spotAttemptsBeforeFallback: declaredDefault('DORMOUSE_SPOT_ATTEMPTS'),
      fallbackToOnDemand: declaredDefault('DORMOUSE_ON_DEMAND_FALLBACK'),
      maxRestarts: parsed.DORMOUSE_MAX_RESTARTS,
      tombstoneSeconds: parsed.DORMOUSE_TOMBSTONE_DAYS * 86_400,
      // Every tenant process gets a data directory of its own.
      persistentData: true,
      handover: parsed.DORMOUSE_HANDOVER,
      plans: loadPlans(parsed, parsed.DORMOUSE_IDLE_SECONDS * 1000),
    },
  };
}
