import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { VersionConflictError } from '../domain/errors.js';
import { plansHoursDigest, rescheduled, withPlanHoursNow } from '../domain/keep-warm.js';
import { builtInPlans, planNamed, type PlanCatalog } from '../domain/plans.js';
import { redactDetail } from '../domain/redaction.js';
import { heldWarm, idleTimeoutOf, longestIdleTimeout } from '../domain/sleep-policy.js';
import { isIdle, isSettled, isTombstone, needsAttention, withDesired, type Phase, type Tenant } from '../domain/tenant.js';
import { closePeriod } from '../domain/usage.js';
import { hadTraffic, type Activity, type ActivityLevel } from '../ports/activity.js';
import type { Clock } from '../ports/clock.js';
import type { ObservedTask } from '../ports/compute.js';
import type { RoutingInventory, TaskInventory } from '../ports/inventory.js';
import type { HostRule } from '../ports/routing.js';
import type { StorageInventory } from '../ports/storage.js';
import type {
  ActiveTenantLister,
  Markers,
  TenantLister,
  TenantReader,
  TenantWriter,
  TrialLister,
  WarmLister,
} from '../ports/tenant-store.js';
import { isLeased, type ReconcileResult } from './controller.js';
import { updateTenant, type TenantChange } from './update-tenant.js';

/**
 * The sweep, run on a schedule (every minute by default). Level-triggered like the reconciler:
 * each run looks at what is, decides, and writes expected state with conditional writes; the
 * stream and the reconciler do the rest. It never puts events itself (no dual writes), and it
 * does a bounded amount of work per run, continuing where the last run stopped.
 *
 * - Idle tenants (no traffic for their plan's idle timeout, up for at least `minRunMs`) get
 *   expected `passivated`; not on a plan that never sleeps, nor during their keep-warm hours.
 * - Sleeping tenants whose keep-warm hours begin within `warmLeadMs` get expected `running`.
 * - Trials past `trialEndsAt` get expected `deleted`; those ending within `expiringNoticeMs` get
 *   `expiringNoticeAt`, from which the stream publisher derives `Tenant Expiring`.
 * - Tenants whose retry time has come, that are not settled, whose record disagrees with AWS,
 *   or whose periodic resync is due are reconciled: this is what covers lost events.
 * - With `drift`, resources tagged as a tenant's whose tenant has no record are removed, and
 *   so is the persistent data of a tenant that is gone.
 * - Tenants that used something since their last usage report get the last whole hour closed on
 *   their record, from which the stream publisher derives `Tenant Usage`.
 * - Tenants that have sat in a phase on the way somewhere for longer than `stuckMs` are reported
 *   (`report.stuck`), for an alarm: retries that never end must not go unnoticed.
 */

export interface SweepSettings {
  /**
   * The installation's plans: a running tenant that received no traffic for its plan's `idleMs`
   * is passivated, and one whose plan has none never is. Keep-warm hours come from here too.
   */
  plans: PlanCatalog;
  /** A sleeping tenant with keep-warm hours is woken this long before they begin. */
  warmLeadMs: number;
  /** A tenant is not passivated before it has been Running this long (after a start or a wake). */
  minRunMs: number;
  /** How long before `trialEndsAt` the `Tenant Expiring` notice goes out. */
  expiringNoticeMs: number;
  /** Tenants read per page of the active index, of expired trials, of expiring trials. */
  pageSize: number;
  /**
   * Time after which no new page or drift lookup is started. A run always completes the page it
   * is on, so it may overrun by one page of work; the first page is always done, so every run
   * makes progress however small the budget.
   */
  budgetMs: number;
  /** Every active tenant is reconciled at least this often, even when nothing seems to change. */
  resyncMs: number;
  /**
   * The shortest activity window. ALB datapoints are per minute and reach CloudWatch a minute
   * or two late; looking back at least this far means a late datapoint is still seen. The price
   * is that a tenant goes to sleep up to this long after its idle timeout.
   */
  minActivityWindowMs: number;
  /** Reconciles run at once within a page. */
  reconcileConcurrency: number;
  /** A tenant in a phase on the way somewhere (Provisioning, Deleting, …) this long is reported as stuck. */
  stuckMs: number;
}

export const SWEEP_DEFAULTS: SweepSettings = {
  plans: builtInPlans({ cpu: 256, memory: 512, idleMs: 15 * 60_000, trialDays: 14 }),
  warmLeadMs: 5 * 60_000,
  minRunMs: 5 * 60_000,
  expiringNoticeMs: 24 * 3_600_000,
  pageSize: 100,
  budgetMs: 40_000,
  resyncMs: 10 * 60_000,
  minActivityWindowMs: 3 * 60_000,
  reconcileConcurrency: 8,
  stuckMs: 15 * 60_000,
};

