import * as z from 'zod';
import { installationProblem } from '../shared/domain/installation.js';
import { FARGATE_MEMORY, fargateMemoryChoices } from '../shared/domain/plans.js';
import type { PlanCatalog } from '../shared/domain/plans.js';
import type { TaskArchitecture } from '../shared/domain/prices.js';
import { SLUG_MAX_LENGTH } from '../shared/domain/slug.js';
import { ConfigError, WAKE_HOLD_MAX_SECONDS, declaredDefault, settingProblem, type SettingName } from '../shared/config/settings.js';
import { PLANS_KEY, resolvePlans } from './plans.js';

/**
 * Everything a platform engineer can set when installing Dormouse, read from the `dormouse`
 * object in cdk.json's context (or `-c dormouse.<key>=<value>` on the command line) and
 * validated once at synth. A mistake fails the synth with the key and the form it expects,
 * never half-way through a deployment. Where a key and the variable it becomes share a default,
 * the default is the variable's declared one (shared/config/settings.ts).
 */

export class DormouseConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid Dormouse configuration (cdk.json context "dormouse", or -c dormouse.<key>=<value>):\n  ${problems.join('\n  ')}`);
    this.name = 'DormouseConfigError';
  }
}

/** An ALB host condition takes at most 128 characters, and tenant hosts are `<slug>.<domain>`. */
const MAX_DOMAIN_LENGTH = 128 - SLUG_MAX_LENGTH - 1;

const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
const AVAILABILITY_ZONE = /^([a-z]{2}(-[a-z]+)+-\d+)[a-z]$/;
const CERTIFICATE_ARN = /^arn:aws[a-z-]*:acm:([a-z]{2}(?:-[a-z]+)+-\d+):\d{12}:certificate\/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/;
const HOSTED_ZONE_ID = /^Z[A-Z0-9]{1,31}$/;
const VPC_ID = /^vpc-[0-9a-f]{8,17}$/;
const SUBNET_ID = /^subnet-[0-9a-f]{8,17}$/;
/** `name[:tag][@digest]`, optionally behind a registry host; no spaces, no scheme. */
const IMAGE = /^[a-z0-9]([a-z0-9._\-/:]*[a-z0-9])?(:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?$/i;
const IMAGE_FORM = 'must be a container image like <account>.dkr.ecr.<region>.amazonaws.com/app:1.0 or public.ecr.aws/org/app:1.0';
const ADMIN_PRINCIPAL = /^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[\w+=,.@/-]{1,512}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DATA_PATH_FORM =
  'must be an absolute path in the container like /data (letters, digits, ".", "_" and "-" between slashes), or "" for no persistent data';
/** Paths the container's runtime owns: a volume there would hide or break the system. */
const SYSTEM_PATHS = ['/proc', '/sys', '/dev', '/etc', '/bin', '/sbin', '/lib', '/usr'];

/** An absolute path of plain names: no `.` or `..` part, no trailing slash, not `/` itself. */
function isDataPath(path: string): boolean {
  return /^(\/[A-Za-z0-9._-]+)+$/.test(path) && !path.split('/').some((part) => part === '.' || part === '..');
}

/** Set per task by the reconciler; a static value would be overridden and only mislead. */
const PER_TASK_ENV = new Set(['TENANT_ID', 'TENANT_HOST']);

/** CloudWatch Logs accepts only these retention periods. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const wholeNumber = (min: number, max: number, why = '') =>
  z
    .number({ error: `must be a whole number from ${min} to ${max}${why}` })
    .int({ error: `must be a whole number from ${min} to ${max}${why}` })
    .min(min, { error: `must be a whole number from ${min} to ${max}${why}` })
    .max(max, { error: `must be a whole number from ${min} to ${max}${why}` });

const dnsName = (example: string) =>
  z
    .string({ error: `must be a DNS name like ${example}` })
    .transform((value) => value.trim().toLowerCase().replace(/\.$/, ''))
    .refine((value) => DNS_NAME.test(value), { error: `must be a DNS name like ${example}` });

const flag = (example: boolean) => z.boolean({ error: `must be true or false (like ${example})` });

const throttle = (fallback: { rate: number; burst: number }) =>
  z
    .strictObject(
      {
        rate: z
          .number({ error: 'must be a number of requests per second greater than 0 (like 10)' })
          .positive({ error: 'must be a number of requests per second greater than 0 (like 10)' })
          .max(10_000, { error: 'must be at most 10000 requests per second (the account default)' }),
        burst: wholeNumber(1, 5000),
      },
      { error: `must be an object like {"rate": ${fallback.rate}, "burst": ${fallback.burst}}` },
    )
    .default(fallback);

const origin = z.string().refine(
  (value) => {
    if (value === '*') return true;
    try {
      const url = new URL(value);
      return ['http:', 'https:'].includes(url.protocol) && url.origin === value;
    } catch {
      return false;
    }
  },
  { error: 'must be "*" or an origin like https://www.example.com (scheme and host, no path or trailing slash)' },
);

/** A value written to the functions as `name`: checked here with the very parser they read it with. */
const asSetting = (name: SettingName) =>
  z.string({ error: 'must be a string' }).superRefine((value, ctx) => {
    const problem = settingProblem(name, value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** The operator's branding of the signup, waking and failed pages, written to the API and wake functions. */
const branding = z
  .strictObject(
    {
      name: asSetting('DORMOUSE_BRAND_NAME').optional(),
      logoUrl: asSetting('DORMOUSE_BRAND_LOGO_URL').optional(),
      accent: asSetting('DORMOUSE_BRAND_ACCENT').default(declaredDefault('DORMOUSE_BRAND_ACCENT')),
      supportUrl: asSetting('DORMOUSE_SUPPORT_URL').optional(),
    },
    { error: 'must be an object like {"name": "Acme", "logoUrl": "https://…", "accent": "#1565c0", "supportUrl": "https://…"}' },
  )
  .default({ accent: declaredDefault('DORMOUSE_BRAND_ACCENT') });

const schema = z
  .strictObject(
    {
      /**
       * Names this installation in every AWS name and tag of tenant resources, so installations
       * sharing an account and region never touch each other's. Never change it on a live install.
       * @default derived from the stack name (see installationFromStackName)
       */
      installation: z
        .string({ error: installationProblem('') ?? '' })
        .refine((value) => installationProblem(value) === undefined, { error: installationProblem('') ?? '' })
        .optional(),
      /** Root domain of tenant hosts: tenants are served at `<slug>.<domain>`. */
      domain: dnsName('trials.example.com').refine((value) => value.length <= MAX_DOMAIN_LENGTH, {
        error: `must be at most ${MAX_DOMAIN_LENGTH} characters, so that <slug>.<domain> fits an ALB host condition (128)`,
      }),
      /** ACM certificate for `*.<domain>` in the stack's region; without one the ALB serves plain HTTP (demo mode). */
      certificateArn: z
        .string({ error: 'must be an ACM certificate ARN like arn:aws:acm:us-east-1:123456789012:certificate/<uuid>' })
        .regex(CERTIFICATE_ARN, {
          error: 'must be an ACM certificate ARN like arn:aws:acm:us-east-1:123456789012:certificate/<uuid>',
        })
        .optional(),
      /** Route 53 hosted zone that gets a `*.<domain>` alias to the ALB; both or neither. */
      hostedZoneId: z
        .string({ error: 'must be a Route 53 hosted zone id like Z0123456789ABCDEFGHIJ' })
        .regex(HOSTED_ZONE_ID, { error: 'must be a Route 53 hosted zone id like Z0123456789ABCDEFGHIJ' })
        .optional(),
      hostedZoneName: dnsName('example.com').optional(),
      /** Region to deploy to. @default the region of `availabilityZones` */
      region: z
        .string({ error: 'must be an AWS region like us-east-1' })
        .regex(REGION, { error: 'must be an AWS region like us-east-1' })
        .optional(),
      /** Given explicitly so that synth never looks them up. */
      availabilityZones: z
        .array(
          z
            .string({ error: 'must be an availability zone name like us-east-1a' })
            .regex(AVAILABILITY_ZONE, { error: 'must be an availability zone name like us-east-1a' }),
          { error: 'must be a list of availability zone names like ["us-east-1a", "us-east-1b"]' },
        )
        .min(2, { error: 'must list at least two availability zones (an ALB needs two)' })
        .max(6, { error: 'must list at most six availability zones' })
        .refine((zones) => new Set(zones).size === zones.length, { error: 'must not list a zone twice' }),
      /** An existing VPC; its subnets are given by id, one per zone, in the order of `availabilityZones`. */
      vpcId: z
        .string({ error: 'must be a VPC id like vpc-0123456789abcdef0' })
        .regex(VPC_ID, { error: 'must be a VPC id like vpc-0123456789abcdef0' })
        .optional(),
      publicSubnetIds: z
        .array(z.string().regex(SUBNET_ID, { error: 'must be a subnet id like subnet-0123456789abcdef0' }), {
          error: 'must be a list of subnet ids like ["subnet-0123456789abcdef0", …]',
        })
        .optional(),
      privateSubnetIds: z
        .array(z.string().regex(SUBNET_ID, { error: 'must be a subnet id like subnet-0123456789abcdef0' }), {
          error: 'must be a list of subnet ids like ["subnet-0123456789abcdef0", …]',
        })
        .optional(),
      /** NAT gateways of a new VPC: tenant tasks in private subnets pull their image through them. */
      natGateways: wholeNumber(1, 6).default(1),
      /**
       * The tenant application image.
       * @default the demo app of `demo/`, built at deploy time as an image asset on an ECR Public base
       */
      image: z.string({ error: IMAGE_FORM }).regex(IMAGE, { error: IMAGE_FORM }).optional(),
      /**
       * CPU architecture of every tenant task. Fargate Spot runs both (arm64 since September 2024,
       * on platform 1.4.0), and arm64 (Graviton) costs about 20 % less.
       * @default arm64 when every tenant runs the demo app (built for either at deploy); x86_64 as
       * soon as `image` or a plan names an image, which synth cannot inspect
       */
      architecture: z.enum(['arm64', 'x86_64'], { error: 'must be "arm64" or "x86_64"' }).optional(),
      containerPort: wholeNumber(1, 65_535).default(declaredDefault('DORMOUSE_CONTAINER_PORT')),
      /**
       * The plans (a list, or the path of a JSON file holding one), read by the functions' own
       * parser (shared/config/plans.ts), which names the plan and the field of every mistake.
       * @default the built-in `trial` and `pro` at `cpu`/`memory`, `idleTimeoutMinutes` and `trialDays`
       */
      plans: z.unknown().optional(),
      /** Fargate CPU units: the installation's task definition, and the built-in plans. */
      cpu: z
        .number({ error: 'must be one of the Fargate CPU sizes 256, 512, 1024, 2048, 4096, 8192, 16384' })
        .refine((cpu) => FARGATE_MEMORY[cpu] !== undefined, {
          error: 'must be one of the Fargate CPU sizes 256, 512, 1024, 2048, 4096, 8192, 16384',
        })
        .default(256),
      /** MiB; must suit `cpu` (Fargate's table). */
      memory: wholeNumber(512, 122_880).default(512),
      healthCheckPath: z
        .string({ error: 'must be a path like / or /healthz' })
        .regex(/^\/[\x21-\x7e]{0,1023}$/, { error: 'must be a path like / or /healthz' })
        .default(declaredDefault('DORMOUSE_HEALTH_CHECK_PATH')),
      /** Non-secret environment of every tenant container; `TENANT_ID` and `TENANT_HOST` are set per task. */
      environment: z
        .record(
          z.string().regex(ENV_NAME, { error: 'must be a variable name like APP_MODE (letters, digits, _)' }),
          z.string({ error: 'must be a string value' }),
          { error: 'must be an object of variable names to string values' },
        )
        .refine((env) => !Object.keys(env).some((name) => PER_TASK_ENV.has(name)), {
          error: 'must not set TENANT_ID or TENANT_HOST: the reconciler sets them on each task',
        })
        .default({}),
      /** A running tenant with no traffic for this long is passivated (used by the sweep). */
      idleTimeoutMinutes: wholeNumber(5, 10_080).default(declaredDefault('DORMOUSE_IDLE_MINUTES')),
      /**
       * A tenant is not passivated, nor evicted to make room for another, before it has run this
       * long after a start or a wake (used by the sweep and the wake function).
       */
      minRunMinutes: wholeNumber(1, 1440).default(declaredDefault('DORMOUSE_MIN_RUN_MINUTES')),
      /** How long before its keep-warm hours begin a sleeping tenant is woken (used by the sweep). */
      warmLeadMinutes: wholeNumber(1, 60).default(declaredDefault('DORMOUSE_WARM_LEAD_MINUTES')),
      /**
       * Keeps awake a tenant whose task receives more than this many bytes per second in a minute,
       * requests or not (a WebSocket's messages): turns on Container Insights with enhanced
       * observability on the tenant cluster, whose task metrics the sweep reads. 0: requests only.
       */
      networkActivityBytesPerSecond: wholeNumber(0, 1_000_000_000).default(declaredDefault('DORMOUSE_NETWORK_ACTIVITY_BYTES_PER_SECOND')),
      /** A tenant in a passing phase (Provisioning, Deleting, …) this long raises the stuck-tenants alarm. */
      stuckMinutes: wholeNumber(5, 1440).default(declaredDefault('DORMOUSE_STUCK_MINUTES')),
      /** How often the sweep runs (EventBridge Scheduler). */
      sweepRateMinutes: wholeNumber(1, 60).default(1),
      trialDays: wholeNumber(1, 366).default(declaredDefault('DORMOUSE_TRIAL_DAYS')),
      /** How long before a trial ends the `Tenant Expiring` event goes out. */
      expiringNoticeHours: wholeNumber(1, 366 * 24).default(declaredDefault('DORMOUSE_EXPIRING_NOTICE_HOURS')),
      /** Live tenants, running or asleep. */
      maxTenants: wholeNumber(1, 1_000_000).default(declaredDefault('DORMOUSE_MAX_TENANTS')),
      /** Tenants with a task and a host rule at once. */
      maxActiveTenants: wholeNumber(1, 99, ' (an ALB takes at most 100 target groups, one of which is the wake function)').default(
        declaredDefault('DORMOUSE_MAX_ACTIVE_TENANTS'),
      ),
      /**
       * Load balancers (shards), each with its own `maxActiveTenants` routing slots; more than one
       * needs hostedZoneId and hostedZoneName, where each tenant then gets its own record.
       */
      shards: wholeNumber(1, 20).default(declaredDefault('DORMOUSE_SHARDS')),
      /** Fargate Spot attempts before falling back to on-demand Fargate. */
      spotAttempts: wholeNumber(1, 20).default(declaredDefault('DORMOUSE_SPOT_ATTEMPTS')),
      onDemandFallback: flag(true).default(declaredDefault('DORMOUSE_ON_DEMAND_FALLBACK')),
      /** Restarts of a crashing tenant before it is marked Failed. */
      maxRestarts: wholeNumber(1, 100).default(declaredDefault('DORMOUSE_MAX_RESTARTS')),
      /** How long a deleted tenant's tombstone keeps its slug taken. */
      tombstoneDays: wholeNumber(1, 365).default(declaredDefault('DORMOUSE_TOMBSTONE_DAYS')),
      /** How long a signup can be replayed with its Idempotency-Key. */
      idempotencyTtlSeconds: wholeNumber(60, 86_400).default(declaredDefault('DORMOUSE_IDEMPOTENCY_TTL_SECONDS')),
      /**
       * IAM roles and users that may use the admin routes: `arn:aws:iam::<account>:role/<name>` (a
       * session of the role, as the IAM authorizer reports it, matches) or `…:user/<name>`. Any
       * other IAM-signed caller is refused (403).
       */
      adminPrincipals: z
        .array(
          z.string().regex(ADMIN_PRINCIPAL, {
            error: 'must be an IAM role or user ARN like arn:aws:iam::123456789012:role/DormouseAdmin',
          }),
          { error: 'must be a list of IAM role or user ARNs like ["arn:aws:iam::123456789012:role/DormouseAdmin"]' },
        )
        .refine((arns) => arns.join(',').length <= 4096, { error: 'must fit in 4096 characters (a Lambda environment value)' })
        .default([]),
      /**
       * Concurrent executions reserved for (and capping) the reconcile function, so that a burst of
       * tenant changes cannot take the account's whole pool from the API and wake functions.
       */
      reconcileConcurrency: wholeNumber(1, 900, ' (the account default is 1000, and Lambda keeps 100 unreserved)').default(20),
      /**
       * Concurrent executions reserved for (and capping) the wake function. Anyone can make it hold
       * a request for up to `wakeHoldSeconds`; the cap keeps such requests from taking the account's
       * whole pool (the API, the task events) and bounds what they cost.
       */
      wakeConcurrency: wholeNumber(1, 900, ' (the account default is 1000, and Lambda keeps 100 unreserved)').default(50),
      /**
       * How many times in an hour a request to a sleeping tenant's address may wake it; past
       * that the visitor is told it is resting, and only its owner (API, with its token) can wake it.
       */
      anonymousWakesPerHour: wholeNumber(1, 60).default(declaredDefault('DORMOUSE_ANONYMOUS_WAKES_PER_HOUR')),
      /**
       * How long the wake function holds a request that is not a browser navigation while its
       * tenant wakes (then 307 once it serves, else 503); the function's timeout follows it.
       */
      wakeHoldSeconds: wholeNumber(0, WAKE_HOLD_MAX_SECONDS).default(declaredDefault('DORMOUSE_WAKE_HOLD_SECONDS')),
      /** Stage-wide: every route without its own setting below (tenant commands, the page). */
      apiThrottle: throttle({ rate: 10, burst: 20 }),
      /** POST /tenants and GET /verify: far below status reads, as every signup may start a paid task. */
      signupThrottle: throttle({ rate: 1, burst: 5 }),
      /** GET /tenants/{id}: the signup page polls it while a tenant starts. */
      statusThrottle: throttle({ rate: 50, burst: 100 }),
      /** Signups per source address and hour, counted in DynamoDB across Lambda instances; 0 turns the limit off. */
      signupsPerHour: wholeNumber(0, 100_000).default(5),
      /** Start a trial only once the owner opens a link mailed to the address (sent through SES). */
      verifyEmail: flag(true).default(true),
      /**
       * The From address of verification mails: an address (or its domain) verified as an SES
       * identity in the stack's region. @default no-reply@<domain>
       */
      emailSender: z.email({ error: 'must be an email address like trials@example.com, verified in SES' }).optional(),
      /** Product name, logo, accent colour and support link on the pages people see. @default no branding, accent #1565c0 */
      branding,
      corsAllowOrigins: z
        .array(origin, { error: 'must be a list of origins like ["https://www.example.com"]' })
        .min(1, { error: 'must list at least one origin, or be left out' })
        .refine((origins) => !origins.includes('*') || origins.length === 1, {
          error: 'must be ["*"] alone or a list of origins, not both',
        })
        .optional(),
      logRetentionDays: z
        .number({ error: `must be one of ${LOG_RETENTION_DAYS.join(', ')}` })
        .refine((days) => (LOG_RETENTION_DAYS as readonly number[]).includes(days), {
          error: `must be one of ${LOG_RETENTION_DAYS.join(', ')}`,
        })
        .default(30),
      /** Where alarms and failed-tenant notices go; the SNS topic exists either way. */
      alarmEmail: z.email({ error: 'must be an email address like ops@example.com' }).optional(),
      /**
       * An existing S3 bucket that already accepts ALB access logs.
       * @default a bucket of this stack (encrypted, TLS only, not public, objects expire after accessLogsDays)
       */
      accessLogsBucket: z
        .string({ error: 'must be an S3 bucket name like my-alb-logs' })
        .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { error: 'must be an S3 bucket name like my-alb-logs' })
        .optional(),
      /** Days the stack's own access log bucket keeps a log file. */
      accessLogsDays: wholeNumber(1, 3650).default(90),
      /**
       * Where each tenant's container finds its own persistent directory (an EFS access point of
       * its own, mounted there). Left out or empty: tenants are stateless and no file system is made.
       */
      dataPath: z
        .string({ error: DATA_PATH_FORM })
        .refine((path) => path === '' || isDataPath(path), { error: DATA_PATH_FORM })
        .transform((path) => (path === '' ? undefined : path))
        .optional(),
      /**
       * How a tenant's task is replaced (a Spot interruption): `stop-first` stops the old task
       * before the new one mounts the data, so one process writes it at a time; `overlap` starts
       * the new one first, for apps that are safe with two writers.
       */
      handover: z.enum(['stop-first', 'overlap'], { error: 'must be "stop-first" or "overlap"' }).default('stop-first'),
      /** Daily AWS Backup of the tenant file system (35 days kept). Needs dataPath. */
      backup: flag(false).default(false),
      /** The storage alarm fires when the tenant file system holds more than this many GiB. */
      storageAlarmGiB: wholeNumber(1, 1_000_000).default(50),
    },
    { error: 'must be an object' },
  )
  .superRefine((config, ctx) => {
    const issue = (key: string, message: string) => ctx.addIssue({ code: 'custom', path: [key], message });

    const memoryChoices = fargateMemoryChoices(config.cpu);
    if (memoryChoices.length > 0 && !memoryChoices.includes(config.memory)) {
      issue(
        'memory',
        `must suit cpu ${config.cpu} on Fargate: one of ${memoryChoices.length > 8 ? `${memoryChoices[0]} to ${memoryChoices.at(-1)} in steps of ${FARGATE_MEMORY[config.cpu]?.step}` : memoryChoices.join(', ')}`,
      );
    }

    if ((config.hostedZoneId === undefined) !== (config.hostedZoneName === undefined)) {
      issue(
        config.hostedZoneId === undefined ? 'hostedZoneId' : 'hostedZoneName',
        'must be set together with hostedZoneId and hostedZoneName (the zone that holds the domain)',
      );
    }
    if (config.shards > 1 && config.hostedZoneId === undefined) {
      issue(
        'shards',
        'more than one needs hostedZoneId and hostedZoneName: each tenant then gets its own DNS record pointing at its shard, instead of one *.<domain> record',
      );
    }
    if (
      config.hostedZoneName !== undefined &&
      config.domain !== config.hostedZoneName &&
      !config.domain.endsWith(`.${config.hostedZoneName}`)
    ) {
      issue('hostedZoneName', `must be ${config.domain} or a parent of it, like example.com`);
    }

    const zoneRegions = new Set(config.availabilityZones.map((zone) => AVAILABILITY_ZONE.exec(zone)?.[1]));
    const region = config.region ?? [...zoneRegions][0];
    if (zoneRegions.size > 1 || (region !== undefined && !zoneRegions.has(region))) {
      issue('availabilityZones', `must all be zones of one region${config.region ? ` (${config.region})` : ''}`);
    }
    const certificateRegion = config.certificateArn && CERTIFICATE_ARN.exec(config.certificateArn)?.[1];
    if (certificateRegion && region && certificateRegion !== region) {
      issue('certificateArn', `must be a certificate in ${region}, the stack's region (ALB certificates are regional)`);
    }

    if (config.vpcId === undefined) {
      for (const key of ['publicSubnetIds', 'privateSubnetIds'] as const) {
        if (config[key] !== undefined) issue(key, 'is only used with vpcId (an existing VPC); leave it out for a new VPC');
      }
    } else {
      for (const key of ['publicSubnetIds', 'privateSubnetIds'] as const) {
        const subnets = config[key];
        if (subnets?.length !== config.availabilityZones.length) {
          issue(
            key,
            `must list one subnet id per availability zone (${config.availabilityZones.length}), in the same order, when vpcId is set`,
          );
        }
      }
    }
    if (config.expiringNoticeHours >= config.trialDays * 24) {
      issue('expiringNoticeHours', `must be shorter than the trial (trialDays ${config.trialDays} = ${config.trialDays * 24} hours)`);
    }
    if (config.warmLeadMinutes < config.sweepRateMinutes) {
      issue(
        'warmLeadMinutes',
        `must be at least sweepRateMinutes (${config.sweepRateMinutes}): the sweep that wakes a tenant ahead of its hours may come that much later`,
      );
    }
    if (config.sweepRateMinutes > config.idleTimeoutMinutes) {
      issue(
        'sweepRateMinutes',
        `must be at most idleTimeoutMinutes (${config.idleTimeoutMinutes}): a slower sweep leaves idle tenants running well past the timeout`,
      );
    }
    const dataPath = config.dataPath;
    if (dataPath !== undefined && SYSTEM_PATHS.some((system) => dataPath === system || dataPath.startsWith(`${system}/`))) {
      issue(
        'dataPath',
        `must not be a system directory of the container (${SYSTEM_PATHS.join(', ')}): a volume there hides what the image put there`,
      );
    }
    if (config.backup && dataPath === undefined) {
      issue('backup', 'backs up the tenant file system, which exists only with dataPath: set dataPath or leave backup out');
    }
    if (config.natGateways > config.availabilityZones.length) {
      issue('natGateways', `must be at most the number of availability zones (${config.availabilityZones.length})`);
    }
  });

