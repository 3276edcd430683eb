import { publicReason, type ErrorCategory } from './error-categories.js';
import type { KeepWarm } from './plans.js';
import { redactDetail } from './redaction.js';
import { hasUnreportedUsage, type Usage } from './usage.js';

/**
 * The tenant record: expected state (`spec`) and actual state (`status`) of one trial
 * environment. Pure data and pure functions only; adapters decide how it is stored.
 */

export const DESIRED_STATES = ['running', 'passivated', 'deleted'] as const;
export type Desired = (typeof DESIRED_STATES)[number];

export const PHASES = [
  /** Signed up, waiting for the email link to be opened: no task, no routing slot, no ceiling place. */
  'PendingVerification',
  'Pending',
  'Queued',
  'Provisioning',
  'Running',
  'Passivating',
  'Passivated',
  'Waking',
  'Failed',
  'Deleting',
  'Deleted',
] as const;
export type Phase = (typeof PHASES)[number];

export type CapacityProvider = 'FARGATE_SPOT' | 'FARGATE';

/** The capacity provider ECS names for a task: Fargate Spot, or else on-demand Fargate. */
export function capacityProviderNamed(name: string | undefined): CapacityProvider {
  return name === 'FARGATE_SPOT' ? 'FARGATE_SPOT' : 'FARGATE';
}

export function isSpot(provider: CapacityProvider): boolean {
  return provider === 'FARGATE_SPOT';
}

/** What should be. Every change bumps `generation` so the reconciler can tell it has caught up. */
export interface TenantSpec {
  desired: Desired;
  generation: number;
  /** The name of one of the installation's plans (plans.ts). */
  plan: string;
  /** The tenant's own non-secret environment, set by an operator; over the plan's. */
  environment?: Record<string, string>;
  /** Hours to keep this tenant awake, set by an operator; instead of its plan's. */
  keepWarm?: KeepWarm;
}

/**
 * What a task was started as: the tenant's plan, that plan's definition then (`planRevision`)
 * and the tenant's own environment then (`environmentDigest`). Carried by the task itself (a tag
 * on ECS), so the reconciler sees it in what it observes.
 */
export interface LaunchedAs {
  plan: string;
  revision: string;
  environment: string;
}

/** The task the tenant runs on, as last observed. */
export interface TaskStatus {
  arn: string;
  ip?: string;
  capacityProvider: CapacityProvider;
  lastStatus?: string;
  /** Set when AWS gave notice it will take the task back (Spot interruption). */
  stopCode?: string;
  /** Highest ECS `detail.version` applied; older or equal events are stale. */
  eventVersion?: number;
  launchedAs?: LaunchedAs;
  /** ISO time the task reached RUNNING, as the platform reports it. */
  startedAt?: string;
  /** ISO time the task stopped, as the platform reports it: where its metered running time ends. */
  stoppedAt?: string;
  /** The size it runs at, as the platform reports it; else its plan's is metered. */
  size?: { cpu: number; memory: number };
  /** Set once the task was told to stop: it may still run until ECS says STOPPED. */
  desiredStatus?: 'STOPPED';
  /**
   * ISO time ECS last told us this task's state itself (a task state change event, the RunTask
   * or StopTask answer). While recent, the record is as good as asking ECS again.
   */
  seenAt?: string;
}

/** A RunTask about to be sent, recorded first so a retry after a crash reuses its token. */
export interface LaunchIntent {
  clientToken: string;
  capacityProvider: CapacityProvider;
  /** ISO time of the intent: until ECS's listing has caught up, a task may exist unseen. */
  requestedAt: string;
  /**
   * ECS sent news (running, stopped) of a task the record did not know while this RunTask was out:
   * likely its own task, come before its answer was written (a local task starts in well under a
   * second) or after an answer that was lost (ECS answers the repeated call as it answered the
   * first). That answer does not stand for ECS, then: the next look asks ECS.
   */
  eventBeforeAnswer?: true;
}