/** Phases a tenant passes through on its way to a phase it can stay in; Queued waits by design. */
const PASSING_PHASES: ReadonlySet<Phase> = new Set(['Pending', 'Provisioning', 'Waking', 'Passivating', 'Deleting']);

/** A tenant that has been in a passing phase for too long, as the operator's alarm reports it. */
export interface StuckTenant {
  tenantId: string;
  phase: Phase;
  /** Whole minutes since the tenant entered the phase. */
  minutes: number;
  /** The recorded error, without secrets and bounded: this goes to operators' logs and terminals. */
  lastError?: string;
}

/** Where the pass over the active index stands: `{ cursor, passStartedAt }`; absent between passes. */
export const SWEEP_MARKER = 'sweep';
/** When the last complete pass started: every active tenant was looked at since then. */
export const LAST_PASS_MARKER = 'sweep-last-pass';
/** Where the walk over trials ending soon stands. */
export const EXPIRING_MARKER = 'sweep-expiring';
/**
 * The plans' keep-warm hours the sleeping tenants' `warmAt` follow (`{ applied }`, a digest), and
 * while they are brought up to new ones, where that walk stands (`{ applied, walk: { digest, cursor } }`).
 */
export const PLAN_HOURS_MARKER = 'sweep-plan-hours';

export interface SweepDeps {
  store: ActiveTenantLister & TrialLister & WarmLister & TenantLister & Markers & TenantReader & Pick<TenantWriter, 'save'>;
  activity: Activity;
  clock: Clock;
  reconcile: (tenantId: string) => Promise<ReconcileResult>;
  /**
   * What AWS holds under Dormouse's tags; without it the sweep does no drift repair. `storage`
   * is there when tenants keep persistent data.
   */
  drift?: { compute: TaskInventory; routing: RoutingInventory; storage?: StorageInventory };
  logger?: Pick<Console, 'info' | 'warn'>;
  /** Milliseconds from a monotonic source, for the time budget. @default performance.now */
  stopwatch?: () => number;
}

export interface SweepReport {
  /** Tenants read from the active index. */
  scanned: number;
  /** Tenants that had traffic in the window (their `lastActiveAt` moved to now). */
  active: number;
  passivated: number;
  /** Sleeping tenants woken ahead of their keep-warm hours. */
  warmed: number;
  /** Sleeping tenants whose `warmAt` moved because their plan's keep-warm hours changed. */
  rescheduled: number;
  expired: number;
  /** Trials that got their expiring notice. */
  expiring: number;
  reconciled: number;
  /** Resources removed because no tenant stands behind them, and tenants reconciled because AWS disagreed with their record. */
  repaired: { tasks: number; rules: number; targetGroups: number; storage: number; tenants: number };
  /** Tenants whose last hour was closed for `Tenant Usage`. */
  usageReported: number;
  /** Per-tenant failures (logged); the next run tries again. */
  errors: number;
  /** The pass over the active index reached its end in this run. */
  done: boolean;
  /** Tenants read in this run that have sat in a passing phase longer than `stuckMs`. */
  stuck: StuckTenant[];
}

type ReconcileReason = 'retry due' | 'not settled' | 'drift' | 'resync';

const MINUTE_MS = 60_000;

/** What one run knows and has done so far. */
class Run {
  readonly now: Date;
  readonly nowMs: number;
  readonly nowIso: string;
  readonly report: SweepReport = {
    scanned: 0,
    active: 0,
    passivated: 0,
    warmed: 0,
    rescheduled: 0,
    expired: 0,
    expiring: 0,
    reconciled: 0,
    repaired: { tasks: 0, rules: 0, targetGroups: 0, storage: 0, tenants: 0 },
    usageReported: 0,
    errors: 0,
    done: false,
    stuck: [],
  };
  private readonly reconciled = new Set<string>();
  private readonly warnedPlans = new Set<string>();
  private readonly stopwatch: () => number;
  private readonly startedAt: number;

  constructor(
    readonly deps: SweepDeps,
    readonly settings: SweepSettings,
  ) {
    this.now = deps.clock.now();
    this.nowMs = this.now.getTime();
    this.nowIso = this.now.toISOString();
    this.stopwatch = deps.stopwatch ?? (() => performance.now());
    this.startedAt = this.stopwatch();
  }

  outOfTime(): boolean {
    return this.stopwatch() - this.startedAt >= this.settings.budgetMs;
  }