/**
 * Whether `image` is pulled from Docker Hub: no registry host in front of the name (the first
 * part has no dot or port and is not localhost), or Docker Hub's own hosts named.
 */
export function isDockerHubImage(image: string): boolean {
  const slash = image.indexOf('/');
  if (slash === -1) return true;
  const first = image.slice(0, slash).toLowerCase();
  if (['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com'].includes(first)) return true;
  return !first.includes('.') && !first.includes(':') && first !== 'localhost';
}

export type { TaskArchitecture };

/**
 * The architecture tenant tasks run on: the configured one, else arm64 if no image other than the
 * demo app's is named. An image named in the configuration may be built for x86_64 only, and a
 * task whose image lacks its architecture fails to start ("exec format error"), so such an
 * installation stays on x86_64 unless told arm64.
 */
export function tenantArchitecture(config: Pick<DormouseConfig, 'architecture' | 'image' | 'plans'>): TaskArchitecture {
  if (config.architecture) return config.architecture;
  const namesAnImage = config.image !== undefined || config.plans.plans.some((plan) => plan.image !== undefined);
  return namesAnImage ? 'x86_64' : 'arm64';
}

export type DormouseConfigInput = z.input<typeof schema>;

export type DormouseConfig = Omit<z.output<typeof schema>, 'plans'> & {
  /** The plans, resolved: `dormouse.plans`, or the built-in ones. */
  plans: PlanCatalog;
  /** The region the stack deploys to. */
  region: string;
  /** `https://<domain>`, or `http://<domain>` without a certificate: tenants are `<scheme>://<slug>.<domain>`. */
  baseUrl: string;
  /** CORS origins for the signup page, defaulted. */
  corsAllowOrigins: string[];
  emailSender: string;
};

