import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { CloudRefusedError, CloudUnavailableError, VersionConflictError } from '../domain/errors.js';
import { equalAsStored } from '../domain/equality.js';
import { withWarmAt } from '../domain/keep-warm.js';
import { isLeased, leaseFor } from '../domain/lease.js';
import { backoffMs, type PlanSettings } from '../domain/plan.js';
import type { PlanCatalog } from '../domain/plans.js';
import { isTombstone, type Phase, type TaskStatus, type Tenant, type TenantStatus } from '../domain/tenant.js';
import type { Clock } from '../ports/clock.js';
import type { TenantReader, TenantWriter } from '../ports/tenant-store.js';
import { updateTenant } from './update-tenant.js';

/**
 * The controller: what a controller framework's work queue does around a reconciler (here
 * `reconcile.ts`), in one place. It reads the tenant, leaves it alone while another reconciler
 * holds its lease, hands the reconciler one look, and writes what the look recorded: taking,
 * keeping or giving up the lease, retrying a look that lost a write race, merging a change that
 * landed meanwhile, and backing off after an error. The lease's own rules (and that letting go
 * of a tenant with work left is news for the stream publisher) are in shared/domain/lease.ts.
 *
 * One error policy for everything a look throws: transient errors (throttling, a 5xx) back off
 * quietly; errors retrying cannot fix (`isTerminal`) count as a failed attempt where the tenant
 * may still fail, so it ends `Failed` with the reason (the reconciler's `refused`); otherwise,
 * on the way down, they back off with the reason on the record for a person to see, like any
 * other error. Only when the record itself cannot be read or written does a look throw: the
 * caller's retry (a new invocation, the local loop's timer, the sweep) tries again.
 */

/**
 * Given by a caller that looks again itself after a short wait (the reconcile function, sleeping
 * inside its invocation). The lease is then kept across waits of up to `maxWaitMs`, and the
 * invocations that other changes start meanwhile leave the tenant to this caller instead of each
 * observing ECS and the load balancer again. The same owner is passed on every run.
 */
export interface Watch {
  owner: string;
  maxWaitMs: number;
}

export interface ReconcileResult {
  /** Look at the tenant again after this long; absent when it has converged or waits for an event. */
  requeueAfterMs?: number;
  phase?: Phase;
  /** The caller's watch holds the lease: it must run again after `requeueAfterMs`. */
  watching?: boolean;
}

export interface ControllerSettings extends Pick<PlanSettings, 'backoffBaseMs' | 'backoffMaxMs' | 'pollMs'> {
  /** How long one reconciler may hold a tenant; longer than one invocation can run. */
  leaseMs: number;
  /** How long a deleted tenant's tombstone keeps its slug before DynamoDB TTL removes it. */
  tombstoneSeconds: number;
  /** The installation's plans: where a tenant's keep-warm hours come from, when it has none of its own. */
  plans: PlanCatalog;
}

export interface ControllerDeps {
  store: TenantReader & Pick<TenantWriter, 'save'>;
  clock: Clock;
  settings: ControllerSettings;
  logger?: Pick<Console, 'info' | 'warn' | 'error'>;
  random?: () => number;
}

/** What the controller hands the reconciler for one look at a tenant. */
export interface Look {
  /** The record as read; nobody else holds it. */
  tenant: Tenant;
  /** Takes the lease before the first step (or keeps the watch's): resolves to the record it is held on. */
  hold(): Promise<Tenant>;
}

/** What a look ends with: the record as it should be written, and when to look again. */
export interface Looked {
  tenant: Tenant;
  result: ReconcileResult;
}

export type Reconciler = (look: Look) => Promise<Looked>;

/** A step of a look failed: the record up to then, and as observed, for the error policy. */
export class StepFailed extends Error {
  constructor(
    /** The record as the steps before left it. */
    readonly current: Tenant,
    /** The same, with what was observed recorded: what is written with the backoff. */
    readonly seen: Tenant,
    readonly error: unknown,
  ) {
    super('A reconcile step failed', { cause: error });
    this.name = 'StepFailed';
  }
}

/** Throttling and other errors worth retrying later, as the adapters classify them. */
export function isTransient(error: unknown): boolean {
  return error instanceof CloudUnavailableError;
}

/** Denied or invalid: the same request would be refused again until a person changes something. */
export function isTerminal(error: unknown): error is CloudRefusedError {
  return error instanceof CloudRefusedError;
}

export { isLeased };

/**
 * Looks of a run that lost its write to another writer. Not `updateTenant`: a look decides on
 * what it observed in AWS too, so after a conflict the whole look starts again, observation
 * included, and losing every race is answered with "look again shortly", not an error.
 */
const CONFLICT_ATTEMPTS = 8;

/**
 * Runs one look of `reconciler` at a tenant, level-triggered: safe to run twice at once (the
 * lease lets one act) and safe to crash at any point (every look starts from what exists).
 */