  /** Reconciles a tenant at most once per run; a failure is logged and counted, not thrown. */
  async reconcile(tenantId: string, reason: ReconcileReason): Promise<void> {
    if (this.reconciled.has(tenantId)) return;
    this.reconciled.add(tenantId);
    try {
      await this.deps.reconcile(tenantId);
      this.report.reconciled += 1;
      if (reason === 'drift') this.report.repaired.tenants += 1;
      this.deps.logger?.info('Reconciled a tenant', { tenantId, reason });
    } catch (error) {
      this.failed('Reconciling a tenant failed; the next sweep tries again', error, tenantId);
    }
  }

  /** Said once per tenant and run: the tenant stays up until an operator fixes its plan. */
  unknownPlan(tenant: Tenant): void {
    if (this.warnedPlans.has(tenant.id)) return;
    this.warnedPlans.add(tenant.id);
    this.deps.logger?.warn('The tenant names a plan the configuration does not have; it is never passivated until that is fixed', {
      tenantId: tenant.id,
      plan: tenant.spec.plan,
    });
  }

  failed(message: string, error: unknown, tenantId?: string): void {
    this.report.errors += 1;
    this.deps.logger?.warn(message, { ...(tenantId ? { tenantId } : {}), error });
  }
}

export async function sweep(deps: SweepDeps, settings: Partial<SweepSettings> = {}): Promise<SweepReport> {
  const run = new Run(deps, { ...SWEEP_DEFAULTS, ...settings });
  // Cheap and bounded by one page each, so they come first and always run.
  await expireTrials(run);
  await noticeExpiringTrials(run);
  await wakeForKeepWarm(run);
  const inventory = deps.drift ? await repairDrift(run, deps.drift) : undefined;
  await sweepActive(run, inventory);
  // Rare (after a configuration change) and possibly long: with what the budget leaves.
  await followPlanHours(run);
  return run.report;
}

// ---- Trials ---------------------------------------------------------------------------------

/**
 * Expired trials leave the trial index once asked to go, so the first page is always the next
 * batch: no marker needed. The write is the API's delete: it frees the email and the slot.
 */
async function expireTrials(run: Run): Promise<void> {
  const { store, logger } = run.deps;
  const { items } = await store.listTrialsEndingBefore(run.nowIso, { limit: run.settings.pageSize });
  for (const tenant of items) {
    try {
      const expired = await writeFresh(store, tenant, (current) =>
        current.spec.desired !== 'deleted' && Date.parse(current.trialEndsAt ?? '') <= run.nowMs
          ? { tenant: withDesired(current, 'deleted'), options: { releaseClaims: true } }
          : undefined,
      );
      if (expired) {
        run.report.expired += 1;
        logger?.info('Trial ended; deleting the tenant', { tenantId: tenant.id, trialEndsAt: tenant.trialEndsAt });
      }
    } catch (error) {
      run.failed('Could not expire a trial', error, tenant.id);
    }
  }
}

/**
 * Trials ending within the notice time stay in the index until they expire, and the ones
 * already noticed come first (they end sooner), so the walk keeps its place in a marker and
 * starts over at the end: every trial in the window is reached, one page per run.
 */
async function noticeExpiringTrials(run: Run): Promise<void> {
  const { store, logger } = run.deps;
  const before = new Date(run.nowMs + run.settings.expiringNoticeMs).toISOString();
  const cursor = await store.getMarker(EXPIRING_MARKER);
  let page;
  try {
    page = await store.listTrialsEndingBefore(before, { limit: run.settings.pageSize, ...(cursor ? { cursor } : {}) });
  } catch (error) {
    if (!cursor) throw error;
    // A marker the store no longer accepts: start the walk over rather than stall on it.
    run.failed('Could not continue the walk over expiring trials; starting over', error);
    await store.setMarker(EXPIRING_MARKER, undefined);
    return;
  }
  for (const tenant of page.items) {
    try {
      const noticed = await writeFresh(store, tenant, (current) =>
        current.expiringNoticeAt === undefined && current.spec.desired !== 'deleted' && Date.parse(current.trialEndsAt ?? '') > run.nowMs
          ? { tenant: { ...current, expiringNoticeAt: run.nowIso } }
          : undefined,
      );
      if (noticed) {
        run.report.expiring += 1;
        logger?.info('Trial ends soon', { tenantId: tenant.id, trialEndsAt: tenant.trialEndsAt });
      }
    } catch (error) {
      run.failed('Could not record the expiring notice', error, tenant.id);
    }
  }
  if (page.cursor !== cursor) await store.setMarker(EXPIRING_MARKER, page.cursor);
}

