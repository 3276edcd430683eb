// zod's mini build: these schemas load at every cold start, and the classic build costs the API
// and wake functions about ten milliseconds more there.
import * as z from 'zod/mini';
import type { $ZodType, output } from 'zod/v4/core';
import { LOCAL_INSTALLATION, installationProblem } from '../domain/installation.js';
import { HANDOVERS } from '../domain/plan.js';

/**
 * Every `DORMOUSE_*` variable, declared once: its parser, its default, what it means and which
 * programs read it. The Lambda loaders, embedded mode, the CDK app (which writes the functions'
 * environment) and the README's configuration tables all come from here.
 */

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

export type Env = Record<string, string | undefined>;

/** The programs that read settings: the Lambda functions, and `npm start`'s embedded mode. */
export type Program = 'api' | 'wake' | 'reconciler' | 'sweep' | 'task-events' | 'stream-publisher' | 'tenant-data' | 'embedded';

/** The README table a setting is listed in. */
export type SettingGroup = 'api' | 'embedded' | 'reconciler' | 'sweep';

export interface Setting {
  /** Reads the variable's text (never empty: empty values count as unset). */
  parser: $ZodType;
  /** As it would be written in the environment. */
  default?: string;
  /** Embedded mode's own default, where it has one and AWS has none or another. */
  localDefault?: string;
  /** What leaving it unset means, for a setting with no default; a setting with neither is required. */
  unset?: string;
  /** More about the default, for the README (such as what the CDK app sets). */
  note?: string;
  /** One line for the README. */
  meaning: string;
  readBy: readonly Program[];
  group: SettingGroup;
}

/** A held request must end well before the ALB's 60 s idle timeout closes its connection. */
export const WAKE_HOLD_MAX_SECONDS = 50;

const positiveInt = z.coerce.number().check(z.int(), z.positive());
const nonNegativeInt = z.coerce.number().check(z.int(), z.nonnegative());
/** Embedded mode's durations: fractions allowed, for quick tests. */
const positiveNumber = z.coerce.number().check(z.positive());
const port = z.coerce.number().check(z.int(), z.minimum(0), z.maximum(65_535));
const nonEmpty = z.string().check(z.minLength(1));
const tableName = z.string().check(z.minLength(3));
const path = z.string().check(z.startsWith('/', 'must start with /'));
const fileSystemId = z.string().check(z.regex(/^fs-[0-9a-f]+$/, 'must be an EFS file system id like fs-0123456789abcdef0'));

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

const commaList = commaSeparated.check(z.refine((items) => items.length > 0, 'must list at least one id, separated by commas'));

const adminPrincipalList = commaSeparated.check(
  z.refine(
    (arns) => arns.every((arn) => ADMIN_PRINCIPAL.test(arn)),
    'must be IAM role or user ARNs separated by commas, like arn:aws:iam::123456789012:role/DormouseAdmin',
  ),
);

const installationId = z
  .string()
  .check(
    z.refine((value: string) => installationProblem(value) === undefined, installationProblem('') ?? 'is not a valid installation id'),
  );

const emailSender = z
  .string()
  .check(
    z.regex(/^(?:[^<>]*<)?[^\s@<>]+@[^\s@<>]+\.?[^\s@<>]*>?$/, 'must be an address like trials@example.com or "Name <trials@example.com>"'),
  );

/**
 * An https address (logos and support pages are shown to visitors on https pages), short enough
 * to leave room for the rest in a function's 4 KB environment.
 */
const httpsUrl = z
  .pipe(
    z.url().check(z.maxLength(256, 'must be at most 256 characters')),
    z.transform((value: string) => new URL(value)),
  )
  .check(z.refine((url) => url.protocol === 'https:', 'must be an https:// address'));

/** A colour the pages' stylesheet takes as it is: `#rgb` or `#rrggbb`. */
const hexColour = z.string().check(z.regex(/^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/, 'must be a colour like #1565c0 or #c60'));

const ALB_TARGET_GROUPS = 'must stay under the ALB hard limit of 100 target groups';

