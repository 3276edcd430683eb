import { randomUUID } from 'node:crypto';
import {
  CloudRefusedError,
  CloudUnavailableError,
  RoutingCapacityError,
  SlotsFullError,
  TargetGroupNotFoundError,
  VersionConflictError,
} from '../domain/errors.js';
import type { ErrorCategory } from '../domain/error-categories.js';
import { equalAsStored } from '../domain/equality.js';
import { backoffMs, hasStarted, isStopped, liveTasks, plan, type Observation, type PlanSettings, type Step } from '../domain/plan.js';
import { explainStop, isCapacityStop, stopCategory } from '../domain/stop-reasons.js';
import {
  isLeased,
  isSpot,
  isTombstone,
  type Lease,
  type Phase,
  type TaskStatus,
  type Tenant,
  type TenantStatus,
} from '../domain/tenant.js';
import type { Clock } from '../ports/clock.js';
import type { Compute, ObservedTask } from '../ports/compute.js';
import type { Routing } from '../ports/routing.js';
import type { Storage } from '../ports/storage.js';
import type { TenantReader, TenantWriter } from '../ports/tenant-store.js';
import { updateTenant } from './update-tenant.js';

export interface ReconcileSettings extends PlanSettings {
  /** `<slug>.<root domain>`: the host the tenant is served on. */
  hostFor(tenantId: string): string;
  /** Routing slots per load balancer (100 target groups is a hard ALB limit). */
  maxActiveTenants: number;
  /** How long a queued tenant waits before it tries for a slot again. */
  queueRetryMs: number;
  /** How long one reconciler may hold a tenant; longer than one invocation can run. */
  leaseMs: number;
  /** How long a deleted tenant's tombstone keeps its slug before DynamoDB TTL removes it. */
  tombstoneSeconds: number;
  /** Steps taken in one run before handing back, so a run stays short. */
  maxSteps: number;
}

export interface ReconcileDeps {
  store: TenantReader & Pick<TenantWriter, 'save'>;
  compute: Compute;
  routing: Routing;
  /** The tenants' persistent data; given exactly when `settings.persistentData` is set. */
  storage?: Storage;
  clock: Clock;
  settings: ReconcileSettings;
  logger?: Pick<Console, 'info' | 'warn' | 'error'>;
  random?: () => number;
}

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

/** Throttling and other errors worth retrying later, as the adapters classify them. */
export function isTransient(error: unknown): boolean {
  return error instanceof CloudUnavailableError;
}

/**
 * Runs of a look that lost its write to another writer. Not `updateTenant`: a run decides on
 * what it observed in AWS too, so after a conflict the whole look starts again, observation
 * included, and losing every race is answered with "look again shortly", not an error.
 */
const CONFLICT_ATTEMPTS = 8;

/**
 * Reconciles one tenant, level-triggered: read the record, observe what exists, take the next
 * steps idempotently, write actual state with a conditional write. Safe to run twice at once
 * (a lease lets one act) and safe to crash between any two steps (every step is re-derived
 * from what exists, and RunTask's client token is recorded before the call).
 */