// ---- Keep-warm hours ------------------------------------------------------------------------

/**
 * Wakes sleeping tenants whose keep-warm hours begin within the lead time, from the warm index,
 * page by page within the budget (the first page always). A woken tenant leaves the index with
 * the write, so the next run starts again from the top. The schedule is checked again on the
 * fresh record: one changed or removed since the tenant went to sleep moves it to the start of
 * its current next window (or out of the index) instead of waking it.
 */
async function wakeForKeepWarm(run: Run): Promise<void> {
  const { store, logger } = run.deps;
  const { plans, warmLeadMs, pageSize } = run.settings;
  const due = new Date(run.nowMs + warmLeadMs).toISOString();
  let cursor: string | undefined;
  for (let pages = 0; pages === 0 || !run.outOfTime(); pages++) {
    const page = await store.listWarmDue(due, { limit: pageSize, ...(cursor ? { cursor } : {}) });
    for (const tenant of page.items) {
      try {
        let woken = false;
        await writeFresh(store, tenant, (current) => {
          woken = false;
          if (current.spec.desired !== 'passivated' || !current.warmAt || Date.parse(current.warmAt) > Date.parse(due)) return undefined;
          // An ended trial is not woken: the sweep asks for its deletion instead.
          if (!(Date.parse(current.trialEndsAt ?? '') <= run.nowMs) && heldWarm(current, plans, run.now, warmLeadMs)) {
            woken = true;
            return { tenant: withDesired(current, 'running') };
          }
          // Not (or no longer) held warm: wait for the next start of its hours, or for none.
          return { tenant: rescheduled(current, plans, run.now) };
        });
        if (woken) {
          run.report.warmed += 1;
          logger?.info('Waking a tenant ahead of its keep-warm hours', { tenantId: tenant.id, warmAt: tenant.warmAt });
        }
      } catch (error) {
        run.failed('Could not wake a tenant for its keep-warm hours', error, tenant.id);
      }
    }
    if (!page.cursor) return;
    cursor = page.cursor;
  }
}

interface PlanHoursState {
  /** The digest of the plans' hours every sleeping tenant's `warmAt` was last computed from. */
  applied?: string;
  /** A walk over the sleeping tenants towards `digest`, and where it stands. */
  walk?: { digest: string; cursor?: string };
}

/**
 * A sleeping tenant's `warmAt` is set as it goes to sleep: hours added to its plan, or moved
 * earlier, since then would not wake it in time. When the configured hours differ from the ones
 * last applied, the sleeping tenants are walked (the phase index, page by page, within the budget
 * and across runs, the first page always) and their `warmAt` computed again; then the new digest
 * is recorded. A configuration changed again during a walk starts it over.
 */
async function followPlanHours(run: Run): Promise<void> {
  const { store } = run.deps;
  const { plans, warmLeadMs, pageSize } = run.settings;
  const digest = plansHoursDigest(plans);
  const state = parsePlanHours(await store.getMarker(PLAN_HOURS_MARKER));
  if (state.applied === digest) return;
  // First run, no plan with hours: no sleeping tenant can owe a wake to plan hours, so there is
  // nothing to walk (on an installation upgraded with thousands asleep, a read of every one).
  if (!state.applied && !state.walk && plans.plans.every((plan) => !plan.keepWarm)) {
    await store.setMarker(PLAN_HOURS_MARKER, JSON.stringify({ applied: digest }));
    return;
  }
  let cursor = state.walk?.digest === digest ? state.walk.cursor : undefined;
  const due = new Date(run.nowMs + warmLeadMs);
  for (let pages = 0; pages === 0 || !run.outOfTime(); pages++) {
    let page;
    try {
      page = await store.list({ phase: 'Passivated', limit: pageSize, ...(cursor ? { cursor } : {}) });
    } catch (error) {
      if (!cursor) throw error;
      // A cursor the store no longer accepts: start the walk over rather than stall on it.
      run.failed('Could not continue the walk over sleeping tenants for new keep-warm hours; starting over', error);
      await store.setMarker(PLAN_HOURS_MARKER, JSON.stringify({ ...state, walk: { digest } }));
      return;
    }
    for (const tenant of page.items) {
      try {
        if (await writeFresh(store, tenant, (current) => toWrite(withPlanHoursNow(current, plans, run.now, due)))) {
          run.report.rescheduled += 1;
        }
      } catch (error) {
        run.failed('Could not move a sleeping tenant to its plan’s new keep-warm hours', error, tenant.id);
      }
    }
    cursor = page.cursor;
    if (!cursor) {
      await store.setMarker(PLAN_HOURS_MARKER, JSON.stringify({ applied: digest }));
      run.deps.logger?.info('Sleeping tenants follow the plans’ keep-warm hours', { digest });
      return;
    }
    await store.setMarker(PLAN_HOURS_MARKER, JSON.stringify({ ...state, walk: { digest, cursor } }));
  }
}