/** What is. Written by the control plane only, never by the tenant-facing API. */
export interface TenantStatus {
  phase: Phase;
  observedGeneration: number;
  task?: TaskStatus;
  targetGroupArn?: string;
  ruleArn?: string;
  /** Not read by the control plane: kept for operators, who see the status as recorded in the admin listing. */
  rulePriority?: number;
  /**
   * A CreateRule may have been sent whose rule is not recorded (set before the first one, cleared
   * once a rule is recorded): only then does a taken priority send the reconciler searching the
   * listener for the tenant's own rule.
   */
  ruleCreating?: boolean;
  /** Holds one of its shard's routing slots (counted against that load balancer's ceiling). */
  slot?: boolean;
  /**
   * The routing shard (load balancer) the tenant is placed on, 0-based; absent means shard 0
   * (records from before shards, and every record of a one-shard installation).
   */
  shard?: number;
  /** The shard the tenant's own DNS record points at, once ensured (installations of several shards only). */
  dnsShard?: number;
  /**
   * Consecutive failed starts for this generation (unexpected stops, and AWS refusing a step);
   * reset once Running. Past the restart limit the tenant is Failed.
   */
  attempts: number;
  /** Consecutive Spot capacity refusals; past a threshold the on-demand fallback is used. */
  spotFailures?: number;
  /** Consecutive AWS errors that back off without failing a tenant (throttling; refusals on the way down). */
  transientFailures?: number;
  /** RunTask calls made so far; part of each client token. */
  runs?: number;
  launch?: LaunchIntent;
  /** The generation the reconciler gave up on; a new generation (e.g. a wake) retries. */
  failedGeneration?: number;
  /**
   * A sentence a person can act on. It may quote AWS or the application, so it is shown only
   * redacted, and only to the token holder and operators (see `reasonFor`).
   */
  lastError?: string;
  /** What kind of trouble `lastError` describes: anonymous visitors get a fixed sentence for it. */
  lastErrorCategory?: ErrorCategory;
  /** ISO time before which nothing should be retried (backoff, queue). */
  retryAt?: string;
  /** ISO time the tenant joined the queue for a routing slot. */
  queuedAt?: string;
  /** Deleting: the tenant's persistent data is gone (files, access point, task definitions). */
  dataRemoved?: boolean;
  /**
   * Tasks other than `task` told to stop that may still have the tenant's data mounted, until
   * they are seen STOPPED: ECS lists a stopping task only to whoever names it.
   */
  stopping?: string[];
  transitionAt: string;
}

/**
 * One reconciler at a time per tenant: the holder acts (and, while it waits to look again
 * shortly, watches); others leave the tenant to it. Its rules are in lease.ts.
 */
export interface Lease {
  owner: string;
  until: string;
}

export interface AnonymousWakes {
  /** ISO time the counting hour started: the first wake after the previous hour ended. */
  since: string;
  count: number;
}

export interface EmailVerification {
  /**
   * SHA-256 of the code; the code itself is only ever in the mail. Wrong codes are not counted
   * here: a count would let anyone who knows a pending slug lock its owner out. The code has 192
   * random bits, and tries are limited per client instead (see verify-email).
   */
  codeHash: string;
}

export interface Tenant {
  /** The tenant's id is its slug: it names the host, the record and the AWS resources. */
  id: string;
  email: string;
  tokenHash: string;
  spec: TenantSpec;
  status: TenantStatus;
  createdAt: string;
  lastActiveAt: string;
  /** When the trial ends and the tenant is deleted; absent on a plan with no trial length (a converted tenant). */
  trialEndsAt?: string;
  /**
   * ISO time this sleeping tenant's keep-warm hours begin next: the sweep wakes it a lead time
   * before. Set when it is recorded Passivated as asked, absent when it has no hours or is awake.
   */
  warmAt?: string;
  /** What the tenant has used so far, accumulated from its transitions (usage.ts). */
  usage?: Usage;
  /**
   * ISO time the sweep found the trial about to end. Set once: its appearance is what publishes
   * `Tenant Expiring`, so the notice goes out once however often the sweep runs.
   */
  expiringNoticeAt?: string;
  /** Epoch seconds after which DynamoDB TTL removes a tombstone or an unconfirmed signup. */
  expiresAt?: number;
  /** While PendingVerification: the hash of the one-time code mailed to the owner. */
  verification?: EmailVerification;
  lease?: Lease;
  /** Wakes by requests to the tenant's address, counted in the hour from `since` (the wake limit). */
  anonymousWakes?: AnonymousWakes;
  /** ISO time a request to its address last woke it: where the wait of that wake's visitors began. */
  wokenAt?: string;
  /** Optimistic lock: every write is conditional on the version it read. */
  version: number;
}

