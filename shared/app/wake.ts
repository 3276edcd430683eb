import { setTimeout as sleep } from 'node:timers/promises';
import { VersionConflictError } from '../domain/errors.js';
import { publicReason } from '../domain/error-categories.js';
import type { PlanCatalog } from '../domain/plans.js';
import { isValidSlug } from '../domain/slug.js';
import { heldWarm, idleTimeoutOf } from '../domain/sleep-policy.js';
import { isIdle, shardOf, withDesired, type AnonymousWakes, type Phase, type Tenant } from '../domain/tenant.js';
import type { Clock } from '../ports/clock.js';
import type { ActiveTenantLister, RoutingSlots, TenantReader, TenantWriter } from '../ports/tenant-store.js';
import type { MissCache } from './miss-cache.js';
import type { WakeEstimate } from './wake-estimate.js';
import { updateTenant, type TenantWrite, type UpdateResult } from './update-tenant.js';

/**
 * Wake on request. A sleeping tenant has no ALB rule, so its host falls through to the
 * catch-all rule and lands here. This answers every such request, and for a sleeping tenant
 * sets the expected state back to running. It is public and sits in front of random traffic,
 * so it is cheap: at most one eventually consistent tenant read per request, none for hosts
 * that cannot name a tenant or named a missing one lately, and writes only when a sleeper is
 * asked to wake. Anyone can send those requests, so a tenant is woken this way at most
 * `anonymousWakesPerHour` times an hour: a script cannot keep cycling sleepers through the
 * routing slots (each wake may evict an idle tenant). Its owner can always wake it by the API.
 */

export interface WakeSettings {
  /** Tenants are `<slug>.<rootDomain>`: the hostname of DORMOUSE_BASE_URL. */
  rootDomain: string;
  /** Routing slots per load balancer; when all are taken a wake evicts an idle tenant. */
  maxActiveTenants: number;
  /** Routing shards (load balancers) of `maxActiveTenants` slots each. @default 1 */
  shards?: number;
  /** A tenant is not evicted before it has run, and been idle, this long. */
  minRunMs: number;
  /** The installation's plans: a tenant whose plan never sleeps, or inside its keep-warm hours, is never evicted. */
  plans: PlanCatalog;
  /** How many of the least recently active tenants are looked at for an eviction. @default 25 */
  evictionCandidates?: number;
  /** Wakes of one tenant by requests to its address, per hour. @default 6 */
  anonymousWakesPerHour?: number;
  /** How long a request that is not a browser navigation is held while its tenant wakes. @default 0 */
  holdMs?: number;
}

export interface WakeDeps {
  store: TenantReader &
    Pick<TenantWriter, 'save'> &
    Pick<RoutingSlots, 'countRoutingSlots' | 'routingSlotsByShard' | 'countQueuedBefore'> &
    ActiveTenantLister;
  clock: Clock;
  settings: WakeSettings;
  /** Slugs recently found not to exist; shared by every request this process answers. */
  unknownTenants: MissCache;
  /** Recent wake durations: the estimate on waking answers, and where a held request records the wake it saw end. */
  wakeTimes?: WakeEstimate;
  logger?: Pick<Console, 'info' | 'warn'>;
}

export interface WakeRequest {
  /** The Host header as received, port included. */
  host: string | undefined;
  acceptsJson: boolean;
  /**
   * Hold the request while the tenant wakes, and answer `ready` as soon as it serves: for every
   * request that is not a browser navigation, which would rather wait than read a page.
   */
  hold?: boolean;
  /** How long the caller can wait at most (a Lambda's remaining time); the hold ends sooner. */
  maxWaitMs?: number;
}

/**
 * What the page says. `unknown`: no such tenant; `gone`: deleted or trial over; `resting`:
 * asleep, and woken by requests as often as an hour allows.
 */
export type WakeKind = 'unknown' | 'gone' | 'failed' | 'waking' | 'resting' | 'ready';

/**
 * Where a waking tenant is, in the words a visitor can follow: asked to wake (or waiting in line
 * for a place), its server starting, its application starting.
 */
export type WakeStep = 'asked' | 'server' | 'app';