export async function control(
  deps: ControllerDeps,
  tenantId: string,
  watch: Watch | undefined,
  reconciler: Reconciler,
): Promise<ReconcileResult> {
  for (let attempt = 1; attempt <= CONFLICT_ATTEMPTS; attempt++) {
    try {
      return await lookOnce(deps, tenantId, watch, reconciler);
    } catch (error) {
      if (!(error instanceof VersionConflictError)) throw error;
      // Someone else wrote the record; start again from a fresh read.
    }
  }
  // Lost every race: look again shortly. A watching caller goes on watching, so a lease it may
  // hold from an earlier look is not left to run out (and the tenant to wait for the sweep).
  const outcome = { requeueAfterMs: deps.settings.pollMs };
  return keeps(watch, outcome) ? { ...outcome, watching: true } : outcome;
}

/**
 * Watches a tenant for a caller that can wait (the reconcile function): looks again after each
 * short wait while the watch holds the lease, and returns the look that let go of it.
 */
export async function watchTenant(look: (watch: Watch) => Promise<ReconcileResult>, watch: () => Watch): Promise<ReconcileResult> {
  let result = await look(watch());
  while (result.watching) {
    await sleep(result.requeueAfterMs);
    result = await look(watch());
  }
  return result;
}

async function lookOnce(
  deps: ControllerDeps,
  tenantId: string,
  watch: Watch | undefined,
  reconciler: Reconciler,
): Promise<ReconcileResult> {
  const { store, clock, settings } = deps;
  const tenant = await store.get(tenantId);
  if (!tenant || isTombstone(tenant)) return {};
  // Nothing runs, and no slot is taken, for a signup whose email address is not confirmed.
  if (tenant.status.phase === 'PendingVerification') return {};
  if (tenant.lease?.owner !== watch?.owner && isLeased(tenant, clock.now().getTime())) {
    // Its holder looks at every change made meanwhile before it lets go; should the holder die,
    // the sweep takes the tenant up once the lease has run out.
    return {};
  }

  const owner = watch?.owner ?? randomUUID();
  let held: Tenant | undefined;
  const hold = async () => {
    held = tenant.lease?.owner === owner ? tenant : await store.save({ ...tenant, lease: leaseFor(owner, clock.now(), settings.leaseMs) });
    return held;
  };

  let looked: Looked;
  try {
    looked = await reconciler({ tenant, hold });
  } catch (error) {
    if (!held) {
      // Nothing was done yet: a conflict starts the look again, anything else backs off.
      if (error instanceof VersionConflictError) throw error;
      return conclude(deps, tenant, backOff(deps, tenant, error, false), watch);
    }
    const failed = error instanceof StepFailed ? error : new StepFailed(held, held, error);
    // Someone wrote the record while we held the lease (a command, a task event): handing back
    // merges what they wrote and looks again at once.
    if (failed.error instanceof VersionConflictError) {
      return handBack(deps, failed.current, owner, { requeueAfterMs: 0, phase: failed.current.status.phase }, watch);
    }
    const backedOff = backOff(deps, failed.seen, failed.error, true);
    return handBack(deps, backedOff.tenant, owner, backedOff.result, watch);
  }
  return held ? handBack(deps, looked.tenant, owner, looked.result, watch) : conclude(deps, tenant, looked, watch);
}

/**
 * The backoff after a failed look. Throttling and AWS hiccups back off quietly; anything else
 * also backs off, with the error on the record for a person to see (and the stuck-tenant alarm
 * once it lasts): never given up silently. Before any step was taken a transient error leaves
 * the record as it is, since nothing happened that it should show.
 */
