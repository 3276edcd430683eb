import type { PlanCatalog } from '../domain/plans.js';
import { plan, retryPending, type Observation, type Plan, type PlanSettings, type Step } from '../domain/plan.js';
import type { Phase, Tenant } from '../domain/tenant.js';
import { measuredStorage, meter } from '../domain/usage.js';
import type { Clock } from '../ports/clock.js';
import type { Compute, ObservedTask } from '../ports/compute.js';
import type { Dns } from '../ports/dns.js';
import type { Routing } from '../ports/routing.js';
import type { Storage } from '../ports/storage.js';
import type { RoutingSlots, TenantReader, TenantWriter } from '../ports/tenant-store.js';
import { control, StepFailed, type Look, type Looked, type ReconcileResult, type Watch } from './controller.js';
import { meteredStore } from './metering.js';
import { recordingWakes, type WakeEstimate } from './wake-estimate.js';
import { act, FailedAfterWrite } from './reconcile/act.js';
import { refused } from './reconcile/attempts.js';
import { EVENT_TRUST_MS, followedTask, isRising, observe } from './reconcile/observe.js';
import { result, settle } from './reconcile/record.js';

export type { ReconcileResult, Watch } from './controller.js';

export interface ReconcileSettings extends PlanSettings {
  /** `<slug>.<root domain>`: the host the tenant is served on. */
  hostFor(tenantId: string): string;
  /** Routing slots per load balancer (100 target groups is a hard ALB limit). */
  maxActiveTenants: number;
  /** Routing shards (load balancers) of `maxActiveTenants` slots each. @default 1 */
  shards?: number;
  /** How long a queued tenant waits before it tries for a slot again. */
  queueRetryMs: number;
  /** How long one reconciler may hold a tenant; longer than one invocation can run. */
  leaseMs: number;
  /** How long a deleted tenant's tombstone keeps its slug before DynamoDB TTL removes it. */
  tombstoneSeconds: number;
  /** Steps taken in one run before handing back, so a run stays short. */
  maxSteps: number;
  /** The installation's plans: what each tenant's task is started as. */
  plans: PlanCatalog;
  /**
   * How long what ECS last said about a tenant's task stands for asking ECS again; a wait for
   * the task to start or stop lasts this long at most without an event. @default EVENT_TRUST_MS
   */
  eventTrustMs?: number;
  /**
   * How long a newly registered target takes to pass its health checks at best (interval times
   * healthy threshold): its health is first read after this long. @default pollMs
   */
  healthWaitMs?: number;
}

export interface ReconcileDeps {
  store: TenantReader & Pick<TenantWriter, 'save'> & Pick<RoutingSlots, 'routingSlotsByShard'>;
  compute: Compute;
  routing: Routing;
  /** Each tenant's own DNS record; needed when `settings.shards` is more than 1. */
  dns?: Dns;
  /** The tenants' persistent data; given exactly when `settings.persistentData` is set. */
  storage?: Storage;
  clock: Clock;
  settings: ReconcileSettings;
  logger?: Pick<Console, 'info' | 'warn' | 'error'>;
  random?: () => number;
  /** Recent wake durations: each wake this reconciler ends (writes Running) is recorded for the waking page's estimate. */
  wakeTimes?: WakeEstimate;
  /** How long a passivation waits for the tenant's data to be measured. @default DATA_SIZE_TIMEOUT_MS */
  dataSizeTimeoutMs?: number;
}

/**
 * A measurement walks at most a few seconds (SIZE_WALK_LIMITS); this covers the data function's
 * cold start around it. Past it the passivation goes on, and the data stays at its last size.
 */
export const DATA_SIZE_TIMEOUT_MS = 15_000;

/**
 * Reconciles one tenant, level-triggered: observe what exists, plan the next step from expected
 * and observed state, act on it idempotently, record actual state. The controller around it
 * (controller.ts) holds the lease while it acts, writes what it recorded, retries after a
 * conflict and backs off after an error. Safe to crash between any two steps: every step is
 * re-derived from what exists, and RunTask's client token is recorded before the call.
 */