function toWrite(tenant: Tenant | undefined): { tenant: Tenant } | undefined {
  return tenant ? { tenant } : undefined;
}

function parsePlanHours(marker: string | undefined): PlanHoursState {
  if (!marker) return {};
  try {
    const state = JSON.parse(marker) as PlanHoursState;
    return typeof state === 'object' && state !== null ? state : {};
  } catch {
    return {};
  }
}

// ---- The active index -----------------------------------------------------------------------

interface Position {
  cursor: string;
  passStartedAt: string;
}

interface Inventory {
  taskArns: Set<string>;
  ruleArns: Set<string>;
  targetGroupArns: Set<string>;
}

/**
 * One pass reads the active index from the least recently active tenant on, page by page,
 * across as many runs as it takes. Tenants found active move to the end of the index (their
 * `lastActiveAt` becomes now), so the pass ends at the first tenant active since it started:
 * everyone after it has been looked at in this pass, or just became active and gets the next.
 */
async function sweepActive(run: Run, inventory: Inventory | undefined): Promise<void> {
  const { store } = run.deps;
  const position = parsePosition(await store.getMarker(SWEEP_MARKER), run);
  const lastPass = Date.parse((await store.getMarker(LAST_PASS_MARKER)) ?? '');
  const passStartedAt = position?.passStartedAt ?? run.nowIso;
  // When tenants of this pass were last looked at: during the previous pass, at the earliest
  // when it started. Activity and resync are measured since then, so nothing falls in a gap.
  const lastVisit = Number.isNaN(lastPass) ? run.nowMs - run.settings.minActivityWindowMs : Math.min(lastPass, run.nowMs);
  let cursor = position?.cursor;

  for (let pages = 0; pages === 0 || !run.outOfTime(); pages++) {
    const page = await store.listActive({ limit: run.settings.pageSize, ...(cursor ? { cursor } : {}) });
    run.report.scanned += page.items.length;
    const boundary = page.items.findIndex((tenant) => Date.parse(tenant.lastActiveAt) >= Date.parse(passStartedAt));
    await sweepPage(run, boundary < 0 ? page.items : page.items.slice(0, boundary), lastVisit, inventory);
    if (boundary >= 0 || !page.cursor) {
      await store.setMarker(SWEEP_MARKER, undefined);
      await store.setMarker(LAST_PASS_MARKER, passStartedAt);
      run.report.done = true;
      return;
    }
    cursor = page.cursor;
    // Saved after every page, so a run that dies loses at most the page it was on.
    await store.setMarker(SWEEP_MARKER, JSON.stringify({ cursor, passStartedAt } satisfies Position));
  }
}

function parsePosition(marker: string | undefined, run: Run): Position | undefined {
  if (!marker) return undefined;
  try {
    const position = JSON.parse(marker) as Partial<Position>;
    if (
      typeof position.cursor === 'string' &&
      typeof position.passStartedAt === 'string' &&
      !Number.isNaN(Date.parse(position.passStartedAt))
    ) {
      return { cursor: position.cursor, passStartedAt: position.passStartedAt };
    }
  } catch {
    // Reported below.
  }
  run.deps.logger?.warn('Ignoring an unreadable sweep marker; starting a new pass', { marker });
  return undefined;
}

async function sweepPage(run: Run, tenants: Tenant[], lastVisit: number, inventory: Inventory | undefined): Promise<void> {
  const levels = await measure(run, tenants, lastVisit);
  const due: Array<{ id: string; reason: ReconcileReason }> = [];
  for (const listed of tenants) {
    const stuck = stuckTenant(listed, run);
    if (stuck) run.report.stuck.push(stuck);
    try {
      const tenant = await reportUsage(run, listed);
      const level = levels?.get(tenant.id);
      if (level && hadTraffic(level)) {
        run.report.active += 1;
        await writeFresh(run.deps.store, tenant, (current) =>
          Date.parse(current.lastActiveAt) < run.nowMs ? { tenant: { ...current, lastActiveAt: run.nowIso } } : undefined,
        );
      } else if (level && maySleep(run, tenant) && (await passivate(run, tenant))) {
        // Its new generation reaches the reconciler through the stream.
        continue;
      }
      const reason = reconcileReason(run, tenant, lastVisit, inventory);
      if (reason) due.push({ id: tenant.id, reason });
    } catch (error) {
      run.failed('Sweeping a tenant failed', error, listed.id);
    }
  }
  await forEachLimit(due, run.settings.reconcileConcurrency, ({ id, reason }) => run.reconcile(id, reason));
}