/** Validates the `dormouse` context object; throws a DormouseConfigError that names every bad key. */
export function parseDormouseConfig(input: unknown): DormouseConfig {
  const result = schema.safeParse(input ?? {});
  const plans = readPlans(result.success ? result.data : undefined, valueAt(input ?? {}, ['plans']));
  if (!result.success || plans.problems.length > 0) {
    throw new DormouseConfigError([
      ...(result.success ? [] : result.error.issues).map((issue) => {
        const key = ['dormouse', ...issue.path.map(String)].join('.');
        if (issue.code === 'unrecognized_keys') {
          return `${key}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (check the spelling)`;
        }
        // Zod reports a fraction where a whole number belongs as `invalid_type` too, so presence is checked on the input.
        if (issue.code === 'invalid_type' && valueAt(input ?? {}, issue.path) === undefined) return `${key}: is required; ${issue.message}`;
        return `${key}: ${issue.message}`;
      }),
      ...plans.problems,
    ]);
  }
  const config = result.data;
  const region = config.region ?? AVAILABILITY_ZONE.exec(config.availabilityZones[0] ?? '')?.[1] ?? '';
  const baseUrl = `${config.certificateArn ? 'https' : 'http'}://${config.domain}`;
  return {
    ...config,
    plans: plans.catalog as PlanCatalog,
    region,
    baseUrl,
    corsAllowOrigins: config.corsAllowOrigins ?? [baseUrl],
    emailSender: config.emailSender ?? `no-reply@${config.domain}`,
  };
}