export const SETTINGS = {
  // ---- The API (and embedded mode, which runs it) ---------------------------------------------
  DORMOUSE_TABLE_NAME: {
    parser: tableName,
    localDefault: 'dormouse-tenants',
    meaning: 'tenant table',
    readBy: ['api', 'wake', 'reconciler', 'task-events', 'stream-publisher'],
    group: 'api',
  },
  DORMOUSE_INSTALLATION: {
    parser: installationId,
    // Required on AWS: a default shared by two stacks would let them adopt each other's resources.
    localDefault: LOCAL_INSTALLATION,
    note: 'the CDK app sets it',
    meaning:
      'installation id, 1 to 7 lowercase letters and digits starting with a letter: in the names and the `dormouse:installation` tag of every tenant task, target group and rule',
    readBy: ['reconciler', 'embedded'],
    group: 'api',
  },
  DORMOUSE_IDEMPOTENCY_TABLE_NAME: {
    parser: tableName,
    localDefault: 'dormouse-idempotency',
    meaning: 'Powertools idempotency table',
    readBy: ['api'],
    group: 'api',
  },
  DORMOUSE_BASE_URL: {
    parser: baseUrl,
    note: 'locally always `http://localhost:$DORMOUSE_GATEWAY_PORT`',
    meaning: 'tenants are served at `<scheme>://<slug>.<host>[:port]` of it, e.g. `https://trials.example.com`',
    readBy: ['api', 'wake', 'reconciler'],
    group: 'api',
  },
  DORMOUSE_PLANS: {
    parser: nonEmpty,
    unset:
      'the built-in plans: `trial` (public, Spot, sleeps when idle, `DORMOUSE_TRIAL_DAYS`) and `pro` (on-demand, never sleeps, no end)',
    note: 'the CDK app sets it from `dormouse.plans`',
    meaning: 'the plans, as JSON or the path of a JSON file (see Plans)',
    readBy: ['api', 'reconciler', 'sweep', 'wake', 'task-events', 'embedded'],
    group: 'api',
  },
  DORMOUSE_TASK_ARCHITECTURE: {
    parser: z.enum(['arm64', 'x86_64']),
    default: 'x86_64',
    note: "the CDK app sets it to the tenant tasks' (`dormouse.architecture`); locally the machine's",
    meaning: "CPU architecture of tenant tasks: costs (`costToDate`, `Tenant Usage`) price their running time at Fargate's rates for it",
    readBy: ['api', 'stream-publisher', 'embedded'],
    group: 'api',
  },
  DORMOUSE_MAX_TENANTS: {
    parser: positiveInt,
    default: '1000',
    meaning: 'ceiling on live tenants',
    readBy: ['api'],
    group: 'api',
  },
  DORMOUSE_TRIAL_DAYS: {
    parser: positiveInt,
    default: '14',
    meaning: 'trial length of the built-in `trial` plan (when `DORMOUSE_PLANS` is unset); sets `trialEndsAt`',
    readBy: ['api', 'reconciler', 'sweep', 'wake', 'task-events', 'embedded'],
    group: 'api',
  },
  DORMOUSE_IDEMPOTENCY_TTL_SECONDS: {
    parser: positiveInt,
    default: '3600',
    meaning: 'how long a signup can be replayed by its `Idempotency-Key`',
    readBy: ['api'],
    group: 'api',
  },
  DORMOUSE_ADMIN_TOKEN: {
    parser: z.string().check(z.minLength(16, 'must be at least 16 characters')),
    unset: 'generated and printed at start locally',
    meaning: 'local admin bearer token (≥ 16 characters); ignored on AWS Lambda, with a warning in the log',
    readBy: ['api'],
    group: 'api',
  },
  DORMOUSE_ADMIN_PRINCIPALS: {
    parser: adminPrincipalList,
    unset: 'none',
    meaning:
      "IAM role and user ARNs, comma-separated, whose signed requests are admin (a role's sessions count as the role); any other IAM signer gets `403`",
    readBy: ['api'],
    group: 'api',
  },
  DORMOUSE_SIGNUPS_PER_HOUR: {
    parser: nonNegativeInt,
    // 60 suits one person trying things locally; the CDK app sets 5 for the public internet.
    default: '60',
    note: '`5` in the CDK app (`signupsPerHour`)',
    meaning: 'signups per source address and clock hour; `0` turns the limit off',
    readBy: ['api'],
    group: 'api',
  },
  DORMOUSE_TRUST_FORWARDED_FOR: {
    parser: flag,
    default: 'false',
    meaning:
      "count the address a proxy in front of the API appended to `X-Forwarded-For` instead of the connection's; only behind such a proxy",
    readBy: ['api'],
    group: 'api',
  },
  DORMOUSE_VERIFY_EMAIL: {
    parser: flag,
    default: 'false',
    note: '`true` in the CDK app (`verifyEmail`)',
    meaning: 'start a trial only once the mailed link is opened',
    readBy: ['api'],
    group: 'api',
  },
  DORMOUSE_EMAIL_SENDER: {
    parser: emailSender,
    // Mail stays on this machine (the outbox); the sender only fills in the From line.
    localDefault: 'Dormouse <dormouse@localhost>',
    unset: '`emailSender` in the CDK app',
    meaning: 'From address of verification mails; required with `DORMOUSE_VERIFY_EMAIL=true`',
    readBy: ['api'],
    group: 'api',
  },

  // ---- Embedded mode only (`npm start`) -------------------------------------------------------
  DORMOUSE_API_PORT: {
    parser: port,
    default: '3000',
    meaning: 'local API port (`0` picks a free one)',
    readBy: ['embedded'],
    group: 'embedded',
  },
  DORMOUSE_GATEWAY_PORT: {
    parser: port,
    default: '8080',
    meaning: 'local gateway port, used in tenant URLs',
    readBy: ['embedded'],
    group: 'embedded',
  },
  DORMOUSE_DATA_DIR: {
    parser: nonEmpty,
    unset: 'in memory',
    meaning:
      "keep DynamoDB Local's data and the tenants' data in this directory across restarts (relative to the working directory; created if missing); DynamoDB Local is restarted if it dies",
    readBy: ['embedded'],
    group: 'embedded',
  },
  DORMOUSE_DYNAMODB_PORT: {
    parser: port,
    unset: 'a free port',
    meaning: 'port for the DynamoDB Local that `npm start` starts',
    readBy: ['embedded'],
    group: 'embedded',
  },
  DORMOUSE_DYNAMODB_ENDPOINT: {
    parser: z.url(),
    unset: 'unset',
    meaning: 'use a DynamoDB Local that is already running instead; it must answer at start',
    readBy: ['embedded'],
    group: 'embedded',
  },
  DORMOUSE_TENANT_COMMAND: {
    parser: nonEmpty,
    unset: 'the demo app (`node demo/whoami.mjs`)',
    meaning:
      'the tenant application locally, a shell command line; it gets `PORT`, `TENANT_ID`, `TENANT_HOST` and `DATA_DIR` and must answer `GET $DORMOUSE_HEALTH_CHECK_PATH` with a 2xx or 3xx status',
    readBy: ['embedded'],
    group: 'embedded',
  },
  DORMOUSE_UNHEALTHY_SECONDS: {
    parser: positiveNumber,
    default: '300',
    meaning: 'how long a new task may fail its health check before it is replaced (5 minutes on AWS)',
    readBy: ['embedded'],
    group: 'embedded',
  },
  DORMOUSE_SWEEP_SECONDS: {
    // Shorter sweeps would keep a core busy for nothing.
    parser: z.coerce.number().check(z.minimum(1, 'must be at least 1 second')),
    default: '30',
    meaning: 'how often the local sweep runs (at least `1`)',
    readBy: ['embedded'],
    group: 'embedded',
  },
  DORMOUSE_IDLE_SECONDS: {
    parser: positiveNumber,
    default: '900',
    meaning: 'local idle timeout (the AWS one is `DORMOUSE_IDLE_MINUTES`)',
    readBy: ['embedded'],
    group: 'embedded',
  },
  DORMOUSE_MIN_RUN_SECONDS: {
    parser: positiveNumber,
    default: '300',
    meaning: 'local minimum run time after a start or a wake (the AWS one is `DORMOUSE_MIN_RUN_MINUTES`)',
    readBy: ['embedded'],
    group: 'embedded',
  },

  // ---- The reconciler (on AWS the CDK app sets all of these) ----------------------------------
  DORMOUSE_CLUSTER: {
    parser: nonEmpty,
    meaning: 'ECS cluster name or ARN',
    readBy: ['reconciler'],
    group: 'reconciler',
  },
  DORMOUSE_TASK_DEFINITION: {
    parser: nonEmpty,
    meaning: 'the tenant task definition',
    readBy: ['reconciler'],
    group: 'reconciler',
  },
  DORMOUSE_PLAN_TASK_DEFINITIONS: {
    parser: nonEmpty,
    unset: 'every plan runs the installation task definition',
    note: 'the CDK app sets it for plans with an `image` of their own',
    meaning: 'JSON object: plan name → task definition (ARN) of a plan with its own image',
    readBy: ['reconciler'],
    group: 'reconciler',
  },
  DORMOUSE_CONTAINER_NAME: {
    parser: nonEmpty,
    default: 'app',
    meaning: 'container that receives `TENANT_ID` and `TENANT_HOST`',
    readBy: ['reconciler'],
    group: 'reconciler',
  },
  DORMOUSE_CONTAINER_PORT: {
    parser: positiveInt.check(z.maximum(65_535)),
    default: '80',
    meaning: 'port the target group sends traffic to',
    readBy: ['reconciler'],
    group: 'reconciler',
  },
  DORMOUSE_SUBNETS: {
    parser: commaList,
    meaning: "comma-separated subnet ids for the tasks' network interfaces",
    readBy: ['reconciler'],
    group: 'reconciler',
  },
  DORMOUSE_SECURITY_GROUPS: {
    parser: commaList,
    meaning: "comma-separated security group ids for the tasks' network interfaces",
    readBy: ['reconciler'],
    group: 'reconciler',
  },
  DORMOUSE_ASSIGN_PUBLIC_IP: {
    parser: flag,
    default: 'false',
    meaning: 'tasks sit in private subnets behind the ALB',
    readBy: ['reconciler'],
    group: 'reconciler',
  },
  DORMOUSE_VPC_ID: {
    parser: nonEmpty,
    meaning: 'where target groups go',
    readBy: ['reconciler'],
    group: 'reconciler',
  },
  DORMOUSE_LISTENER_ARN: {
    parser: commaList,
    meaning:
      "where host rules go: one HTTPS listener ARN per shard, comma-separated in shard order (as many as `DORMOUSE_SHARDS`); after the first, an entry may be the ARN's end `app/<name>/<id>/<listener-id>`, completed with the first's start. The sweep reads each load balancer's CloudWatch dimension `app/<name>/<id>` off it",
    readBy: ['reconciler', 'sweep'],
    group: 'reconciler',
  },
  DORMOUSE_HOSTED_ZONE_ID: {
    parser: z.string().check(z.regex(/^Z[A-Z0-9]{1,31}$/, 'must be a Route 53 hosted zone id like Z0123456789ABCDEFGHIJ')),
    unset: 'required with more than one shard',
    meaning: "the Route 53 zone of the tenants' domain, where each tenant gets its own alias record when there is more than one shard",
    readBy: ['reconciler'],
    group: 'reconciler',
  },
  DORMOUSE_HEALTH_CHECK_PATH: {
    parser: path,
    default: '/',
    meaning:
      "health check path of the tenant app (`200-399` is healthy), as the ALB's own default; the target groups' on AWS, the gateway's locally; the demo app answers it",
    readBy: ['reconciler', 'embedded'],
    group: 'reconciler',
  },
  DORMOUSE_MAX_ACTIVE_TENANTS: {
    parser: positiveInt.check(z.maximum(99, ALB_TARGET_GROUPS)),
    default: '90',
    meaning: 'routing slots per ALB (≤ 99: the ALB allows 100 target groups); the wake function evicts at the same ceiling',
    readBy: ['reconciler', 'wake', 'embedded'],
    group: 'reconciler',
  },
  DORMOUSE_SHARDS: {
    parser: positiveInt.check(z.maximum(20, 'must be at most 20 load balancers')),
    default: '1',
    meaning:
      'routing shards: load balancers of `DORMOUSE_MAX_ACTIVE_TENANTS` slots each (locally, the gateway acts as that many); with more than one, every tenant gets a DNS record of its own',
    readBy: ['reconciler', 'sweep', 'wake', 'embedded'],
    group: 'reconciler',
  },
  DORMOUSE_SPOT_ATTEMPTS: {
    parser: positiveInt,
    default: '3',
    meaning: 'Spot capacity refusals before the on-demand fallback',
    readBy: ['reconciler'],
    group: 'reconciler',
  },
  DORMOUSE_ON_DEMAND_FALLBACK: {
    parser: flag,
    default: 'true',
    meaning: 'allow FARGATE on-demand when Spot has no capacity',
    readBy: ['reconciler'],
    group: 'reconciler',
  },
  DORMOUSE_MAX_RESTARTS: {
    parser: positiveInt,
    default: '3',
    meaning: 'failed starts (unexpected stops, and steps AWS refuses for good) before a tenant is `Failed`',
    readBy: ['reconciler', 'embedded'],
    group: 'reconciler',
  },
  DORMOUSE_TOMBSTONE_DAYS: {
    parser: positiveInt,
    default: '7',
    meaning: "how long a deleted tenant's slug stays taken",
    readBy: ['reconciler', 'embedded'],
    group: 'reconciler',
  },
  DORMOUSE_HANDOVER: {
    parser: z.enum(HANDOVERS),
    default: 'stop-first',
    meaning:
      "how a tenant's task is replaced: `stop-first` (one writer of its data at a time) or `overlap` (the new task serves before the old one stops)",
    readBy: ['reconciler', 'embedded'],
    group: 'reconciler',
  },
  DORMOUSE_DATA_PATH: {
    parser: path,
    unset: 'no persistent data',
    meaning: "where a tenant's persistent data is mounted in its task; set, tenants keep data that is removed when they are deleted",
    readBy: ['reconciler'],
    group: 'reconciler',
  },
  DORMOUSE_FILE_SYSTEM_ID: {
    parser: fileSystemId,
    unset: 'required with DORMOUSE_DATA_PATH',
    meaning: "the EFS file system that holds every tenant's data, one access point per tenant",
    readBy: ['reconciler'],
    group: 'reconciler',
  },
  DORMOUSE_DATA_FUNCTION: {
    parser: nonEmpty,
    unset: 'required with DORMOUSE_DATA_PATH; without it the API offers no export or restore',
    meaning:
      "the function that reaches the tenants' file system: removes a deleted tenant's files, exports a tenant's data to the archive bucket, restores it from there",
    readBy: ['reconciler', 'api'],
    group: 'reconciler',
  },
  DORMOUSE_TENANT_LOG_GROUP: {
    parser: nonEmpty,
    unset: 'no tenant logs from the API (embedded mode keeps them in files)',
    note: 'the CDK app sets it',
    meaning: "the CloudWatch Logs group of tenant tasks, which `GET /tenants/{id}/logs` reads (only the tenant's own tasks' streams)",
    readBy: ['api'],
    group: 'api',
  },
  DORMOUSE_ARCHIVE_BUCKET: {
    parser: nonEmpty,
    unset: 'no export or restore (set together with DORMOUSE_DATA_FUNCTION)',
    note: 'the CDK app sets it with a data path',
    meaning:
      'the S3 bucket of tenant data archives: exports under `exports/<tenant>/`, uploads to restore under `restores/<tenant>/`, each kept a day',
    readBy: ['api', 'tenant-data'],
    group: 'reconciler',
  },
  DORMOUSE_EVENT_BUS_NAME: {
    parser: nonEmpty,
    meaning: 'stream publisher: the custom bus domain events go to',
    readBy: ['stream-publisher'],
    group: 'reconciler',
  },

  // ---- Branding of the pages people see (signup, waking, console) ---------------------------
  DORMOUSE_BRAND_NAME: {
    parser: z.string().check(z.minLength(1), z.maxLength(60, 'must be at most 60 characters')),
    unset: 'no product name: the pages speak of "your trial"',
    note: 'the CDK app sets it from `dormouse.branding.name`',
    meaning: 'product name shown above the signup, waking and console pages and in their titles',
    readBy: ['api', 'wake'],
    group: 'api',
  },
  DORMOUSE_BRAND_LOGO_URL: {
    parser: httpsUrl,
    unset: 'no logo',
    note: '`dormouse.branding.logoUrl` in the CDK app',
    meaning: "https address of a logo shown next to the name; the pages' CSP allows images from its origin only",
    readBy: ['api', 'wake'],
    group: 'api',
  },
  DORMOUSE_BRAND_ACCENT: {
    parser: hexColour,
    default: '#1565c0',
    note: '`dormouse.branding.accent` in the CDK app',
    meaning:
      'accent colour (`#rgb` or `#rrggbb`) of buttons, focus rings and the spinner; button text is black or white, whichever reads better',
    readBy: ['api', 'wake'],
    group: 'api',
  },
  DORMOUSE_SUPPORT_URL: {
    parser: httpsUrl,
    unset: 'no support link',
    note: '`dormouse.branding.supportUrl` in the CDK app',
    meaning: 'https address of a help page, linked below the pages',
    readBy: ['api', 'wake'],
    group: 'api',
  },
  DORMOUSE_MANAGE_URL: {
    parser: httpsUrl,
    unset: 'the failed page links to no self-service page',
    note: "the CDK app sets it to the API's `/manage`",
    meaning: "the self-service page a failed tenant's page links its owner to (the tenant's name goes in the fragment)",
    readBy: ['wake'],
    group: 'api',
  },

  // ---- The sweep and the wake function --------------------------------------------------------
  DORMOUSE_IDLE_MINUTES: {
    parser: positiveInt,
    default: '15',
    meaning: 'no traffic for this long → passivated: the built-in `trial` plan (when `DORMOUSE_PLANS` is unset)',
    readBy: ['api', 'reconciler', 'sweep', 'wake', 'task-events'],
    group: 'sweep',
  },
  DORMOUSE_MIN_RUN_MINUTES: {
    // Read by the sweep and the wake function alike, so one value is valid for both.
    parser: positiveInt,
    default: '5',
    meaning: 'never passivated (or evicted) sooner after a start or a wake',
    readBy: ['sweep', 'wake'],
    group: 'sweep',
  },
  DORMOUSE_ANONYMOUS_WAKES_PER_HOUR: {
    parser: positiveInt.check(z.maximum(60)),
    default: '6',
    meaning: 'times in an hour requests to its address may wake one tenant (1–60)',
    readBy: ['wake', 'embedded'],
    group: 'sweep',
  },
  DORMOUSE_WAKE_HOLD_SECONDS: {
    parser: nonNegativeInt.check(z.maximum(WAKE_HOLD_MAX_SECONDS)),
    default: '25',
    meaning:
      "a request to a waking tenant that is not a browser navigation (no text/html in Accept) is held up to this long, then sent on with 307 as soon as the tenant serves, else answered 503 (0 answers at once; at most 50, under the ALB's 60 s idle timeout)",
    readBy: ['wake', 'embedded'],
    group: 'sweep',
  },
  DORMOUSE_WARM_LEAD_MINUTES: {
    parser: nonNegativeInt.check(z.maximum(120)),
    default: '5',
    meaning:
      'a sleeping tenant with keep-warm hours is woken this long before they begin, so their first visitor never waits for a start (0–120)',
    readBy: ['sweep', 'embedded'],
    group: 'sweep',
  },
  DORMOUSE_EXPIRING_NOTICE_HOURS: {
    parser: positiveInt,
    default: '24',
    meaning: '`Tenant Expiring` this long before the trial ends',
    readBy: ['sweep'],
    group: 'sweep',
  },
  DORMOUSE_SWEEP_PAGE_SIZE: {
    parser: positiveInt.check(z.maximum(1000)),
    default: '100',
    meaning: 'tenants per page of the active index',
    readBy: ['sweep'],
    group: 'sweep',
  },
  DORMOUSE_SWEEP_BUDGET_SECONDS: {
    parser: positiveInt.check(z.maximum(840, 'must leave room within the 15-minute Lambda limit')),
    default: '40',
    meaning: 'time after which a run starts no new page',
    readBy: ['sweep'],
    group: 'sweep',
  },
  DORMOUSE_NETWORK_ACTIVITY_BYTES_PER_SECOND: {
    parser: nonNegativeInt,
    default: '0',
    meaning:
      "a minute in which a tenant's task received more than this many bytes per second keeps it awake, from Container Insights' task metrics (a WebSocket's messages, which the load balancer does not count as requests); 0 reads requests only",
    note: '`networkActivityBytesPerSecond` in `cdk.json`, which also turns on Container Insights with enhanced observability on the tenant cluster',
    readBy: ['sweep'],
    group: 'sweep',
  },
  DORMOUSE_STUCK_MINUTES: {
    parser: positiveNumber,
    default: '15',
    meaning:
      'a tenant in `Pending`, `Provisioning`, `Waking`, `Passivating` or `Deleting` this long counts in the `TenantsStuck` metric (alarmed on); locally it gets a warning line in the terminal',
    readBy: ['sweep', 'embedded'],
    group: 'sweep',
  },
} as const satisfies Record<`DORMOUSE_${string}`, Setting>;

