// zod's mini build: these schemas load at every cold start, and the classic build costs the API
// and wake functions about ten milliseconds more there.
import * as z from 'zod/mini';
import type { $ZodType, output } from 'zod/v4/core';
import { LOCAL_INSTALLATION, installationProblem } from './domain/installation.js';
import { HANDOVERS, type Handover } from './domain/plan.js';

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

/** `arn:aws:iam::<account>:role/<path/>name` or `…:user/<path/>name`, as in the `adminPrincipals` setting. */
const ADMIN_PRINCIPAL = /^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[\w+=,.@/-]{1,512}$/;

/** `a, b,,c` → `['a', 'b', 'c']`. */
const commaSeparated = z.pipe(
  z.string(),
  z.transform((value: string) =>
    value
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean),
  ),
);

const adminPrincipalList = commaSeparated.check(
  z.refine(
    (arns) => arns.every((arn) => ADMIN_PRINCIPAL.test(arn)),
    'must be IAM role or user ARNs separated by commas, like arn:aws:iam::123456789012:role/DormouseAdmin',
  ),
);

/** DORMOUSE_INSTALLATION: in every AWS name and tag Dormouse gives a tenant's resources. */
const installationId = z
  .string()
  .check(
    z.refine((value: string) => installationProblem(value) === undefined, installationProblem('') ?? 'is not a valid installation id'),
  );