export interface WakeAnswer {
  /** 307 (`ready`): a held request's tenant serves now; the client sends it again to the same URL. */
  status: 307 | 404 | 410 | 503;
  kind: WakeKind;
  format: 'html' | 'json';
  /** The requested slug, once the host named a well-formed one. Never another tenant's. */
  tenant?: string;
  phase?: Phase;
  /** Seconds before asking again (the Retry-After header, and the page's refresh). */
  retryAfter?: number;
  /** Place in the queue for a routing slot, 1 for next. */
  position?: number;
  /** Where a waking tenant is. */
  step?: WakeStep;
  /** How long a wake usually takes, from the median of recent ones; absent before any was measured. */
  estimateSeconds?: number;
  /** Why the tenant failed, in a fixed sentence for its kind of error (the page is public). */
  reason?: string;
}

/** A tenant on its way up is looked at again this often; a queued one less often. */
export const WAKING_RETRY_SECONDS = 5;
export const QUEUED_RETRY_SECONDS = 15;
/** A failed tenant does not recover by itself: the page does not reload, and asks clients to wait. */
export const FAILED_RETRY_SECONDS = 60;

const DEFAULT_EVICTION_CANDIDATES = 25;
export const DEFAULT_ANONYMOUS_WAKES_PER_HOUR = 6;
const WAKE_WINDOW_MS = 3_600_000;

/** The longest DNS name; anything longer is not a host. */
const MAX_HOST_LENGTH = 253;
const PORT = /:\d{1,5}$/;
/** Visible ASCII only: a host with other characters is not one we serve (IDNs arrive as xn--). */
const ASCII_HOST = /^[\x21-\x7e]+$/;

/**
 * The tenant a Host header names, or undefined when it names none: another domain, extra
 * labels, a label that is not a valid slug. Hosts are case-insensitive, so `ACME.<root>` is
 * acme. The ASCII check runs before lowercasing, because Unicode lowercasing maps some
 * characters onto ASCII ones (the Kelvin sign becomes `k`).
 */
export function slugFromHost(host: string | undefined, rootDomain: string): string | undefined {
  if (!host || host.length > MAX_HOST_LENGTH + ':65535'.length || !ASCII_HOST.test(host)) return undefined;
  const name = host.toLowerCase().replace(PORT, '');
  if (name.length > MAX_HOST_LENGTH) return undefined;
  const suffix = `.${rootDomain.toLowerCase()}`;
  if (!name.endsWith(suffix)) return undefined;
  // A valid slug has no dots, so `a.b.<root>` and `<root>` itself fall out here.
  const label = name.slice(0, -suffix.length);
  return isValidSlug(label) ? label : undefined;
}

type State = 'gone' | 'failed' | 'asleep' | 'starting';

function stateOf(tenant: Tenant, now: Date): State {
  const { phase } = tenant.status;
  if (tenant.spec.desired === 'deleted' || phase === 'Deleting' || phase === 'Deleted') return 'gone';
  // An expired trial is not woken; the sweep asks for its deletion.
  if (Date.parse(tenant.trialEndsAt ?? '') <= now.getTime()) return 'gone';
  // A failed tenant stays failed until its owner retries; visitors do not retry it for them.
  if (phase === 'Failed') return 'failed';
  if (tenant.spec.desired === 'passivated' || phase === 'Passivated' || phase === 'Passivating') return 'asleep';
  // Pending, Queued, Provisioning, Waking, and Running (its rule may be seconds from existing).
  return 'starting';
}

/**
 * Answers a request for a tenant host, waking the tenant if it sleeps; a request to hold waits
 * while the tenant wakes, up to the hold time.
 */
export async function wake(deps: WakeDeps, request: WakeRequest): Promise<WakeAnswer> {
  const first = await lookAndWake(deps, request);
  const holdMs = Math.min(deps.settings.holdMs ?? 0, request.maxWaitMs ?? Number.POSITIVE_INFINITY);
  // Already Running, yet the request came here: its DNS still names another shard, or its route
  // is moments from taking effect. A 307 could send the client round in circles; Retry-After will do.
  const answerNow = !request.hold || first.kind !== 'waking' || first.phase === 'Running' || holdMs <= 0;
  const answer = answerNow ? first : await holdUntilServing(deps, first, deps.clock.now().getTime() + holdMs);
  return answer.kind === 'waking' ? withEstimate(deps, answer) : answer;
}

