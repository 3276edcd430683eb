import { z } from 'zod';

/**
 * Configuration is read from the environment once, at cold start, into a typed object. A
 * missing or malformed variable fails loudly with its name rather than at first use.
 */

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

const positiveInt = z.coerce.number().int().positive();

/** `http(s)://host[:port]` with nothing after it: tenant URLs are `<scheme>://<slug>.<host>[:port]`. */
const baseUrl = z
  .string()
  .url()
  .transform((value) => new URL(value))
  .refine((url) => ['http:', 'https:'].includes(url.protocol), 'must start with http:// or https://')
  .refine((url) => url.pathname === '/' && !url.search && !url.hash, 'must have no path, query or fragment');

const apiSchema = z.object({
  DORMOUSE_TABLE_NAME: z.string().min(3),
  DORMOUSE_IDEMPOTENCY_TABLE_NAME: z.string().min(3),
  DORMOUSE_BASE_URL: baseUrl,
  DORMOUSE_MAX_TENANTS: positiveInt.default(1000),
  DORMOUSE_TRIAL_DAYS: positiveInt.default(14),
  DORMOUSE_IDEMPOTENCY_TTL_SECONDS: positiveInt.default(3600),
  DORMOUSE_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
});

export interface ApiConfig {
  tenantTable: string;
  idempotencyTable: string;
  /** Tenants are served at `<scheme>://<slug>.<host>[:port]` of this URL. */
  baseUrl: URL;
  maxTenants: number;
  trialDays: number;
  idempotencyTtlSeconds: number;
  /** Bearer token that acts as admin. Embedded mode only: on AWS, admins sign requests with IAM. */
  adminToken?: string;
}

export type Env = Record<string, string | undefined>;

export function parseEnv<S extends z.ZodType>(schema: S, env: Env): z.infer<S> {
  // Empty strings mean "unset", as they do for most shells and CloudFormation parameters.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const result = schema.safeParse(present);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  }
  return result.data;
}

export function loadApiConfig(env: Env = process.env): ApiConfig {
  const parsed = parseEnv(apiSchema, env);
  return {
    tenantTable: parsed.DORMOUSE_TABLE_NAME,
    idempotencyTable: parsed.DORMOUSE_IDEMPOTENCY_TABLE_NAME,
    baseUrl: parsed.DORMOUSE_BASE_URL,
    maxTenants: parsed.DORMOUSE_MAX_TENANTS,
    trialDays: parsed.DORMOUSE_TRIAL_DAYS,
    idempotencyTtlSeconds: parsed.DORMOUSE_IDEMPOTENCY_TTL_SECONDS,
    ...(parsed.DORMOUSE_ADMIN_TOKEN ? { adminToken: parsed.DORMOUSE_ADMIN_TOKEN } : {}),
  };
}

/** `https://acme.example.com` for slug `acme` and base URL `https://example.com`. */
export function tenantUrl(baseUrl: URL, slug: string): string {
  const url = new URL(baseUrl);
  url.hostname = `${slug}.${baseUrl.hostname}`;
  return url.origin;
}

const commaList = z
  .string()
  .transform((value) => value.split(',').map((item) => item.trim()).filter(Boolean))
  .refine((items) => items.length > 0, 'must list at least one id, separated by commas');

const flag = z.enum(['true', 'false']).transform((value) => value === 'true');

const reconcilerSchema = z.object({
  DORMOUSE_TABLE_NAME: z.string().min(3),
  DORMOUSE_BASE_URL: baseUrl,
  DORMOUSE_CLUSTER: z.string().min(1),
  DORMOUSE_TASK_DEFINITION: z.string().min(1),
  DORMOUSE_CONTAINER_NAME: z.string().min(1).default('app'),
  DORMOUSE_CONTAINER_PORT: positiveInt.max(65_535).default(80),
  DORMOUSE_SUBNETS: commaList,
  DORMOUSE_SECURITY_GROUPS: commaList,
  DORMOUSE_ASSIGN_PUBLIC_IP: flag.default(false),
  DORMOUSE_VPC_ID: z.string().min(1),
  DORMOUSE_LISTENER_ARN: z.string().min(1),
  DORMOUSE_HEALTH_CHECK_PATH: z.string().startsWith('/', 'must start with /').default('/'),
  DORMOUSE_MAX_ACTIVE_TENANTS: positiveInt.max(99, 'must stay under the ALB hard limit of 100 target groups').default(90),
  DORMOUSE_SPOT_ATTEMPTS: positiveInt.default(3),
  DORMOUSE_ON_DEMAND_FALLBACK: flag.default(true),
  DORMOUSE_MAX_RESTARTS: positiveInt.default(3),
  DORMOUSE_TOMBSTONE_DAYS: positiveInt.default(7),
});

/** Tuning that is the same wherever the reconciler runs; tests and embedded mode override it. */
export const RECONCILE_DEFAULTS = {
  queueRetryMs: 30_000,
  leaseMs: 5 * 60_000,
  maxSteps: 25,
  backoffBaseMs: 5_000,
  backoffMaxMs: 5 * 60_000,
  pollMs: 5_000,
  unhealthyTimeoutMs: 5 * 60_000,
  listingLagMs: 30_000,
} as const;

