// zod's mini build: these schemas load at every cold start, and the classic build costs the API
// and wake functions about ten milliseconds more there.
import * as z from 'zod/mini';
import type { $ZodType, output } from 'zod/v4/core';

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

const positiveInt = z.coerce.number().check(z.int(), z.positive());
const nonNegativeInt = z.coerce.number().check(z.int(), z.nonnegative());

const flag = z.pipe(
  z.enum(['true', 'false']),
  z.transform((value: 'true' | 'false') => value === 'true'),
);

/** `http(s)://host[:port]` with nothing after it: tenant URLs are `<scheme>://<slug>.<host>[:port]`. */
const baseUrl = z
  .pipe(
    z.url(),
    z.transform((value: string) => new URL(value)),
  )
  .check(
    z.refine((url) => ['http:', 'https:'].includes(url.protocol), 'must start with http:// or https://'),
    z.refine((url) => url.pathname === '/' && !url.search && !url.hash, 'must have no path, query or fragment'),
  );

const apiSchema = z.object({
  DORMOUSE_TABLE_NAME: z.string().check(z.minLength(3)),
  DORMOUSE_IDEMPOTENCY_TABLE_NAME: z.string().check(z.minLength(3)),
  DORMOUSE_BASE_URL: baseUrl,
  DORMOUSE_MAX_TENANTS: z._default(positiveInt, 1000),
  DORMOUSE_TRIAL_DAYS: z._default(positiveInt, 14),
  DORMOUSE_IDEMPOTENCY_TTL_SECONDS: z._default(positiveInt, 3600),
  DORMOUSE_ADMIN_TOKEN: z.optional(z.string().check(z.minLength(16, 'must be at least 16 characters'))),
  // 60 suits one person trying things locally; the CDK app sets 5 for the public internet.
  DORMOUSE_SIGNUPS_PER_HOUR: z._default(nonNegativeInt, 60),
  DORMOUSE_TRUST_FORWARDED_FOR: z._default(flag, false),
  DORMOUSE_VERIFY_EMAIL: z._default(flag, false),
  DORMOUSE_EMAIL_SENDER: z.optional(
    z.string().check(z.regex(/^(?:[^<>]*<)?[^\s@<>]+@[^\s@<>]+\.?[^\s@<>]*>?$/, 'must be an address like trials@example.com or "Name <trials@example.com>"')),
  ),
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
}

export type Env = Record<string, string | undefined>;

export function parseEnv<S extends $ZodType>(schema: S, env: Env): output<S> {
  // Empty strings mean "unset", as they do for most shells and CloudFormation parameters.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const result = z.safeParse(schema, present);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  }
  return result.data;
}

export function loadApiConfig(env: Env = process.env): ApiConfig {
  const parsed = parseEnv(apiSchema, env);
  if (parsed.DORMOUSE_VERIFY_EMAIL && !parsed.DORMOUSE_EMAIL_SENDER) {
    throw new ConfigError(['DORMOUSE_EMAIL_SENDER: is required when DORMOUSE_VERIFY_EMAIL is true (the From address of the mails)']);
  }
  return {
    tenantTable: parsed.DORMOUSE_TABLE_NAME,
    idempotencyTable: parsed.DORMOUSE_IDEMPOTENCY_TABLE_NAME,
    baseUrl: parsed.DORMOUSE_BASE_URL,
    maxTenants: parsed.DORMOUSE_MAX_TENANTS,
    trialDays: parsed.DORMOUSE_TRIAL_DAYS,
    idempotencyTtlSeconds: parsed.DORMOUSE_IDEMPOTENCY_TTL_SECONDS,
    ...(parsed.DORMOUSE_ADMIN_TOKEN ? { adminToken: parsed.DORMOUSE_ADMIN_TOKEN } : {}),
    signupsPerHour: parsed.DORMOUSE_SIGNUPS_PER_HOUR,
    trustForwardedFor: parsed.DORMOUSE_TRUST_FORWARDED_FOR,
    verifyEmail: parsed.DORMOUSE_VERIFY_EMAIL,
    ...(parsed.DORMOUSE_EMAIL_SENDER ? { emailSender: parsed.DORMOUSE_EMAIL_SENDER } : {}),
  };
}

/** `https://acme.example.com` for slug `acme` and base URL `https://example.com`. */
export function tenantUrl(baseUrl: URL, slug: string): string {
  const url = new URL(baseUrl);
  url.hostname = `${slug}.${baseUrl.hostname}`;
  return url.origin;
}

const commaList = z
  .pipe(
    z.string(),
    z.transform((value: string) => value.split(',').map((item) => item.trim()).filter(Boolean)),
  )
  .check(z.refine((items) => items.length > 0, 'must list at least one id, separated by commas'));


const reconcilerSchema = z.object({
  DORMOUSE_TABLE_NAME: z.string().check(z.minLength(3)),
  DORMOUSE_BASE_URL: baseUrl,
  DORMOUSE_CLUSTER: z.string().check(z.minLength(1)),
  DORMOUSE_TASK_DEFINITION: z.string().check(z.minLength(1)),
  DORMOUSE_CONTAINER_NAME: z._default(z.string().check(z.minLength(1)), 'app'),
  DORMOUSE_CONTAINER_PORT: z._default(positiveInt.check(z.maximum(65_535)), 80),
  DORMOUSE_SUBNETS: commaList,
  DORMOUSE_SECURITY_GROUPS: commaList,
  DORMOUSE_ASSIGN_PUBLIC_IP: z._default(flag, false),
  DORMOUSE_VPC_ID: z.string().check(z.minLength(1)),
  DORMOUSE_LISTENER_ARN: z.string().check(z.minLength(1)),
  DORMOUSE_HEALTH_CHECK_PATH: z._default(z.string().check(z.startsWith('/', 'must start with /')), '/'),
  DORMOUSE_MAX_ACTIVE_TENANTS: z._default(positiveInt.check(z.maximum(99, 'must stay under the ALB hard limit of 100 target groups')), 90),
  DORMOUSE_SPOT_ATTEMPTS: z._default(positiveInt, 3),
  DORMOUSE_ON_DEMAND_FALLBACK: z._default(flag, true),
  DORMOUSE_MAX_RESTARTS: z._default(positiveInt, 3),
  DORMOUSE_TOMBSTONE_DAYS: z._default(positiveInt, 7),
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
  DORMOUSE_TABLE_NAME: z.string().check(z.minLength(3)),
  DORMOUSE_BASE_URL: baseUrl,
  DORMOUSE_MAX_ACTIVE_TENANTS: z._default(positiveInt.check(z.maximum(99, 'must stay under the ALB hard limit of 100 target groups')), 90),
  DORMOUSE_MIN_RUN_MINUTES: z._default(positiveInt, 5),
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
    .check(z.regex(/^app\/[A-Za-z0-9-]{1,32}\/[0-9a-f]+$/, 'must be the ALB full name app/<name>/<id> (the end of its ARN)')),
  DORMOUSE_IDLE_MINUTES: z._default(positiveInt, 15),
  // Validated as the wake function does, so one value is valid for both.
  DORMOUSE_MIN_RUN_MINUTES: z._default(positiveInt, 5),
  DORMOUSE_EXPIRING_NOTICE_HOURS: z._default(positiveInt, 24),
  DORMOUSE_SWEEP_PAGE_SIZE: z._default(positiveInt.check(z.maximum(1000)), 100),
  DORMOUSE_SWEEP_BUDGET_SECONDS: z._default(positiveInt.check(z.maximum(840, 'must leave room within the 15-minute Lambda limit')), 40),
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