type Settings = typeof SETTINGS;
export type SettingName = keyof Settings;

/** The settings `program` reads. */
export type SettingOf<P extends Program> = { [K in SettingName]: P extends Settings[K]['readBy'][number] ? K : never }[SettingName];

type ValueOf<K extends SettingName> = Settings[K] extends { unset: string }
  ? output<Settings[K]['parser']> | undefined
  : output<Settings[K]['parser']>;

/** The settings of `program`, parsed, under their variable names. */
export type Parsed<P extends Program> = { [K in SettingOf<P>]: ValueOf<K> };

/** Whether a variable is set: empty strings mean "unset", as they do for most shells and CloudFormation parameters. */
function present(env: Env): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== ''));
}

export function parseEnv<S extends $ZodType>(schema: S, env: Env): output<S> {
  const result = z.safeParse(schema, present(env));
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  }
  return result.data;
}

function declared(name: string): Setting {
  return (SETTINGS as Record<string, Setting>)[name]!;
}

/** Reads, with their defaults, the settings `program` reads from `env`; a bad or missing one fails with its name. */
export function readSettings<P extends Program>(program: P, env: Env): Parsed<P> {
  const shape: Record<string, $ZodType> = {};
  const defaults: Record<string, string> = {};
  for (const [name, setting] of Object.entries(SETTINGS as Record<string, Setting>)) {
    if (!setting.readBy.includes(program)) continue;
    shape[name] = setting.unset !== undefined ? z.optional(setting.parser) : setting.parser;
    if (setting.default !== undefined) defaults[name] = setting.default;
  }
  return parseEnv(z.object(shape), { ...defaults, ...present(env) }) as Parsed<P>;
}