export interface ReconcilerConfig {
  tenantTable: string;
  baseUrl: URL;
  ecs: {
    cluster: string;
    taskDefinition: string;
    containerName: string;
    subnets: string[];
    securityGroups: string[];
    assignPublicIp: boolean;
  };
  elb: { listenerArn: string; vpcId: string; port: number; healthCheckPath: string };
  maxActiveTenants: number;
  spotAttemptsBeforeFallback: number;
  fallbackToOnDemand: boolean;
  maxRestarts: number;
  tombstoneSeconds: number;
}

export function loadReconcilerConfig(env: Env = process.env): ReconcilerConfig {
  const parsed = parseEnv(reconcilerSchema, env);
  return {
    tenantTable: parsed.DORMOUSE_TABLE_NAME,
    baseUrl: parsed.DORMOUSE_BASE_URL,
    ecs: {
      cluster: parsed.DORMOUSE_CLUSTER,
      taskDefinition: parsed.DORMOUSE_TASK_DEFINITION,
      containerName: parsed.DORMOUSE_CONTAINER_NAME,
      subnets: parsed.DORMOUSE_SUBNETS,
      securityGroups: parsed.DORMOUSE_SECURITY_GROUPS,
      assignPublicIp: parsed.DORMOUSE_ASSIGN_PUBLIC_IP,
    },
    elb: {
      listenerArn: parsed.DORMOUSE_LISTENER_ARN,
      vpcId: parsed.DORMOUSE_VPC_ID,
      port: parsed.DORMOUSE_CONTAINER_PORT,
      healthCheckPath: parsed.DORMOUSE_HEALTH_CHECK_PATH,
    },
    maxActiveTenants: parsed.DORMOUSE_MAX_ACTIVE_TENANTS,
    spotAttemptsBeforeFallback: parsed.DORMOUSE_SPOT_ATTEMPTS,
    fallbackToOnDemand: parsed.DORMOUSE_ON_DEMAND_FALLBACK,
    maxRestarts: parsed.DORMOUSE_MAX_RESTARTS,
    tombstoneSeconds: parsed.DORMOUSE_TOMBSTONE_DAYS * 86_400,
  };
}

/** `acme.example.com` for slug `acme` and base URL `https://example.com`: the ALB host rule value. */
export function tenantHost(baseUrl: URL, slug: string): string {
  return `${slug}.${baseUrl.hostname}`;
}

const wakeSchema = z.object({
  DORMOUSE_TABLE_NAME: z.string().min(3),
  DORMOUSE_BASE_URL: baseUrl,
  DORMOUSE_MAX_ACTIVE_TENANTS: positiveInt.max(99, 'must stay under the ALB hard limit of 100 target groups').default(90),
  DORMOUSE_MIN_RUN_MINUTES: positiveInt.default(5),
});

export interface WakeConfig {
  tenantTable: string;
  /** Its hostname is the root domain: a request for `<slug>.<hostname>` names tenant `<slug>`. */
  baseUrl: URL;
  /** Must match the reconciler's: a wake evicts an idle tenant when this many slots are taken. */
  maxActiveTenants: number;
  /** A woken tenant is not evicted for another before it has run, and been idle, this long. */
  minRunMs: number;
}

export function loadWakeConfig(env: Env = process.env): WakeConfig {
  const parsed = parseEnv(wakeSchema, env);
  return {
    tenantTable: parsed.DORMOUSE_TABLE_NAME,
    baseUrl: parsed.DORMOUSE_BASE_URL,
    maxActiveTenants: parsed.DORMOUSE_MAX_ACTIVE_TENANTS,
    minRunMs: parsed.DORMOUSE_MIN_RUN_MINUTES * 60_000,
  };
}

const sweepSchema = z.object({
  DORMOUSE_LOAD_BALANCER_FULL_NAME: z
    .string()
    .regex(/^app\/[A-Za-z0-9-]{1,32}\/[0-9a-f]+$/, 'must be the ALB full name app/<name>/<id> (the end of its ARN)'),
  DORMOUSE_IDLE_MINUTES: positiveInt.default(15),
  // Validated as the wake function does, so one value is valid for both.
  DORMOUSE_MIN_RUN_MINUTES: positiveInt.default(5),
  DORMOUSE_EXPIRING_NOTICE_HOURS: positiveInt.default(24),
  DORMOUSE_SWEEP_PAGE_SIZE: positiveInt.max(1000).default(100),
  DORMOUSE_SWEEP_BUDGET_SECONDS: positiveInt.max(840, 'must leave room within the 15-minute Lambda limit').default(40),
});

/** The sweep's own settings; it also reads the reconciler's configuration to reconcile tenants. */
export interface SweepConfig {
  /** `app/<name>/<id>`: the LoadBalancer dimension of the ALB's CloudWatch metrics. */
  loadBalancerFullName: string;
  idleMs: number;
  minRunMs: number;
  expiringNoticeMs: number;
  pageSize: number;
  budgetMs: number;
}

export function loadSweepConfig(env: Env = process.env): SweepConfig {
  const parsed = parseEnv(sweepSchema, env);
  return {
    loadBalancerFullName: parsed.DORMOUSE_LOAD_BALANCER_FULL_NAME,
    idleMs: parsed.DORMOUSE_IDLE_MINUTES * 60_000,
    minRunMs: parsed.DORMOUSE_MIN_RUN_MINUTES * 60_000,
    expiringNoticeMs: parsed.DORMOUSE_EXPIRING_NOTICE_HOURS * 3_600_000,
    pageSize: parsed.DORMOUSE_SWEEP_PAGE_SIZE,
    budgetMs: parsed.DORMOUSE_SWEEP_BUDGET_SECONDS * 1000,
  };
}