async function withEstimate(deps: WakeDeps, answer: WakeAnswer): Promise<WakeAnswer> {
  try {
    const seconds = await deps.wakeTimes?.seconds(deps.clock.now().getTime());
    return seconds === undefined ? answer : { ...answer, estimateSeconds: seconds };
  } catch (error) {
    // Only the estimate is missing: the page says "under a minute" instead.
    deps.logger?.warn('Could not read the recent wake times', { error });
    return answer;
  }
}

/** A held request saw the wake through: from the request that woke the tenant to its recorded start. */
async function recordWake(deps: WakeDeps, tenant: Tenant): Promise<void> {
  if (!deps.wakeTimes || !tenant.wokenAt) return;
  try {
    await deps.wakeTimes.record({ wokenAt: tenant.wokenAt, ms: Date.parse(tenant.status.transitionAt) - Date.parse(tenant.wokenAt) });
  } catch (error) {
    deps.logger?.warn('Could not record a wake time', { tenantId: tenant.id, error });
  }
}

/** The first look at a waking tenant waits this long, then each one half as long again, up to the longest. */
export const HOLD_FIRST_LOOK_MS = 250;
export const HOLD_LONGEST_LOOK_MS = 1_000;

/**
 * Looks at the tenant again and again, with a growing pause, until it serves (`ready`), stops
 * waking (failed, deleted, put back to sleep: the answer for what it is then), or the deadline
 * comes (the last waking answer, with its Retry-After). Eventually consistent reads: at most one
 * a second after the first two seconds, about 27 half read units for a 25 s hold. Nothing is
 * written here; a read that fails ends the hold with the last answer.
 */
async function holdUntilServing(deps: WakeDeps, first: WakeAnswer, deadline: number): Promise<WakeAnswer> {
  const slug = first.tenant!;
  let last = first;
  let pause = HOLD_FIRST_LOOK_MS;
  for (;;) {
    const left = deadline - deps.clock.now().getTime();
    if (left <= 0) return last;
    await sleep(Math.min(pause, left));
    pause = Math.min(pause * 1.5, HOLD_LONGEST_LOOK_MS);
    let tenant: Tenant | undefined;
    try {
      tenant = await deps.store.get(slug, { consistent: false });
    } catch (error) {
      deps.logger?.warn('Could not look at a waking tenant; the held request is answered as it stands', { tenantId: slug, error });
      return last;
    }
    const now = deps.clock.now();
    if (!tenant) return { status: 404, kind: 'unknown', format: first.format, tenant: slug };
    if (serves(tenant, now)) {
      await recordWake(deps, tenant);
      return { status: 307, kind: 'ready', format: first.format, tenant: slug, phase: tenant.status.phase };
    }
    const state = stateOf(tenant, now);
    if (state === 'gone' || state === 'failed') return settledAnswer(tenant, state, first.format);
    // Put back to sleep while held (an operator, or an eviction): nothing will serve it soon.
    if (tenant.spec.desired !== 'running') return last;
    last = await progress(deps, tenant, first.format);
  }
}

/** Recorded Running and asked to: its route is in place (or moments from it), so the request gets through. */
function serves(tenant: Tenant, now: Date): boolean {
  return tenant.status.phase === 'Running' && tenant.spec.desired === 'running' && stateOf(tenant, now) === 'starting';
}

/** The answer for a tenant that will not serve by itself: deleted or ended (410), or failed (503, no reload). */
function settledAnswer(tenant: Tenant, state: 'gone' | 'failed', format: WakeAnswer['format']): WakeAnswer {
  if (state === 'gone') return { status: 410, kind: 'gone', format, tenant: tenant.id, phase: tenant.status.phase };
  return {
    status: 503,
    kind: 'failed',
    format,
    tenant: tenant.id,
    phase: tenant.status.phase,
    retryAfter: FAILED_RETRY_SECONDS,
    // Anyone can load this page: a fixed sentence for the kind of error, never the error.
    reason: publicReason(tenant.status) ?? 'It could not be started.',
  };
}