export async function reconcile(deps: ReconcileDeps, tenantId: string, watch?: Watch): Promise<ReconcileResult> {
  // Every write of actual state meters the tenant's usage in the same write.
  const store = meteredStore(deps.store, deps.clock, deps.settings.plans);
  const metered = { ...deps, store: deps.wakeTimes ? recordingWakes(store, deps.wakeTimes, deps.logger) : store };
  return control(metered, tenantId, watch, (look) => reconcileLook(metered, look));
}

/** One look: observe → plan → act (up to `maxSteps`) → record, or throw for the controller's error policy. */
async function reconcileLook(deps: ReconcileDeps, { tenant, hold }: Look): Promise<Looked> {
  const { clock, settings } = deps;
  const recent = followedTask(tenant, clock.now(), trustMs(settings));
  // A trust window of 0 means the record's word is never taken for ECS's, health or not.
  const vouched = trustMs(settings) > 0 && vouchedByHealth(tenant);
  let recorded = recent ?? (vouched ? followedTask(tenant, clock.now(), Number.POSITIVE_INFINITY) : undefined);
  let followed = recorded !== undefined;
  let observed: Observation;
  try {
    observed = await observe(deps, tenant, recorded);
    if (recorded && !recent && !targetVouches(observed, recorded)) {
      observed = await observe(deps, tenant);
      recorded = undefined;
      followed = false;
    }
  } catch (error) {
    const failed = refused(deps, tenant, error);
    if (!failed) throw error;
    return { tenant: failed, result: { requeueAfterMs: retryPending(failed, clock.now()) ?? 0, phase: failed.status.phase } };
  }
  let next = plan(tenant, observed, settings, clock.now());
  if (followed && settlesDown(tenant, next)) {
    ({ observed, next } = await confirmed(deps, tenant, recorded));
    followed = false;
  }
  // Nothing to do: the controller writes only if what we see differs from what is recorded.
  if (!takesStep(next)) return recordLook(deps, tenant, observed, next);

  let current = await hold();
  let last: Step['kind'] | undefined;
  try {
    for (let steps = 0; steps < settings.maxSteps; steps++) {
      next = plan(current, observed, settings, clock.now());
      if (followed && settlesDown(current, next)) {
        ({ observed, next } = await confirmed(deps, current, recorded));
        followed = false;
      }
      if (!takesStep(next)) return recordLook(deps, current, observed, next, last);
      current = await takeStep(deps, current, observed, next);
      last = next.step.kind;
      const wait = retryPending(current, clock.now());
      if (wait !== undefined) return { tenant: current, result: { requeueAfterMs: wait, phase: current.status.phase } };
    }
    return { tenant: current, result: { requeueAfterMs: 0 } };
  } catch (thrown) {
    let error = thrown;
    if (thrown instanceof FailedAfterWrite) ({ tenant: current, error } = thrown);
    // Recorded in the phase of the step under way: a step that keeps failing shows where the
    // tenant is stuck (Passivating, Deleting), not the phase it was leaving.
    const seen = { ...current, status: settle(current, observed, next.phase, { kind: 'wait' }, clock.now()) };
    throw new StepFailed(current, seen, error);
  }
}

/**
 * A rising tenant whose recorded task runs and is registered: while the load balancer's health
 * checks reach it (its target is `initial` or `healthy`), they are fresh word that it still runs,
 * however old ECS's last event is. Asking ECS and searching the listener again at each look would
 * spend ELB's scarce Describe* calls for nothing; a target that stops answering ends this trust.
 */
function vouchedByHealth(tenant: Tenant): boolean {
  const task = tenant.status.task;
  return isRising(tenant) && task?.lastStatus === 'RUNNING' && Boolean(task.ip) && tenant.status.targetGroupArn !== undefined;
}

function targetVouches(observed: Observation, task: ObservedTask): boolean {
  return observed.targets.some((target) => target.ip === task.ip && (target.health === 'initial' || target.health === 'healthy'));
}

function trustMs(settings: ReconcileSettings): number {
  return settings.eventTrustMs ?? EVENT_TRUST_MS;
}

/**
 * A look that took the record's word is about to record the tenant asleep or deleted: the record
 * does not show what a crash may have left unrecorded (a rule or target group made just before
 * it), so the load balancer and ECS are asked once before the tenant is let go of.
 */
function settlesDown(tenant: Tenant, { step }: Plan): boolean {
  return !isRising(tenant) && step.kind === 'done';
}