function backOff(deps: ControllerDeps, seen: Tenant, error: unknown, tookSteps: boolean): Looked {
  const { clock, settings, logger } = deps;
  const transient = isTransient(error);
  if (transient && !tookSteps) {
    const delay = backoffMs(1, settings, deps.random?.());
    logger?.warn?.('Observing the tenant failed; retrying later', { tenantId: seen.id, error, delayMs: delay });
    return { tenant: seen, result: { requeueAfterMs: delay } };
  }
  const failures = (seen.status.transientFailures ?? 0) + 1;
  const delay = backoffMs(failures, settings, deps.random?.());
  logger?.[transient ? 'warn' : 'error']?.('Reconcile step failed; retrying later', { tenantId: seen.id, error, delayMs: delay });
  const problem = isTerminal(error) ? error.message : `AWS refused a step: ${describeError(error)}.`;
  const status: TenantStatus = {
    ...seen.status,
    transientFailures: failures,
    retryAt: new Date(clock.now().getTime() + delay).toISOString(),
    ...(transient ? {} : { lastError: `${problem} Dormouse keeps retrying.`, lastErrorCategory: 'platform' as const }),
  };
  return { tenant: { ...seen, status }, result: { requeueAfterMs: delay, phase: status.phase } };
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Whether the caller's watch keeps the lease for this outcome: it looks again soon enough itself. */
function keeps(watch: Watch | undefined, outcome: ReconcileResult): watch is Watch {
  return watch !== undefined && outcome.requeueAfterMs !== undefined && outcome.requeueAfterMs <= watch.maxWaitMs;
}

/**
 * Ends a look that took no step: records what was seen and takes, keeps or gives up the lease
 * for the caller's watch, writing only when one of these differs from the record.
 */
async function conclude(
  deps: ControllerDeps,
  tenant: Tenant,
  { tenant: seen, result }: Looked,
  watch: Watch | undefined,
): Promise<ReconcileResult> {
  const { store, clock, settings } = deps;
  const { status } = seen;
  const watching = keeps(watch, result);
  const leaseChanged = watching ? tenant.lease?.owner !== watch.owner : tenant.lease !== undefined;
  const tombstone = status.phase === 'Deleted' && tombstoneNeeded(tenant);
  if (leaseChanged || tombstone || !equalAsStored(status, tenant.status)) {
    const lease = watching ? leaseFor(watch.owner, clock.now(), settings.leaseMs) : undefined;
    // The usage the look metered, on the version it read: it goes with the status it was metered for.
    await store.save(withStatus({ ...tenant, usage: seen.usage, lease }, status, clock.now(), settings));
  }
  return watching ? { ...result, watching } : result;
}

function withStatus(tenant: Tenant, status: TenantStatus, now: Date, settings: ControllerSettings): Tenant {
  const next: Tenant = withWarmAt({ ...tenant, status }, settings.plans, now);
  if (status.phase === 'Deleted' && next.expiresAt === undefined) {
    next.expiresAt = Math.floor(now.getTime() / 1000) + settings.tombstoneSeconds;
  }
  return next;
}

function tombstoneNeeded(tenant: Tenant): boolean {
  return tenant.spec.desired === 'deleted' && tenant.expiresAt === undefined;
}

/**
 * Writes the final status of a look that took steps, and keeps the lease for the caller's watch
 * or gives it up. On a conflict (the API changed the spec, a task event arrived, or a write of
 * ours landed though it was reported as failed) the fresh record keeps its spec, slot flag and
 * newer event data, ours is re-applied, and the tenant is looked at again at once: by the watch,
 * or else by the sweep, for which `retryAt` is set to now.
 */
async function handBack(
  deps: ControllerDeps,
  tenant: Tenant,
  owner: string,
  outcome: ReconcileResult,
  watch: Watch | undefined,
): Promise<ReconcileResult> {
  const { store, clock, settings } = deps;
  let answer = outcome;
  const handedBack = await updateTenant(
    store,
    tenant.id,
    (base) => {
      const changedMeanwhile = base !== tenant;
      // Someone took over after our lease ran out: the tenant is theirs to look after now.
      if (changedMeanwhile && base.lease?.owner !== owner) return undefined;
      const final = changedMeanwhile ? { ...outcome, requeueAfterMs: 0 } : outcome;
      const watching = keeps(watch, final);
      let status = changedMeanwhile ? mergeFresh(tenant.status, base.status) : tenant.status;
      if (changedMeanwhile && !watching) status = { ...status, retryAt: clock.now().toISOString() };
      const lease = watching ? leaseFor(owner, clock.now(), settings.leaseMs) : undefined;
      answer = watching ? { ...final, watching } : final;
      return { tenant: withStatus({ ...base, lease }, status, clock.now(), settings) };
    },
    { from: tenant },
  );
  return handedBack.written ? answer : { phase: outcome.phase };
}

/**
 * Our status written over a record that changed since we read it. The record's slot flag is kept:
 * it changes only in one transaction with the routing counter, so the record's value is the one
 * counted, even when the write that set it was ours and reported as failed (it landed, and the
 * answer was lost). A task event's newer facts about the same task win over our older observation.
 */
function mergeFresh(ours: TenantStatus, fresh: TenantStatus): TenantStatus {
  const merged = { ...ours, slot: fresh.slot };
  // Our RunTask still out: keep the mark the task-events function may have put on it meanwhile.
  if (ours.launch && fresh.launch?.clientToken === ours.launch.clientToken) merged.launch = fresh.launch;
  // We recorded the answer of a RunTask whose task sent news meanwhile (LaunchIntent.eventBeforeAnswer):
  // the answer is older than ECS's word, so it is kept undated and the next look asks ECS.
  if (ours.task && !ours.launch && fresh.launch?.eventBeforeAnswer) return { ...merged, task: undated(ours.task) };
  const sameTask = ours.task && fresh.task && ours.task.arn === fresh.task.arn;
  if (!sameTask || (fresh.task!.eventVersion ?? -1) <= (ours.task!.eventVersion ?? -1)) return merged;
  return { ...merged, task: { ...ours.task!, ...fresh.task! } };
}

/** The task as recorded, without the date that lets a look take the record's word for ECS's. */
function undated({ seenAt: _seenAt, ...task }: TaskStatus): TaskStatus {
  return task;
}