/**
 * The part of a tenant anyone may see: no email, no token hash, no AWS identifiers. Its `reason`
 * depends on who asks (`Audience`).
 */
export interface PublicTenant {
  id: string;
  url: string;
  phase: Phase;
  desired: Desired;
  generation: number;
  observedGeneration: number;
  plan: string;
  createdAt: string;
  trialEndsAt?: string;
  lastActiveAt: string;
  reason?: string;
  /** The routing shard (load balancer) it is placed on, in an installation of several. */
  shard?: number;
}

/**
 * Who reads a tenant: anyone (a fixed sentence per kind of error), the holder of the tenant's
 * token (the error, without secrets or AWS identifiers), or an operator (without secrets).
 */
export type Audience = 'anonymous' | 'owner' | 'admin';

/** The error as `audience` may read it, or undefined when there is none. */
export function reasonFor(status: TenantStatus, audience: Audience): string | undefined {
  if (audience === 'anonymous' || !status.lastError) return publicReason(status);
  return redactDetail(status.lastError, audience);
}

export function publicView(tenant: Tenant, url: string, audience: Audience = 'anonymous'): PublicTenant {
  const reason = reasonFor(tenant.status, audience);
  return {
    id: tenant.id,
    url,
    phase: tenant.status.phase,
    desired: tenant.spec.desired,
    generation: tenant.spec.generation,
    observedGeneration: tenant.status.observedGeneration,
    plan: tenant.spec.plan,
    createdAt: tenant.createdAt,
    ...(tenant.trialEndsAt ? { trialEndsAt: tenant.trialEndsAt } : {}),
    lastActiveAt: tenant.lastActiveAt,
    ...(reason ? { reason } : {}),
    ...(tenant.status.shard !== undefined ? { shard: tenant.status.shard } : {}),
  };
}

/** The routing shard a tenant is placed on: absent means shard 0. */
export function shardOf(tenant: Tenant): number {
  return tenant.status.shard ?? 0;
}

export interface NewTenant {
  slug: string;
  email: string;
  plan: string;
  tokenHash: string;
  now: Date;
  /** The plan's trial length; absent: the tenant has no end date. */
  trialDays?: number;
  /** Hash of the mailed code, when the trial starts only once the email address is confirmed. */
  verificationCodeHash?: string;
}

/** How long an unconfirmed signup holds its name and email address. */
export const VERIFICATION_WINDOW_MS = 24 * 3_600_000;

export function newTenant({ slug, email, plan, tokenHash, now, trialDays, verificationCodeHash }: NewTenant): Tenant {
  const at = now.toISOString();
  const tenant: Tenant = {
    id: slug,
    email,
    tokenHash,
    spec: { desired: 'running', generation: 1, plan },
    status: { phase: 'Pending', observedGeneration: 0, attempts: 0, transitionAt: at },
    createdAt: at,
    lastActiveAt: at,
    ...trialEnd(now, trialDays),
    version: 0,
  };
  if (verificationCodeHash === undefined) return tenant;
  return {
    ...tenant,
    status: { ...tenant.status, phase: 'PendingVerification' },
    verification: { codeHash: verificationCodeHash },
    expiresAt: Math.floor((now.getTime() + VERIFICATION_WINDOW_MS) / 1000),
  };
}

/** Waiting for its email link: the reconciler, the sweep and the wake function leave it alone. */
export function isAwaitingVerification(tenant: Tenant): boolean {
  return tenant.status.phase === 'PendingVerification';
}