/**
 * Closes the last whole hour on the record of a tenant that used something since its last
 * report: the stream publisher turns that write into `Tenant Usage`. Once per tenant and hour,
 * however often the sweep comes by (the write is conditional, and a closed hour is not closed
 * again). Returns the record as it now is.
 */
async function reportUsage(run: Run, tenant: Tenant): Promise<Tenant> {
  if (!closePeriod(tenant, run.now)) return tenant;
  try {
    const result = await updateTenant(
      run.deps.store,
      tenant.id,
      (current) => {
        const closed = closePeriod(current, run.now);
        return closed ? { tenant: closed } : undefined;
      },
      { from: tenant },
    );
    if (!result.written) return result.tenant ?? tenant;
    run.report.usageReported += 1;
    return result.tenant;
  } catch (error) {
    if (!(error instanceof VersionConflictError)) throw error;
    return tenant;
  }
}

function stuckTenant(tenant: Tenant, run: Run): StuckTenant | undefined {
  const { phase, transitionAt, lastError } = tenant.status;
  const forMs = run.nowMs - Date.parse(transitionAt);
  if (!PASSING_PHASES.has(phase) || !(forMs > run.settings.stuckMs)) return undefined;
  return {
    tenantId: tenant.id,
    phase,
    minutes: Math.floor(forMs / MINUTE_MS),
    ...(lastError ? { lastError: redactDetail(lastError, 'admin') } : {}),
  };
}

/**
 * Activity since the page's tenants were last looked at, one call for the page. Undefined when
 * it could not be measured: then no tenant of the page is passivated, since no news is not
 * proof of idleness.
 */
async function measure(run: Run, tenants: Tenant[], lastVisit: number): Promise<Map<string, ActivityLevel> | undefined> {
  const targets = tenants.flatMap((tenant) =>
    tenant.status.targetGroupArn
      ? [
          {
            tenantId: tenant.id,
            targetGroupArn: tenant.status.targetGroupArn,
            ...(tenant.status.shard ? { shard: tenant.status.shard } : {}),
            ...(tenant.status.task ? { taskArn: tenant.status.task.arn } : {}),
          },
        ]
      : [],
  );
  if (targets.length === 0) return new Map();
  const { plans, minActivityWindowMs } = run.settings;
  // Since the last visit, at least the reporting delay, and never further back than the longest
  // idle timeout reaches: older traffic cannot change any decision.
  const reach = longestIdleTimeout(plans) ?? minActivityWindowMs;
  const start = Math.max(run.nowMs - reach, Math.min(lastVisit, run.nowMs - minActivityWindowMs));
  try {
    return await run.deps.activity.activity(targets, { start: new Date(start), end: run.now });
  } catch (error) {
    run.failed('Could not read tenant activity; no tenant of this page is passivated this run', error);
    return undefined;
  }
}

/**
 * Sets expected `passivated` on the version read. A conflict means someone wrote the tenant
 * meanwhile: if they changed its expected state (a wake) they win and the sweep leaves it for
 * its next run; otherwise idleness is decided again on the fresh record, so a visit recorded
 * meanwhile keeps the tenant up.
 */
async function passivate(run: Run, tenant: Tenant): Promise<boolean> {
  const passivated = await writeFresh(run.deps.store, tenant, (current) =>
    current.spec.generation === tenant.spec.generation && maySleep(run, current)
      ? { tenant: withDesired(current, 'passivated') }
      : undefined,
  );
  if (passivated) {
    run.report.passivated += 1;
    run.deps.logger?.info('Passivating an idle tenant', { tenantId: tenant.id, lastActiveAt: tenant.lastActiveAt });
  }
  return passivated;
}

/**
 * Idle past its plan's timeout and outside its keep-warm hours (and the lead time before them).
 * A plan that never sleeps, or a plan the configuration no longer has, keeps the tenant up.
 */
function maySleep(run: Run, tenant: Tenant): boolean {
  const { plans, minRunMs, warmLeadMs } = run.settings;
  const idleMs = idleTimeoutOf(tenant, plans);
  if (idleMs === undefined) {
    if (!planNamed(plans, tenant.spec.plan)) run.unknownPlan(tenant);
    return false;
  }
  return isIdle(tenant, run.nowMs, { idleMs, minRunMs }) && !heldWarm(tenant, plans, run.now, warmLeadMs);
}