export async function reconcile(deps: ReconcileDeps, tenantId: string, watch?: Watch): Promise<ReconcileResult> {
  for (let attempt = 1; attempt <= CONFLICT_ATTEMPTS; attempt++) {
    try {
      return await reconcileOnce(deps, tenantId, watch);
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

async function reconcileOnce(deps: ReconcileDeps, tenantId: string, watch: Watch | undefined): Promise<ReconcileResult> {
  const { store, clock, settings } = deps;
  const tenant = await store.get(tenantId);
  if (!tenant || isTombstone(tenant)) return {};
  // Nothing runs, and no slot is taken, for a signup whose email address is not confirmed.
  if (tenant.status.phase === 'PendingVerification') return {};

  const now = clock.now();
  if (tenant.lease?.owner !== watch?.owner && isLeased(tenant, now.getTime())) {
    // Its holder looks at every change made meanwhile before it lets go; should the holder die,
    // the sweep takes the tenant up once the lease has run out.
    return {};
  }

  let observed: Observation;
  try {
    observed = await observe(deps, tenant);
  } catch (error) {
    if (!isTransient(error)) throw error;
    // Nothing was done yet, so there is nothing to record: just look again a little later.
    const delay = backoffMs(1, settings, deps.random?.());
    deps.logger?.warn?.('Observing the tenant failed; retrying later', { tenantId, error, delayMs: delay });
    return conclude(deps, tenant, tenant.status, { requeueAfterMs: delay }, watch);
  }
  const first = plan(tenant, observed, settings, now);
  if (first.step.kind === 'wait' || first.step.kind === 'done') {
    // Nothing to do: write only if what we see differs from what is recorded.
    return conclude(deps, tenant, settle(tenant, observed, first.phase, first.step, now), result(first.step, first.phase), watch);
  }

  const owner = watch?.owner ?? randomUUID();
  let current = tenant.lease?.owner === owner ? tenant : await store.save({ ...tenant, lease: leaseFor(owner, now, settings) });
  let outcome: ReconcileResult = { requeueAfterMs: 0 };
  // The phase of the step under way: a step that keeps failing shows where the tenant is stuck
  // (Passivating, Deleting), not the phase it was leaving.
  let phase = current.status.phase;
  try {
    for (let steps = 0; steps < settings.maxSteps; steps++) {
      const next = plan(current, observed, settings, clock.now());
      phase = next.phase;
      if (next.step.kind === 'wait' || next.step.kind === 'done') {
        current = { ...current, status: settle(current, observed, next.phase, next.step, clock.now()) };
        outcome = result(next.step, next.phase);
        break;
      }
      try {
        current = await act(deps, current, observed, next.step, next.phase);
      } catch (error) {
        if (!(error instanceof CloudRefusedError && mayFail(current))) throw error;
        // Denied or invalid: the same request would be refused again, so it counts like a failed
        // start. Past the limit the tenant is Failed, and the next steps give back its slot.
        deps.logger?.error?.('AWS refused a step; counted as a failed attempt', { tenantId, error });
        current = failAttempt(deps, current, error.message, 'platform');
      }
      if (current.status.retryAt && Date.parse(current.status.retryAt) > clock.now().getTime()) {
        outcome = { requeueAfterMs: Date.parse(current.status.retryAt) - clock.now().getTime(), phase: current.status.phase };
        break;
      }
    }
  } catch (error) {
    // Someone wrote the record while we held the lease (a command, a task event): handing back
    // merges what they wrote and looks again at once.
    if (error instanceof VersionConflictError)
      return handBack(deps, current, owner, { requeueAfterMs: 0, phase: current.status.phase }, watch);
    const seen = { ...current, status: settle(current, observed, phase, { kind: 'wait' }, clock.now()) };
    // Throttling and AWS hiccups back off quietly; anything else also backs off, with the error
    // on the record for a person to see (and the stuck-tenant alarm once it lasts). Never given
    // up silently.
    const transient = isTransient(error);
    const failures = (current.status.transientFailures ?? 0) + 1;
    const delay = backoffMs(failures, settings, deps.random?.());
    deps.logger?.[transient ? 'warn' : 'error']?.('Reconcile step failed; retrying later', { tenantId, error, delayMs: delay });
    const problem = error instanceof CloudRefusedError ? error.message : `AWS refused a step: ${describeError(error)}.`;
    current = {
      ...seen,
      status: {
        ...seen.status,
        transientFailures: failures,
        retryAt: new Date(clock.now().getTime() + delay).toISOString(),
        ...(transient ? {} : { lastError: `${problem} Dormouse keeps retrying.`, lastErrorCategory: 'platform' as const }),
      },
    };
    outcome = { requeueAfterMs: delay, phase: current.status.phase };
  }
  return handBack(deps, current, owner, outcome, watch);
}

/** A tenant on its way up, not given up on yet: a refused step counts toward giving up. */
function mayFail(tenant: Tenant): boolean {
  return tenant.spec.desired === 'running' && tenant.status.failedGeneration !== tenant.spec.generation;
}

function leaseFor(owner: string, now: Date, settings: ReconcileSettings): Lease {
  return { owner, until: new Date(now.getTime() + settings.leaseMs).toISOString() };
}

/** Whether the caller's watch keeps the lease for this outcome: it looks again soon enough itself. */
function keeps(watch: Watch | undefined, outcome: ReconcileResult): watch is Watch {
  return watch !== undefined && outcome.requeueAfterMs !== undefined && outcome.requeueAfterMs <= watch.maxWaitMs;
}

/**
 * Ends a run that took no step: records what was seen and takes, keeps or gives up the lease
 * for the caller's watch, writing only when one of these differs from the record.
 */
async function conclude(
  deps: ReconcileDeps,
  tenant: Tenant,
  status: TenantStatus,
  outcome: ReconcileResult,
  watch: Watch | undefined,
): Promise<ReconcileResult> {
  const { store, clock, settings } = deps;
  const watching = keeps(watch, outcome);
  const leaseChanged = watching ? tenant.lease?.owner !== watch.owner : tenant.lease !== undefined;
  const tombstone = status.phase === 'Deleted' && tombstoneNeeded(tenant);
  if (leaseChanged || tombstone || !equalAsStored(status, tenant.status)) {
    const lease = watching ? leaseFor(watch.owner, clock.now(), settings) : undefined;
    await store.save(withStatus({ ...tenant, lease }, status, clock.now(), settings));
  }
  return watching ? { ...outcome, watching } : outcome;
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function result(step: Step, phase: Phase): ReconcileResult {
  return step.kind === 'wait' && step.afterMs !== undefined ? { requeueAfterMs: step.afterMs, phase } : { phase };
}

/** What exists for this tenant: tasks from ECS, target group and rule from the load balancer. */
async function observe(deps: ReconcileDeps, tenant: Tenant): Promise<Observation> {
  const known = [tenant.status.task?.arn, ...(tenant.status.stopping ?? [])].filter((arn): arn is string => Boolean(arn));
  if (!mayBeRouted(tenant)) {
    // On its way up with nothing recorded on the load balancer: its target group, target and
    // rule all come after a task runs, so until one does the load balancer cannot change the
    // plan and is not asked (ELBv2's Describe* calls are rate-limited per account). Anything made
    // there but not recorded (a crash between a create and its write) is found at the first look
    // after the task runs.
    const tasks = await deps.compute.tenantTasks(tenant.id, known);
    const started = liveTasks(tasks).some(hasStarted);
    return started ? { tasks, ...(await observeRouting(deps, tenant)) } : { tasks, targets: [] };
  }
  const [tasks, routing] = await Promise.all([deps.compute.tenantTasks(tenant.id, known), observeRouting(deps, tenant)]);
  return { tasks, ...routing };
}

/** Whether the load balancer may hold something the plan must see before a task runs. */
function mayBeRouted(tenant: Tenant): boolean {
  const { spec, status } = tenant;
  const stopping = spec.desired !== 'running' || status.failedGeneration === spec.generation;
  return stopping || status.targetGroupArn !== undefined || status.ruleArn !== undefined;
}

async function observeRouting({ routing, settings }: ReconcileDeps, tenant: Tenant): Promise<Omit<Observation, 'tasks'>> {
  const [targetGroupArn, rule] = await Promise.all([
    tenant.status.targetGroupArn ?? routing.findTargetGroup(tenant.id),
    routing.findRule(tenant.id, settings.hostFor(tenant.id), tenant.status.ruleArn),
  ]);
  let existing = targetGroupArn;
  let targets: Observation['targets'] = [];
  if (existing) {
    try {
      targets = await routing.targets(existing);
    } catch (error) {
      // The recorded target group is gone (deleted by hand, or a fresh local gateway): it
      // does not exist, and the plan creates it again if it is needed.
      if (!(error instanceof TargetGroupNotFoundError)) throw error;
      existing = undefined;
    }
  }
  return { targets, ...(existing ? { targetGroupArn: existing } : {}), ...(rule ? { rule } : {}) };
}

/** Takes one step and updates the observation with its known effect, so no re-observe is needed. */
async function act(deps: ReconcileDeps, tenant: Tenant, observed: Observation, step: Step, phase: Phase): Promise<Tenant> {
  const { compute, routing, store, settings, clock } = deps;
  // A new phase is dated from now: how long a tenant has sat in it is what the stuck alarm measures.
  const status = phase === tenant.status.phase ? tenant.status : { ...tenant.status, phase, transitionAt: clock.now().toISOString() };
  switch (step.kind) {
    case 'claimSlot':
      try {
        return await store.save(
          {
            ...tenant,
            status: { ...status, slot: true, queuedAt: undefined, retryAt: undefined, lastError: undefined, lastErrorCategory: undefined },
          },
          { routingSlot: { claim: true, maxActiveTenants: settings.maxActiveTenants } },
        );
      } catch (error) {
        if (!(error instanceof SlotsFullError)) throw error;
        return queued(tenant, settings, clock.now(), deps.random);
      }
    case 'releaseSlot':
      return store.save({ ...tenant, status: { ...status, slot: false } }, { routingSlot: { claim: false } });
    case 'runTask':
      return runTask(deps, tenant, observed, step.capacityProvider, status);
    case 'stopTask': {
      const noted = await noteStopping(deps, tenant, step.task);
      await compute.stopTask(step.task.arn, step.reason);
      step.task.desiredStatus = 'STOPPED';
      return noted;
    }
    case 'recordStop':
      return recordStop(deps, tenant, step.task, status);
    case 'fail':
      return neverHealthy(deps, tenant, step.reason);
    case 'ensureTargetGroup':
      observed.targetGroupArn = await routing.ensureTargetGroup(tenant.id);
      observed.targets = [];
      return tenant;
    case 'registerTarget':
      await routing.registerTarget(step.targetGroupArn, step.ip);
      observed.targets = [...observed.targets.filter((target) => target.ip !== step.ip), { ip: step.ip, health: 'initial' }];
      return tenant;
    case 'deregisterTarget':
      await routing.deregisterTarget(step.targetGroupArn, step.ip);
      observed.targets = observed.targets.map((target) => (target.ip === step.ip ? { ...target, health: 'draining' } : target));
      return tenant;
    case 'createRule':
      try {
        observed.rule = await routing.createRule(tenant.id, settings.hostFor(tenant.id), step.targetGroupArn);
      } catch (error) {
        // The load balancer is fuller than our slot count says (rules made outside Dormouse).
        if (!(error instanceof RoutingCapacityError)) throw error;
        return queued(tenant, settings, clock.now(), deps.random);
      }
      return tenant;
    case 'deleteRule':
      await routing.deleteRule(step.ruleArn);
      delete observed.rule;
      return tenant;
    case 'deleteTargetGroup':
      await routing.deleteTargetGroup(step.targetGroupArn);
      delete observed.targetGroupArn;
      observed.targets = [];
      return { ...tenant, status: { ...tenant.status, targetGroupArn: undefined } };
    case 'removeData':
      await requireStorage(deps).remove(tenant.id);
      return { ...tenant, status: { ...status, dataRemoved: true } };
    case 'wait':
    case 'done':
      return tenant;
  }
}

/**
 * With data, a task the record does not name is written down before it is told to stop: once
 * stopping, ECS lists it only by its ARN, and until it has STOPPED it may still write the data.
 */
async function noteStopping(deps: ReconcileDeps, tenant: Tenant, task: ObservedTask): Promise<Tenant> {
  const { stopping = [], task: recorded } = tenant.status;
  if (!deps.settings.persistentData || task.arn === recorded?.arn || stopping.includes(task.arn)) return tenant;
  return deps.store.save({ ...tenant, status: { ...tenant.status, stopping: [...stopping, task.arn] } });
}

function requireStorage(deps: ReconcileDeps): Storage {
  if (!deps.storage) throw new Error('persistentData is set but no storage is wired');
  return deps.storage;
}

function queued(tenant: Tenant, settings: ReconcileSettings, now: Date, random?: () => number): Tenant {
  return {
    ...tenant,
    status: {
      ...tenant.status,
      phase: 'Queued',
      queuedAt: tenant.status.queuedAt ?? now.toISOString(),
      // Jittered, so a queue of hundreds does not retry for the same slot in the same instant.
      retryAt: new Date(now.getTime() + settings.queueRetryMs * (0.5 + 0.5 * (random ?? Math.random)())).toISOString(),
      lastError: `All ${settings.maxActiveTenants} routing slots are in use; the tenant starts as soon as one frees up.`,
      lastErrorCategory: 'queued',
    },
  };
}

async function runTask(
  deps: ReconcileDeps,
  tenant: Tenant,
  observed: Observation,
  capacityProvider: 'FARGATE' | 'FARGATE_SPOT',
  status: TenantStatus,
): Promise<Tenant> {
  const { store, compute, settings, clock } = deps;
  const launch = tenant.status.launch;
  if (!launch) {
    // Record the intent first, as its own step: a retry after a crash or an error then reuses
    // the token, and ECS answers with the task it already started instead of a second one.
    const runs = (tenant.status.runs ?? 0) + 1;
    const clientToken = `${tenant.id}-g${tenant.spec.generation}-r${runs}`;
    const requestedAt = clock.now().toISOString();
    return store.save({ ...tenant, status: { ...status, runs, launch: { clientToken, capacityProvider, requestedAt } } });
  }
  // Every start finds the tenant's data again (and brings its mount up to date with a new
  // deployment): safe to repeat, so a retry after a crash does it again harmlessly.
  const volume = settings.persistentData ? await requireStorage(deps).ensure(tenant.id) : undefined;
  const outcome = await compute.runTask({
    tenantId: tenant.id,
    host: settings.hostFor(tenant.id),
    clientToken: launch.clientToken,
    capacityProvider: launch.capacityProvider,
    ...(volume ? { volume } : {}),
  });
  const base = { ...tenant.status, launch: undefined };
  if (outcome.started) {
    observed.tasks = [...observed.tasks.filter((task) => task.arn !== outcome.task.arn), outcome.task];
    deps.logger?.info?.('Task started', { tenantId: tenant.id, taskArn: outcome.task.arn, capacityProvider: launch.capacityProvider });
    return { ...tenant, status: { ...base, task: taskStatus(outcome.task, tenant.status.task) } };
  }
  if (outcome.capacityUnavailable) {
    const spotFailures = (tenant.status.spotFailures ?? 0) + (isSpot(launch.capacityProvider) ? 1 : 0);
    const fallback = settings.fallbackToOnDemand && spotFailures >= settings.spotAttemptsBeforeFallback;
    const delay = fallback && isSpot(launch.capacityProvider) ? 0 : backoffMs(spotFailures || 1, settings, deps.random?.());
    return {
      ...tenant,
      status: {
        ...base,
        spotFailures,
        lastError: `AWS has no ${isSpot(launch.capacityProvider) ? 'Fargate Spot' : 'Fargate'} capacity right now (${outcome.reason}); retrying${fallback ? ' on on-demand Fargate' : ''}.`,
        lastErrorCategory: 'no-capacity',
        ...(delay > 0 ? { retryAt: new Date(clock.now().getTime() + delay).toISOString() } : { retryAt: undefined }),
      },
    };
  }
  return failAttempt(deps, { ...tenant, status: base }, `ECS refused to start the task: ${outcome.reason}.`, 'not-started');
}

async function recordStop(deps: ReconcileDeps, tenant: Tenant, task: ObservedTask, status: TenantStatus): Promise<Tenant> {
  const cleared = { ...tenant, status: { ...status, task: undefined } };
  if (isCapacityStop(task)) {
    // Not the application's fault: count it toward the on-demand fallback, not toward Failed.
    const spotFailures = (status.spotFailures ?? 0) + 1;
    return { ...cleared, status: { ...cleared.status, spotFailures, lastError: explainStop(task), lastErrorCategory: 'no-capacity' } };
  }
  deps.logger?.warn?.('Task stopped unexpectedly', { tenantId: tenant.id, taskArn: task.arn, reason: task.stoppedReason });
  return failAttempt(deps, cleared, explainStop(task), stopCategory(task));
}

/** One more failed attempt: back off, or give up past the limit with the reason in words. */
function failAttempt(deps: ReconcileDeps, tenant: Tenant, reason: string, category: ErrorCategory): Tenant {
  const { settings, clock } = deps;
  const attempts = tenant.status.attempts + 1;
  if (attempts > settings.maxRestarts) {
    return {
      ...tenant,
      status: {
        ...tenant.status,
        attempts,
        phase: 'Failed',
        failedGeneration: tenant.spec.generation,
        lastError: `${reason} Gave up after ${attempts} attempts; wake the tenant to try again.`,
        lastErrorCategory: category,
        retryAt: undefined,
      },
    };
  }
  const delay = backoffMs(attempts, settings, deps.random?.());
  return {
    ...tenant,
    status: {
      ...tenant.status,
      attempts,
      lastError: reason,
      lastErrorCategory: category,
      retryAt: new Date(clock.now().getTime() + delay).toISOString(),
    },
  };
}

/**
 * The task kept failing its health check from the start: the tenant is Failed at once, since a
 * new task would run the same application against the same check. Its task is stopped and its
 * slot freed by the plan's cleanup of a failed tenant.
 */
function neverHealthy({ settings, clock, logger }: ReconcileDeps, tenant: Tenant, reason: string): Tenant {
  logger?.warn?.('The task never passed its health check; the tenant failed', { tenantId: tenant.id, reason });
  return {
    ...tenant,
    status: {
      ...tenant.status,
      phase: 'Failed',
      transitionAt: clock.now().toISOString(),
      attempts: tenant.status.attempts + 1,
      failedGeneration: tenant.spec.generation,
      lastError: `${reason} Gave up after ${duration(settings.unhealthyTimeoutMs)} of failed health checks; fix the application, then wake the tenant to try again.`,
      retryAt: undefined,
    },
  };
}

function duration(ms: number): string {
  return ms >= 120_000 ? `${Math.round(ms / 60_000)} minutes` : `${Math.round(ms / 1000)} seconds`;
}

function taskStatus(task: ObservedTask, previous: TaskStatus | undefined): TaskStatus {
  const eventVersion = previous?.arn === task.arn ? previous.eventVersion : undefined;
  return {
    arn: task.arn,
    capacityProvider: task.capacityProvider,
    lastStatus: task.lastStatus,
    ...(task.ip ? { ip: task.ip } : {}),
    ...(task.stopCode ? { stopCode: task.stopCode } : {}),
    ...(eventVersion !== undefined ? { eventVersion } : {}),
  };
}

/** Actual state as observed, with the bookkeeping that observation cannot show carried over. */
function settle(tenant: Tenant, observed: Observation, phase: Phase, step: Step, now: Date): TenantStatus {
  const previous = tenant.status;
  const live = liveTasks(observed.tasks);
  const recorded = observed.tasks.find((candidate) => candidate.arn === previous.task?.arn);
  // The serving task, or an interrupted one that still serves until its replacement does.
  const keptTask = live.find((candidate) => candidate === recorded) ?? live[0] ?? (recorded && !isStopped(recorded) ? recorded : undefined);
  // Followed by ARN until seen STOPPED (or forgotten by ECS), the recorded task too if another takes its place.
  const displaced = recorded && recorded !== keptTask ? [recorded.arn] : [];
  const stopping = [...(previous.stopping ?? []), ...displaced].filter((arn) =>
    observed.tasks.some((candidate) => candidate.arn === arn && !isStopped(candidate)),
  );
  const status: TenantStatus = {
    ...previous,
    phase,
    task: keptTask ? taskStatus(keptTask, previous.task) : undefined,
    stopping: stopping.length > 0 ? stopping : undefined,
    targetGroupArn: observed.targetGroupArn,
    ruleArn: observed.rule?.arn,
    rulePriority: observed.rule?.priority,
    transitionAt: phase === previous.phase ? previous.transitionAt : now.toISOString(),
  };
  // Said while waiting, so whoever looks at a tenant that does not serve learns why.
  if (step.kind === 'wait' && step.problem) status.lastError = step.problem;
  if (step.kind === 'done') {
    status.observedGeneration = tenant.spec.generation;
    status.lastError = undefined;
    status.lastErrorCategory = undefined;
    status.retryAt = undefined;
    status.queuedAt = undefined;
    status.transientFailures = undefined;
    status.launch = undefined;
    if (phase === 'Running') {
      status.attempts = 0;
      status.spotFailures = undefined;
    }
  }
  return status;
}

function withStatus(tenant: Tenant, status: TenantStatus, now: Date, settings: ReconcileSettings): Tenant {
  const next: Tenant = { ...tenant, status };
  if (status.phase === 'Deleted' && next.expiresAt === undefined) {
    next.expiresAt = Math.floor(now.getTime() / 1000) + settings.tombstoneSeconds;
  }
  return next;
}

function tombstoneNeeded(tenant: Tenant): boolean {
  return tenant.spec.desired === 'deleted' && tenant.expiresAt === undefined;
}

/**
 * Writes the final status of a run that took steps, and keeps the lease for the caller's watch
 * or gives it up. On a conflict (the API changed the spec, a task event arrived, or a write of
 * ours landed though it was reported as failed) the fresh record keeps its spec, slot flag and
 * newer event data, ours is re-applied, and the tenant is looked at again at once: by the watch,
 * or else by the sweep, for which `retryAt` is set to now.
 */
async function handBack(
  deps: ReconcileDeps,
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
      const lease = watching ? leaseFor(owner, clock.now(), settings) : undefined;
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
  const sameTask = ours.task && fresh.task && ours.task.arn === fresh.task.arn;
  if (!sameTask || (fresh.task!.eventVersion ?? -1) <= (ours.task!.eventVersion ?? -1)) return merged;
  return { ...merged, task: { ...ours.task!, ...fresh.task! } };
}