/**
 * The confirmed signup, ready for the reconciler: its trial starts now (not at signup), and it
 * no longer expires.
 */
export function verified(tenant: Tenant, now: Date, trialDays: number | undefined): Tenant {
  const at = now.toISOString();
  const { verification: _code, expiresAt: _expiry, trialEndsAt: _end, ...rest } = tenant;
  return {
    ...rest,
    status: { ...tenant.status, phase: 'Pending', transitionAt: at },
    lastActiveAt: at,
    ...trialEnd(now, trialDays),
  };
}

/** The end of a trial of `trialDays` from `now`, or nothing for a plan with no trial length. */
function trialEnd(now: Date, trialDays: number | undefined): { trialEndsAt?: string } {
  return trialDays === undefined ? {} : { trialEndsAt: new Date(now.getTime() + trialDays * 86_400_000).toISOString() };
}

/**
 * Sets a new expected state. Returns the tenant unchanged when it already wants that state,
 * so repeated commands cost no write and do not bump the generation.
 */
export function withDesired(tenant: Tenant, desired: Desired): Tenant {
  // Asking a failed tenant to run again is a retry: a new generation lifts the give-up.
  const retry = desired === 'running' && tenant.status.failedGeneration === tenant.spec.generation;
  if (tenant.spec.desired === desired && !retry) return tenant;
  return { ...tenant, spec: { ...tenant.spec, desired, generation: tenant.spec.generation + 1 } };
}

/** A tenant has been asked to go away; it no longer counts as a live trial. */
export function isDeleteRequested(tenant: Tenant): boolean {
  return tenant.spec.desired === 'deleted';
}

const TARGET_PHASE = { running: 'Running', passivated: 'Passivated', deleted: 'Deleted' } as const;

/** Expected state reached, or given up on until someone retries. */
export function isSettled(tenant: Tenant): boolean {
  const { status, spec } = tenant;
  if (status.phase === 'Failed' && status.failedGeneration === spec.generation) return true;
  return status.phase === TARGET_PHASE[spec.desired] && status.observedGeneration >= spec.generation;
}

/** Deleted as asked: only the record that keeps its slug is left, and nothing is to be done. */
export function isTombstone(tenant: Tenant): boolean {
  return tenant.status.phase === 'Deleted' && tenant.spec.desired === 'deleted';
}

/**
 * Running and wanting to run, with no traffic for `idleMs` and up (since its last start or
 * wake) for `minRunMs`. An unreadable time gives NaN, which compares false: never idle.
 */
export function isIdle(tenant: Tenant, nowMs: number, { idleMs, minRunMs }: { idleMs: number; minRunMs: number }): boolean {
  const idleFor = nowMs - Date.parse(tenant.lastActiveAt);
  const upFor = nowMs - Date.parse(tenant.status.transitionAt);
  return tenant.spec.desired === 'running' && tenant.status.phase === 'Running' && idleFor >= idleMs && upFor >= minRunMs;
}

/** Phases in which a tenant holds no AWS resources and needs no attention from the sweep. */
const AT_REST: ReadonlySet<Phase> = new Set(['Passivated', 'Deleted']);

/**
 * Whether the tenant belongs in the sparse "active" index: it has a task, is on its way to or
 * from one, or was asked to change (a passivated tenant asked to run), so the sweep must look at
 * it. Tenants at rest, as asked, cost no sweep reads.
 */
export function isActive(tenant: Tenant): boolean {
  // Until its usage is reported, a tenant that ran stays where the sweep closes the hour for it.
  return needsAttention(tenant) || (tenant.status.phase !== 'PendingVerification' && hasUnreportedUsage(tenant));
}

/** Whether the tenant has, or is getting, a task, or was asked to change: what the sweep reconciles. */
export function needsAttention(tenant: Tenant): boolean {
  const { phase } = tenant.status;
  if (phase === 'Deleted' || phase === 'PendingVerification') return false;
  return !AT_REST.has(phase) || tenant.spec.desired !== 'passivated';
}