function reconcileReason(run: Run, tenant: Tenant, lastVisit: number, inventory: Inventory | undefined): ReconcileReason | undefined {
  const { status } = tenant;
  // A reconciler holds it: it is being looked at right now.
  if (isLeased(tenant, run.nowMs)) return undefined;
  if (status.retryAt) return Date.parse(status.retryAt) <= run.nowMs ? 'retry due' : undefined;
  if (!isSettled(tenant)) return 'not settled';
  if (inventory && recordAheadOfAws(tenant, inventory)) return 'drift';
  // At rest, and in the index only until its usage is reported: nothing to resync.
  if (!needsAttention(tenant)) return undefined;
  if (resyncDue(tenant.id, Math.max(lastVisit, run.nowMs - run.settings.resyncMs), run.nowMs, run.settings.resyncMs)) return 'resync';
  return undefined;
}

/** The record names a task, rule or target group that AWS does not show (a lost event, a hand edit). */
function recordAheadOfAws(tenant: Tenant, inventory: Inventory): boolean {
  const { task, ruleArn, targetGroupArn } = tenant.status;
  return (
    (task !== undefined && task.lastStatus !== 'STOPPED' && !inventory.taskArns.has(task.arn)) ||
    (ruleArn !== undefined && !inventory.ruleArns.has(ruleArn)) ||
    (targetGroupArn !== undefined && !inventory.targetGroupArns.has(targetGroupArn))
  );
}

/**
 * Whether one of the tenant's resync times falls in (since, now]. Each tenant's resync times
 * are `resyncMs` apart at an offset of its own, so tenants spread evenly over the interval
 * instead of all being reconciled in the same run, and no write is needed to remember when.
 */
export function resyncDue(tenantId: string, since: number, now: number, resyncMs: number): boolean {
  const offset = createHash('sha256').update(tenantId).digest().readUInt32BE(0) % resyncMs;
  const slot = (time: number) => Math.floor((time - offset) / resyncMs);
  return slot(now) > slot(since);
}

// ---- Drift ----------------------------------------------------------------------------------

interface Owned {
  tasks: ObservedTask[];
  rules: HostRule[];
  targetGroups: string[];
  /** The tenant has persistent data in this installation. */
  storage: boolean;
}

/**
 * Compares what AWS holds under Dormouse's tags with the records. Resources of a tenant with no
 * record, or only a tombstone (the reconciler is done with those), are removed here; a tenant
 * whose settled record disagrees with AWS is reconciled, and the reconciler removes what should
 * not be there. Tenants not yet settled are left to the active pass, which reconciles them anyway.
 */
async function repairDrift(run: Run, drift: NonNullable<SweepDeps['drift']>): Promise<Inventory | undefined> {
  let tasks: ObservedTask[];
  let rules: Array<HostRule & { tenantId: string }>;
  let groups: Array<{ arn: string; tenantId: string }>;
  let stored: string[];
  try {
    [tasks, rules, groups, stored] = await Promise.all([
      drift.compute.allTenantTasks(),
      drift.routing.managedRules(),
      drift.routing.managedTargetGroups(),
      drift.storage?.managedTenants() ?? [],
    ]);
  } catch (error) {
    run.failed('Could not list AWS resources; no drift repair this run', error);
    return undefined;
  }
  const owners = new Map<string, Owned>();
  const ownedBy = (tenantId: string) => {
    let owned = owners.get(tenantId);
    if (!owned) owners.set(tenantId, (owned = { tasks: [], rules: [], targetGroups: [], storage: false }));
    return owned;
  };
  for (const task of tasks) ownedBy(task.tenantId).tasks.push(task);
  for (const rule of rules) ownedBy(rule.tenantId).rules.push(rule);
  for (const group of groups) ownedBy(group.tenantId).targetGroups.push(group.arn);
  for (const tenantId of stored) ownedBy(tenantId).storage = true;

  // A different starting point each minute, so a budget that runs out does not always spare the same tenants.
  const ids = [...owners.keys()].filter((id) => !onlyData(owners.get(id)!)).sort();
  const start = ids.length === 0 ? 0 : Math.floor(run.nowMs / MINUTE_MS) % ids.length;
  // Tenants with nothing but their data are most of them (every sleeping one), and each costs a
  // read: a page of them per run, the next page at the next run.
  const dataOnly = [...owners.keys()].filter((id) => onlyData(owners.get(id)!)).sort();
  const pages = Math.max(1, Math.ceil(dataOnly.length / run.settings.pageSize));
  const page = Math.floor(run.nowMs / MINUTE_MS) % pages;
  const dataPage = dataOnly.slice(page * run.settings.pageSize, (page + 1) * run.settings.pageSize);
  const toReconcile: string[] = [];
  for (const tenantId of [...ids.slice(start), ...ids.slice(0, start), ...dataPage]) {
    if (run.outOfTime()) break;
    const owned = owners.get(tenantId)!;
    try {
      const tenant = await run.deps.store.get(tenantId);
      if (!tenant || isTombstone(tenant)) {
        // A tombstone whose data is not marked removed was deleted while the installation kept no
        // data: its files stay until the tombstone expires, then go as those of no tenant.
        const dataGone = !tenant || tenant.status.dataRemoved === true;
        await removeOrphans(
          run,
          drift,
          tenantId,
          { ...owned, storage: owned.storage && dataGone },
          tenant ? 'its tenant was deleted' : 'no tenant has this name',
        );
      } else if (awsAheadOfRecord(tenant, owned, run.nowMs)) {
        toReconcile.push(tenantId);
      }
    } catch (error) {
      run.failed('Drift repair failed for a tenant', error, tenantId);
    }
  }
  await forEachLimit(toReconcile, run.settings.reconcileConcurrency, (tenantId) => run.reconcile(tenantId, 'drift'));
  return {
    taskArns: new Set(tasks.map((task) => task.arn)),
    ruleArns: new Set(rules.map((rule) => rule.arn)),
    targetGroupArns: new Set(groups.map((group) => group.arn)),
  };
}