export const apiSchema = z.object({
  DORMOUSE_TABLE_NAME: z.string().check(z.minLength(3)),
  DORMOUSE_IDEMPOTENCY_TABLE_NAME: z.string().check(z.minLength(3)),
  DORMOUSE_BASE_URL: baseUrl,
  DORMOUSE_MAX_TENANTS: z._default(positiveInt, 1000),
  DORMOUSE_TRIAL_DAYS: z._default(positiveInt, 14),
  DORMOUSE_IDEMPOTENCY_TTL_SECONDS: z._default(positiveInt, 3600),
  DORMOUSE_ADMIN_TOKEN: z.optional(z.string().check(z.minLength(16, 'must be at least 16 characters'))),
  DORMOUSE_ADMIN_PRINCIPALS: z._default(adminPrincipalList, []),
  /** Set by Lambda in every function's environment. */
  AWS_LAMBDA_FUNCTION_NAME: z.optional(z.string()),
  // 60 suits one person trying things locally; the CDK app sets 5 for the public internet.
  DORMOUSE_SIGNUPS_PER_HOUR: z._default(nonNegativeInt, 60),
  DORMOUSE_TRUST_FORWARDED_FOR: z._default(flag, false),
  DORMOUSE_VERIFY_EMAIL: z._default(flag, false),
  DORMOUSE_EMAIL_SENDER: z.optional(
    z
      .string()
      .check(
        z.regex(
          /^(?:[^<>]*<)?[^\s@<>]+@[^\s@<>]+\.?[^\s@<>]*>?$/,
          'must be an address like trials@example.com or "Name <trials@example.com>"',
        ),
      ),
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

/** A `DORMOUSE_*` variable that no schema of this program reads, and the known name closest to it. */
export interface UnknownSetting {
  name: string;
  closest: string;
}

/**
 * The `DORMOUSE_*` variables in `env` that none of `schemas` declares: a misspelled name would
 * otherwise be ignored without a word, leaving its default in force.
 */
export function unknownSettings(env: Env, schemas: Array<{ shape: object }>): UnknownSetting[] {
  const known = [...new Set(schemas.flatMap((schema) => Object.keys(schema.shape)))];
  return Object.keys(env)
    .filter((name) => name.startsWith('DORMOUSE_') && !known.includes(name))
    .sort()
    .map((name) => ({
      name,
      closest: known.reduce((best, candidate) => (editDistance(name, candidate) < editDistance(name, best) ? candidate : best)),
    }));
}

/** Levenshtein distance: the fewest insertions, deletions and substitutions from `a` to `b`. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

export function loadApiConfig(env: Env = process.env): ApiConfig {
  const parsed = parseEnv(apiSchema, env);
  // On Lambda admins are IAM principals on the allowlist: a shared secret in the function's
  // environment, readable by anyone who can read its configuration, must not open the admin routes.
  const onLambda = parsed.AWS_LAMBDA_FUNCTION_NAME !== undefined;
  const warnings =
    onLambda && parsed.DORMOUSE_ADMIN_TOKEN
      ? ['DORMOUSE_ADMIN_TOKEN is ignored on AWS Lambda: admins sign their requests with IAM (DORMOUSE_ADMIN_PRINCIPALS)']
      : [];
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
    ...(parsed.DORMOUSE_ADMIN_TOKEN && !onLambda ? { adminToken: parsed.DORMOUSE_ADMIN_TOKEN } : {}),
    adminPrincipals: parsed.DORMOUSE_ADMIN_PRINCIPALS,
    warnings,
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

const commaList = commaSeparated.check(z.refine((items) => items.length > 0, 'must list at least one id, separated by commas'));

const reconcilerSchema = z.object({
  DORMOUSE_TABLE_NAME: z.string().check(z.minLength(3)),
  // Required on AWS: a default shared by two stacks would let them adopt each other's resources.
  DORMOUSE_INSTALLATION: installationId,
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
  // Persistent data: set together by the CDK app when `dormouse.dataPath` is set.
  DORMOUSE_DATA_PATH: z.optional(z.string().check(z.regex(/^\/[^:]*$/, 'must be an absolute container path like /data'))),
  DORMOUSE_FILE_SYSTEM_ID: z.optional(
    z.string().check(z.regex(/^fs-[0-9a-f]+$/, 'must be an EFS file system id like fs-0123456789abcdef0')),
  ),
  DORMOUSE_DATA_CLEANER_FUNCTION: z.optional(z.string().check(z.minLength(1))),
  DORMOUSE_HANDOVER: z._default(z.enum(HANDOVERS), 'stop-first'),
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
  persistentData: false,
  handover: 'stop-first',
} as const;

export interface ReconcilerConfig {
  tenantTable: string;
  /** Part of every name and tag of the resources the reconciler creates; set by the CDK app. */
  installation: string;
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
  /** Each tenant's persistent data on EFS; absent when the installation is stateless. */
  storage?: { dataPath: string; fileSystemId: string; cleanerFunction: string };
  /** With persistent data: whether a Spot replacement stops the old task before the new one mounts the data. */
  handover: Handover;
}

export function loadReconcilerConfig(env: Env = process.env): ReconcilerConfig {
  const parsed = parseEnv(reconcilerSchema, env);
  const dataPath = parsed.DORMOUSE_DATA_PATH;
  const missing = dataPath ? (['DORMOUSE_FILE_SYSTEM_ID', 'DORMOUSE_DATA_CLEANER_FUNCTION'] as const).filter((name) => !parsed[name]) : [];
  if (missing.length > 0) throw new ConfigError(missing.map((name) => `${name}: is required when DORMOUSE_DATA_PATH is set`));
  return {
    tenantTable: parsed.DORMOUSE_TABLE_NAME,
    installation: parsed.DORMOUSE_INSTALLATION,
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
    ...(dataPath
      ? {
          storage: {
            dataPath,
            fileSystemId: parsed.DORMOUSE_FILE_SYSTEM_ID!,
            cleanerFunction: parsed.DORMOUSE_DATA_CLEANER_FUNCTION!,
          },
        }
      : {}),
    handover: parsed.DORMOUSE_HANDOVER,
  };
}

export const embeddedInstallationSchema = z.object({ DORMOUSE_INSTALLATION: z._default(installationId, LOCAL_INSTALLATION) });

/** Embedded mode's installation id: DORMOUSE_INSTALLATION, `local` by default. */
export function loadEmbeddedInstallation(env: Env = process.env): string {
  return parseEnv(embeddedInstallationSchema, env).DORMOUSE_INSTALLATION;
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
  DORMOUSE_ANONYMOUS_WAKES_PER_HOUR: z._default(positiveInt.check(z.maximum(60)), 6),
});

export interface WakeConfig {
  tenantTable: string;
  /** Its hostname is the root domain: a request for `<slug>.<hostname>` names tenant `<slug>`. */
  baseUrl: URL;
  /** Must match the reconciler's: a wake evicts an idle tenant when this many slots are taken. */
  maxActiveTenants: number;
  /** A woken tenant is not evicted for another before it has run, and been idle, this long. */
  minRunMs: number;
  /** How often in an hour requests to its address may wake one tenant. */
  anonymousWakesPerHour: number;
}

export function loadWakeConfig(env: Env = process.env): WakeConfig {
  const parsed = parseEnv(wakeSchema, env);
  return {
    tenantTable: parsed.DORMOUSE_TABLE_NAME,
    baseUrl: parsed.DORMOUSE_BASE_URL,
    maxActiveTenants: parsed.DORMOUSE_MAX_ACTIVE_TENANTS,
    minRunMs: parsed.DORMOUSE_MIN_RUN_MINUTES * 60_000,
    anonymousWakesPerHour: parsed.DORMOUSE_ANONYMOUS_WAKES_PER_HOUR,
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
  DORMOUSE_STUCK_MINUTES: z._default(positiveInt, 15),
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
  /** A tenant in a passing phase (Provisioning, Deleting, …) this long is reported as stuck. */
  stuckMs: number;
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
    stuckMs: parsed.DORMOUSE_STUCK_MINUTES * 60_000,
  };
}