/**
 * The plans, or the lines that say what is wrong with them. Beyond what the functions' parser
 * checks, what only an installation on AWS decides: a plan's image must be one ECS can pull, a
 * plan must not sleep sooner than the sweep looks, and a trial must outlast its expiring notice.
 * Without the rest of the configuration (itself wrong) only the parser's checks are made.
 */
function readPlans(config: z.output<typeof schema> | undefined, input: unknown): { catalog?: PlanCatalog; problems: string[] } {
  let catalog: PlanCatalog;
  try {
    catalog = resolvePlans(input, config ?? { cpu: 256, memory: 512, idleTimeoutMinutes: 15, trialDays: 14 });
  } catch (error) {
    if (error instanceof ConfigError) return { problems: error.problems };
    throw error;
  }
  if (!config || input === undefined) return { catalog, problems: [] };
  const problems = catalog.plans.flatMap((plan) => {
    const where = `${PLANS_KEY}: plan "${plan.name}"`;
    const found: string[] = [];
    if (plan.image !== undefined && !IMAGE.test(plan.image)) found.push(`${where}, image: ${IMAGE_FORM}`);
    if (plan.idleMs !== undefined && plan.idleMs < config.sweepRateMinutes * 60_000) {
      found.push(
        `${where}, sleepAfterMinutes: must be at least sweepRateMinutes (${config.sweepRateMinutes}): the sweep, which puts tenants to sleep, looks only that often`,
      );
    }
    if (plan.trialDays !== undefined && config.expiringNoticeHours >= plan.trialDays * 24) {
      found.push(
        `${where}, trialDays: must be longer than expiringNoticeHours (${config.expiringNoticeHours}), or every trial is told it ends as it begins`,
      );
    }
    return found;
  });
  return { catalog, problems };
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const part of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return value;
}