function onlyData(owned: Owned): boolean {
  return owned.tasks.length + owned.rules.length + owned.targetGroups.length === 0;
}

/** AWS holds something for a settled tenant that its record does not account for. */
function awsAheadOfRecord(tenant: Tenant, owned: Owned, now: number): boolean {
  if (isLeased(tenant, now)) return false;
  if (!isSettled(tenant)) return false;
  const { status } = tenant;
  if (status.phase !== 'Running') return owned.tasks.length + owned.rules.length + owned.targetGroups.length > 0;
  return (
    owned.tasks.some((task) => task.arn !== status.task?.arn) ||
    owned.rules.some((rule) => rule.arn !== status.ruleArn) ||
    owned.targetGroups.some((arn) => arn !== status.targetGroupArn)
  );
}

/**
 * Rules first, so the host falls through to the wake function and the group is no longer in use.
 * Data last, and only once no task of the tenant is listed: one stopped now still has it mounted,
 * so its data goes at a later run.
 */
async function removeOrphans(run: Run, drift: NonNullable<SweepDeps['drift']>, tenantId: string, owned: Owned, why: string): Promise<void> {
  const { report, deps } = run;
  const remove = async (kind: 'rules' | 'tasks' | 'targetGroups' | 'storage', arn: string, action: () => Promise<void>) => {
    try {
      await action();
      report.repaired[kind] += 1;
      deps.logger?.info('Drift repair: removed a resource', { tenantId, kind, arn, why });
    } catch (error) {
      run.failed('Drift repair: could not remove a resource', error, tenantId);
    }
  };
  for (const rule of owned.rules) await remove('rules', rule.arn, () => drift.routing.deleteRule(rule.arn));
  for (const task of owned.tasks) {
    await remove('tasks', task.arn, () => drift.compute.stopTask(task.arn, `Dormouse drift repair: ${why}`));
  }
  for (const arn of owned.targetGroups) await remove('targetGroups', arn, () => drift.routing.deleteTargetGroup(arn));
  const storage = drift.storage;
  if (storage && owned.storage && owned.tasks.length === 0) await remove('storage', tenantId, () => storage.remove(tenantId));
}

// ---- Helpers ----------------------------------------------------------------------------------

/**
 * Writes `change(current)` on the version read from the index; on a conflict reads the tenant
 * again and asks `change` again, so a concurrent writer is never overwritten. Returns whether it
 * wrote. A tenant that keeps changing is left to the next run rather than failing this one.
 */
async function writeFresh(store: SweepDeps['store'], tenant: Tenant, change: TenantChange): Promise<boolean> {
  try {
    return (await updateTenant(store, tenant.id, change, { from: tenant })).written;
  } catch (error) {
    if (error instanceof VersionConflictError) return false;
    throw error;
  }
}

async function forEachLimit<T>(items: T[], limit: number, action: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await action(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
}