/** `env` with embedded mode's own defaults (table names, installation, mail sender) where it leaves them unset. */
export function withLocalDefaults(env: Env): Env {
  const local = Object.entries(SETTINGS as Record<string, Setting>).flatMap(([name, setting]) =>
    setting.localDefault === undefined ? [] : [[name, setting.localDefault]],
  );
  return { ...Object.fromEntries(local), ...present(env) };
}

/** A setting's declared default, parsed: for programs that do not read the variable but follow its default. */
export function declaredDefault<K extends SettingName>(name: K): output<Settings[K]['parser']> {
  const setting = declared(name);
  if (setting.default === undefined) throw new Error(`${name} has no default`);
  return z.parse(setting.parser, setting.default) as output<Settings[K]['parser']>;
}

/** What is wrong with `text` as the value of `name` (as the functions would read it), or undefined: for the CDK app, which writes it. */
export function settingProblem(name: SettingName, text: string): string | undefined {
  const result = z.safeParse(declared(name).parser, text);
  return result.success ? undefined : result.error.issues.map((issue) => issue.message).join('; ');
}

/** A `DORMOUSE_*` variable that none of the programs reads, and the known name closest to it. */
export interface UnknownSetting {
  name: string;
  closest: string;
}

/**
 * The `DORMOUSE_*` variables in `env` that none of `programs` reads: a misspelled name would
 * otherwise be ignored without a word, leaving its default in force.
 */
export function unknownSettings(env: Env, programs: readonly Program[]): UnknownSetting[] {
  const known = Object.entries(SETTINGS as Record<string, Setting>)
    .filter(([, setting]) => setting.readBy.some((program) => programs.includes(program)))
    .map(([name]) => name);
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