/**
 * The `dormouse` context object, with `-c dormouse.<key>=<value>` overrides applied. Values
 * given on the command line arrive as strings, so JSON-looking ones (numbers, booleans,
 * lists) are parsed before validation.
 */
export function dormouseContext(allContext: Record<string, unknown>): Record<string, unknown> {
  const base = allContext.dormouse;
  const merged: Record<string, unknown> =
    typeof base === 'object' && base !== null && !Array.isArray(base) ? structuredClone(base as Record<string, unknown>) : {};
  for (const [key, raw] of Object.entries(allContext)) {
    if (!key.startsWith('dormouse.')) continue;
    const path = key.slice('dormouse.'.length).split('.');
    let target = merged;
    for (const part of path.slice(0, -1)) {
      const next = target[part];
      target = (target[part] = typeof next === 'object' && next !== null ? next : {}) as Record<string, unknown>;
    }
    target[path.at(-1) as string] = typeof raw === 'string' ? parseCommandLineValue(raw) : raw;
  }
  return merged;
}

function parseCommandLineValue(raw: string): unknown {
  if (/^(true|false|null|-?\d+(\.\d+)?)$/.test(raw) || /^[[{"]/.test(raw)) {
    try {
      return JSON.parse(raw);
    } catch {
      return raw;
    }
  }
  return raw;
}