async function lookAndWake(deps: WakeDeps, request: WakeRequest): Promise<WakeAnswer> {
  const format = request.acceptsJson ? 'json' : 'html';
  const slug = slugFromHost(request.host, deps.settings.rootDomain);
  if (slug === undefined) return { status: 404, kind: 'unknown', format };
  const now = deps.clock.now();
  // Staleness accepted: a slug signed up within the TTL of a miss answers 404 until the TTL ends.
  if (deps.unknownTenants.has(slug, now.getTime())) return { status: 404, kind: 'unknown', format, tenant: slug };

  // Eventually consistent: half the cost, and a stale record only delays the answer by a
  // reload (the waking page) or meets the version condition of the write, which re-reads.
  const seen = await deps.store.get(slug, { consistent: false });
  const perHour = deps.settings.anonymousWakesPerHour ?? DEFAULT_ANONYMOUS_WAKES_PER_HOUR;
  let last = seen;
  const decide = (current: Tenant) => {
    last = current;
    return wakeWrite(current, now, perHour);
  };
  let result: UpdateResult = { written: false, ...(seen ? { tenant: seen } : {}) };
  try {
    // On a conflict another writer got there first: decide again from what it wrote, never over it.
    if (seen) result = await updateTenant(deps.store, slug, decide, { from: seen });
  } catch (error) {
    if (!(error instanceof VersionConflictError)) throw error;
    // Someone keeps writing this tenant; the page reloads and the next request tries again.
    deps.logger?.warn('Could not record the wake; the tenant kept changing', { tenantId: slug });
    return progress(deps, last!, format);
  }
  const tenant = result.tenant;
  if (result.written) {
    deps.logger?.info('Tenant woken by a request', { tenantId: slug, generation: result.tenant.spec.generation });
    if (!result.tenant.status.slot) await makeRoom(deps, result.tenant, now);
    return progress(deps, result.tenant, format);
  }
  // Unconfirmed: unknown to visitors, but not remembered as a miss, as it may be confirmed any moment.
  if (tenant?.status.phase === 'PendingVerification') return { status: 404, kind: 'unknown', format, tenant: slug };
  if (!tenant) {
    deps.unknownTenants.add(slug, now.getTime());
    return { status: 404, kind: 'unknown', format, tenant: slug };
  }
  const state = stateOf(tenant, now);
  if (state === 'gone' || state === 'failed') return settledAnswer(tenant, state, format);
  const wakes =
    state === 'asleep' && withDesired(tenant, 'running') !== tenant ? countWake(tenant.anonymousWakes, now, perHour) : undefined;
  if (wakes && 'retryAfter' in wakes) {
    return { status: 503, kind: 'resting', format, tenant: slug, phase: tenant.status.phase, retryAfter: wakes.retryAfter };
  }
  return progress(deps, tenant, format);
}

/**
 * The write that wakes a sleeping tenant, or undefined when this request writes nothing: the
 * tenant is not asleep, is already asked to run (the reconciler has not caught up yet), or
 * has been woken by requests as often as the hour allows.
 */
function wakeWrite(tenant: Tenant, now: Date, perHour: number): TenantWrite | undefined {
  if (tenant.status.phase === 'PendingVerification' || stateOf(tenant, now) !== 'asleep') return undefined;
  const woken = withDesired(tenant, 'running');
  if (woken === tenant) return undefined;
  const wakes = countWake(tenant.anonymousWakes, now, perHour);
  return 'retryAfter' in wakes ? undefined : { tenant: { ...woken, anonymousWakes: wakes, wokenAt: now.toISOString() } };
}

/**
 * The wake count with one more wake, or how many seconds remain before the counting hour
 * ends when it already holds `perHour`. The hour starts at the first wake after the last
 * one ended (a fixed window, kept on the tenant record).
 */
export function countWake(wakes: AnonymousWakes | undefined, now: Date, perHour: number): AnonymousWakes | { retryAfter: number } {
  const since = wakes ? Date.parse(wakes.since) : Number.NaN;
  // No window, an unreadable one, or one that has ended (or lies ahead): a new hour starts.
  if (!wakes || !(now.getTime() - since < WAKE_WINDOW_MS && now.getTime() >= since)) return { since: now.toISOString(), count: 1 };
  if (wakes.count < perHour) return { since: wakes.since, count: wakes.count + 1 };
  return { retryAfter: Math.max(1, Math.ceil((since + WAKE_WINDOW_MS - now.getTime()) / 1000)) };
}