async function confirmed(deps: ReconcileDeps, tenant: Tenant, followed?: ObservedTask): Promise<{ observed: Observation; next: Plan }> {
  // A task ECS said has STOPPED is not asked about again: only what the record may not know is.
  const stopped = followed?.lastStatus === 'STOPPED' ? followed : undefined;
  const asked = stopped ? { ...tenant, status: { ...tenant.status, task: undefined } } : tenant;
  const observed = await observe(deps, asked);
  if (stopped) observed.tasks = [stopped, ...observed.tasks.filter((task) => task.arn !== stopped.arn)];
  return { observed, next: plan(tenant, observed, deps.settings, deps.clock.now()) };
}

function takesStep({ step }: Plan): boolean {
  return step.kind !== 'wait' && step.kind !== 'done';
}

async function takeStep(deps: ReconcileDeps, tenant: Tenant, observed: Observation, { step, phase }: Plan): Promise<Tenant> {
  try {
    return await act(deps, tenant, observed, step, phase);
  } catch (error) {
    const [base, cause] = error instanceof FailedAfterWrite ? [error.tenant, error.error] : [tenant, error];
    const failed = refused(deps, base, cause);
    if (!failed) throw error;
    return failed;
  }
}

async function recordLook(deps: ReconcileDeps, tenant: Tenant, observed: Observation, next: Plan, last?: Step['kind']): Promise<Looked> {
  const looked = record(tenant, observed, next, deps.clock.now(), deps.settings.plans);
  const result = { ...looked.result, ...waitFor(deps, looked.tenant, next, last) };
  return { result, tenant: await withDataSize(deps, tenant, looked.tenant) };
}

/**
 * How long a wait lasts. A task starting or stopping is followed by ECS's events: each one
 * written to the record gets the tenant looked at again, so the wait only needs a safety net in
 * case none comes (long enough that this look lets go of the tenant). A target just registered
 * cannot pass its health checks sooner than they take, so its health is first read then.
 */
function waitFor(deps: ReconcileDeps, tenant: Tenant, { step }: Plan, last?: Step['kind']): Pick<ReconcileResult, 'requeueAfterMs'> {
  if (step.kind !== 'wait' || step.afterMs === undefined) return {};
  const { settings, clock } = deps;
  if (step.until === 'task-change' && followedTask(tenant, clock.now(), trustMs(settings))) return { requeueAfterMs: trustMs(settings) };
  if (last === 'registerTarget') return { requeueAfterMs: Math.max(step.afterMs, settings.healthWaitMs ?? settings.pollMs) };
  return {};
}

/**
 * A tenant's data is measured as it goes to sleep (one call per sleep, none while it runs or
 * sleeps): it changes only while the tenant runs. Once deleted it keeps nothing. A measurement
 * that fails or takes too long leaves the data counted at its last size: it never holds up or
 * fails the passivation.
 */
async function withDataSize(deps: ReconcileDeps, before: Tenant, after: Tenant): Promise<Tenant> {
  const reached = (phase: Phase) => after.status.phase === phase && before.status.phase !== phase;
  const now = deps.clock.now();
  if (reached('Deleted') && after.usage?.meter?.storage) return measuredStorage(after, { bytes: 0 }, now);
  const storage = deps.storage;
  if (!reached('Passivated') || !deps.settings.persistentData || !storage?.dataBytes) return after;
  try {
    const size = await withinTime(storage.dataBytes(after.id), deps.dataSizeTimeoutMs ?? DATA_SIZE_TIMEOUT_MS);
    if (size.lowerBound) deps.logger?.warn?.('The tenant data was measured in part: its size is a lower bound', { tenantId: after.id });
    return measuredStorage(after, size, now);
  } catch (error) {
    deps.logger?.warn?.('Could not measure the tenant data; it stays metered at its last size', { tenantId: after.id, error });
    return after;
  }
}

/** The promise's value, or a rejection once `ms` have passed without one. */
async function withinTime<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`No answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function record(tenant: Tenant, observed: Observation, { step, phase }: Plan, now: Date, plans: PlanCatalog): Looked {
  // Metered here as well as on save: a task the record lets go of stopped when the observation says.
  const recorded = meter({ ...tenant, status: settle(tenant, observed, phase, step, now) }, now, plans, observed.tasks);
  return { tenant: recorded, result: result(step, phase) };
}