async function progress(deps: WakeDeps, tenant: Tenant, format: WakeAnswer['format']): Promise<WakeAnswer> {
  const { phase, queuedAt } = tenant.status;
  const queued = phase === 'Queued';
  const answer: WakeAnswer = {
    status: 503,
    kind: 'waking',
    format,
    tenant: tenant.id,
    phase,
    retryAfter: queued ? QUEUED_RETRY_SECONDS : WAKING_RETRY_SECONDS,
    step: stepOf(tenant),
  };
  // The position is a count and nothing else: no other tenant's name or state leaves here.
  if (queued && queuedAt) answer.position = (await deps.store.countQueuedBefore(queuedAt)) + 1;
  return answer;
}

/** Its task exists but has not started yet: the server is coming up; once it runs, the application starts in it. */
function stepOf(tenant: Tenant): WakeStep {
  const { phase, task } = tenant.status;
  if (phase === 'Running') return 'app';
  if (phase !== 'Provisioning' && phase !== 'Waking') return 'asked';
  return task?.lastStatus === 'RUNNING' ? 'app' : 'server';
}

/**
 * When every routing slot is taken, asks the least recently active tenant that has run and
 * been idle for the minimum run time to passivate, so the woken tenant can take its slot. At
 * most one eviction per wake; with no such tenant the woken one waits in the reconciler's
 * queue. Two wakes racing may each evict one tenant, which costs a cold start, never a
 * wrong state: every write is conditional and re-checks the candidate.
 *
 * With several shards, room on any shard will do (a sleeping tenant has nothing on a load
 * balancer, so the reconciler may place it on another shard); only when every shard is full is
 * a tenant evicted, preferably one on the woken tenant's own shard, so it stays where its DNS
 * record already points.
 */
async function makeRoom(deps: WakeDeps, woken: Tenant, now: Date): Promise<void> {
  const { store, settings, logger } = deps;
  const wokenId = woken.id;
  const shards = settings.shards ?? 1;
  try {
    const counts = shards > 1 ? await store.routingSlotsByShard(shards) : [await store.countRoutingSlots()];
    if (counts.some((count) => count < settings.maxActiveTenants)) return;
    const { items } = await store.listActive({ limit: settings.evictionCandidates ?? DEFAULT_EVICTION_CANDIDATES });
    const home = shardOf(woken);
    // Stable: least recently active first within each group, the woken tenant's own shard first.
    const candidates = [...items].sort((a, b) => Number(shardOf(a) !== home) - Number(shardOf(b) !== home));
    for (const candidate of candidates) {
      if (candidate.id === wokenId || !evictable(candidate, now, settings.minRunMs, settings.plans)) continue;
      if (await passivate(deps, candidate, now)) {
        logger?.info('Passivated the least recently active idle tenant to make room', { tenantId: wokenId, evicted: candidate.id });
        return;
      }
    }
    logger?.info('All routing slots are in use and no tenant is idle long enough; the tenant waits in the queue', {
      tenantId: wokenId,
    });
  } catch (error) {
    // The wake itself is recorded; without an eviction the tenant queues, which is still right.
    logger?.warn('Could not make room for a woken tenant', { tenantId: wokenId, error });
  }
}

/**
 * Running, wanting to run, holding a slot, and both up and idle for at least the minimum run time
 * (sooner than its plan would put it to sleep: the room is needed now). Never a tenant whose plan
 * never sleeps (or is unknown), nor one inside its keep-warm hours.
 */
export function evictable(tenant: Tenant, now: Date, minRunMs: number, plans: PlanCatalog): boolean {
  return (
    tenant.status.slot === true &&
    isIdle(tenant, now.getTime(), { idleMs: minRunMs, minRunMs }) &&
    idleTimeoutOf(tenant, plans) !== undefined &&
    !heldWarm(tenant, plans, now, 0)
  );
}

/** Sets expected `passivated`, conditional on the version read; on a conflict re-reads and re-checks. */
async function passivate(deps: WakeDeps, candidate: Tenant, now: Date): Promise<boolean> {
  try {
    // The index copy may be stale, or the tenant just got a visitor: a conflict looks at it again.
    const change = (current: Tenant) =>
      evictable(current, now, deps.settings.minRunMs, deps.settings.plans) ? { tenant: withDesired(current, 'passivated') } : undefined;
    return (await updateTenant(deps.store, candidate.id, change, { from: candidate })).written;
  } catch (error) {
    if (error instanceof VersionConflictError) return false;
    throw error;
  }
}
