import { RoutingCapacityError, SlotsFullError } from '../../domain/errors.js';
import { backoffMs, unconfiguredPlan, type Observation, type Step } from '../../domain/plan.js';
import { environmentDigest, planNamed, planRevision, type PlanDefinition } from '../../domain/plans.js';
import { explainStop, isCapacityStop, stopCategory } from '../../domain/stop-reasons.js';
import { isSpot, shardOf, type Phase, type Tenant, type TenantStatus } from '../../domain/tenant.js';
import type { ObservedTask, RunTaskRequest } from '../../ports/compute.js';
import type { Dns } from '../../ports/dns.js';
import type { Storage } from '../../ports/storage.js';
import type { ReconcileDeps, ReconcileSettings } from '../reconcile.js';
import { failAttempt, neverHealthy, unconfigured } from './attempts.js';
import { taskStatus } from './record.js';

/** Takes one step and updates the observation with its known effect, so no re-observe is needed. */
/** A step that wrote the record, then failed: the failure is recorded on the record as written. */
export class FailedAfterWrite extends Error {
  constructor(
    readonly tenant: Tenant,
    readonly error: unknown,
  ) {
    super('A step failed after writing the record', { cause: error });
    this.name = 'FailedAfterWrite';
  }
}

export async function act(deps: ReconcileDeps, tenant: Tenant, observed: Observation, step: Step, phase: Phase): Promise<Tenant> {
  const { compute, routing, store, settings, clock } = deps;
  // A new phase is dated from now: how long a tenant has sat in it is what the stuck alarm measures.
  const status = phase === tenant.status.phase ? tenant.status : { ...tenant.status, phase, transitionAt: clock.now().toISOString() };
  switch (step.kind) {
    case 'claimSlot':
      return claimSlot(deps, tenant, status);
    case 'releaseSlot':
      return store.save({ ...tenant, status: { ...status, slot: false } }, { routingSlot: { claim: false, shard: shardOf(tenant) } });
    case 'runTask':
      return runTask(deps, tenant, observed, step.capacityProvider, status);
    case 'stopTask': {
      const noted = await noteStopping(deps, tenant, step.task);
      await compute.stopTask(step.task.arn, step.reason);
      step.task.desiredStatus = 'STOPPED';
      return toldToStop(noted, step.task.arn, clock.now());
    }
    case 'recordStop':
      return recordStop(deps, tenant, step.task, status);
    case 'fail':
      return step.cause === 'unconfigured-plan' ? unconfigured(deps, tenant, step.reason) : neverHealthy(deps, tenant, step.reason);
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
    case 'createRule': {
      // Marked first, so that a rule made by a call whose answer was never recorded is searched
      // for when a later call finds its priority taken; unmarked, a taken priority is another
      // tenant's, and the next is tried without paging through the listener's rules.
      const mayExist = tenant.status.ruleCreating === true;
      const marked = mayExist ? tenant : await store.save({ ...tenant, status: { ...tenant.status, ruleCreating: true } });
      try {
        observed.rule = await routing.createRule(tenant.id, settings.hostFor(tenant.id), step.targetGroupArn, shardOf(tenant), {
          adoptOnTaken: mayExist,
        });
      } catch (error) {
        // The load balancer is fuller than our slot count says (rules made outside Dormouse).
        if (!(error instanceof RoutingCapacityError)) throw marked === tenant ? error : new FailedAfterWrite(marked, error);
        return queued(marked, settings, clock.now(), deps.random);
      }
      return marked;
    }
    case 'deleteRule':
      await routing.deleteRule(step.ruleArn);
      delete observed.rule;
      return tenant;
    case 'deleteTargetGroup':
      await routing.deleteTargetGroup(step.targetGroupArn);
      delete observed.targetGroupArn;
      observed.targets = [];
      return { ...tenant, status: { ...tenant.status, targetGroupArn: undefined } };
    case 'ensureDns':
      await requireDns(deps).ensureRecord(tenant.id, step.shard);
      return { ...tenant, status: { ...status, dnsShard: step.shard } };
    case 'removeDns':
      await requireDns(deps).removeRecord(tenant.id);
      return { ...tenant, status: { ...status, dnsShard: undefined } };
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

/** The recorded task, once ECS took the order to stop it: its STOPPED event ends the wait. */
function toldToStop(tenant: Tenant, arn: string, now: Date): Tenant {
  const task = tenant.status.task;
  if (task?.arn !== arn) return tenant;
  return { ...tenant, status: { ...tenant.status, task: { ...task, desiredStatus: 'STOPPED', seenAt: now.toISOString() } } };
}

function requireDns(deps: ReconcileDeps): Dns {
  if (!deps.dns) throw new Error('Tenants are spread over several shards but no DNS is wired');
  return deps.dns;
}

function requireStorage(deps: ReconcileDeps): Storage {
  if (!deps.storage) throw new Error('persistentData is set but no storage is wired');
  return deps.storage;
}

/**
 * Takes a routing slot: on the tenant's own shard while it has room, else, for a tenant with
 * nothing on any load balancer, on the shard with the most free slots (a move: its target group
 * and rule are made there afresh, so none is ever shared across load balancers). With every
 * shard it may use full, the tenant queues. A first placement (no shard recorded yet) goes
 * straight to the shard with the most free slots.
 */
async function claimSlot(deps: ReconcileDeps, tenant: Tenant, status: TenantStatus): Promise<Tenant> {
  const { settings, clock } = deps;
  const shards = settings.shards ?? 1;
  const home = shardOf(tenant);
  const movable = shards > 1 && status.targetGroupArn === undefined && status.ruleArn === undefined;
  const placed = tenant.status.shard !== undefined && home < shards;
  if (!movable || placed) {
    const claimed = await claimOn(deps, tenant, status, Math.min(home, shards - 1));
    if (claimed || !movable) return claimed ?? queued(tenant, settings, clock.now(), deps.random);
  }
  const counts = await deps.store.routingSlotsByShard(shards);
  // Other than its own shard, just found full. A burst of placements reads the same counts: ties
  // are broken at random so they spread, and a shard that fills meanwhile sends the claim on to
  // the next freest instead of queueing a tenant while other shards have room.
  const candidates = new Set(
    counts.flatMap((count, shard) => ((placed && shard === home) || count >= settings.maxActiveTenants ? [] : [shard])),
  );
  while (candidates.size > 0) {
    const fewest = Math.min(...[...candidates].map((shard) => counts[shard]!));
    const freest = [...candidates].filter((shard) => counts[shard] === fewest);
    const target = freest[Math.floor((deps.random ?? Math.random)() * freest.length)] ?? freest[0]!;
    const moved = await claimOn(deps, tenant, status, target);
    if (moved) {
      if (placed) deps.logger?.info?.('Moved to a shard with room', { tenantId: tenant.id, from: home, to: target });
      return moved;
    }
    candidates.delete(target);
  }
  return queued(tenant, settings, clock.now(), deps.random);
}

/** The tenant holding a slot on `shard`, or undefined when that shard is full. */
async function claimOn(deps: ReconcileDeps, tenant: Tenant, status: TenantStatus, shard: number): Promise<Tenant | undefined> {
  const { settings } = deps;
  // One shard: the record stays as it always was, with no shard written.
  const placement = (settings.shards ?? 1) > 1 ? { shard } : {};
  try {
    return await deps.store.save(
      {
        ...tenant,
        status: {
          ...status,
          ...placement,
          slot: true,
          queuedAt: undefined,
          retryAt: undefined,
          lastError: undefined,
          lastErrorCategory: undefined,
        },
      },
      { routingSlot: { claim: true, maxActiveTenants: settings.maxActiveTenants, shard } },
    );
  } catch (error) {
    if (!(error instanceof SlotsFullError)) throw error;
    return undefined;
  }
}

function slotsInUse({ maxActiveTenants, shards = 1 }: ReconcileSettings): string {
  if (shards === 1) return `All ${maxActiveTenants} routing slots are in use`;
  return `All ${maxActiveTenants * shards} routing slots (${maxActiveTenants} on each of ${shards} load balancers) are in use`;
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
      lastError: `${slotsInUse(settings)}; the tenant starts as soon as one frees up.`,
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
  const definition = planNamed(settings.plans, tenant.spec.plan);
  // The planner starts no task for a plan that is not configured; a change since it looked is refused.
  if (!definition) return unconfigured(deps, { ...tenant, status: { ...status, launch: undefined } }, unconfiguredPlan(tenant.spec.plan));
  // Every start finds the tenant's data again (and brings its mount up to date with a new
  // deployment or another plan): safe to repeat, so a retry after a crash does it again harmlessly.
  const volume = settings.persistentData ? await requireStorage(deps).ensure(tenant.id, { plan: definition.name }) : undefined;
  const outcome = await compute.runTask({
    tenantId: tenant.id,
    host: settings.hostFor(tenant.id),
    clientToken: launch.clientToken,
    capacityProvider: launch.capacityProvider,
    ...launchOf(definition, tenant),
    ...(volume ? { volume } : {}),
  });
  const base = { ...tenant.status, launch: undefined };
  if (outcome.started) {
    observed.tasks = [...observed.tasks.filter((task) => task.arn !== outcome.task.arn), outcome.task];
    deps.logger?.info?.('Task started', { tenantId: tenant.id, taskArn: outcome.task.arn, capacityProvider: launch.capacityProvider });
    // RunTask's answer is ECS's own word on the task: events take it from here. Not when ECS sent
    // news before it was written (an earlier look's RunTask, answered again as first given): a look asks.
    const seen = launch.eventBeforeAnswer ? {} : { seenAt: clock.now().toISOString() };
    return { ...tenant, status: { ...base, task: { ...taskStatus(outcome.task, tenant.status.task), ...seen } } };
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

/** What a tenant's task is started as: its plan's size, the plan's environment under the tenant's own. */
export function launchOf(
  definition: PlanDefinition,
  tenant: Tenant,
): Pick<RunTaskRequest, 'plan' | 'cpu' | 'memory' | 'environment' | 'launchedAs'> {
  return {
    plan: definition.name,
    cpu: definition.cpu,
    memory: definition.memory,
    environment: { ...definition.environment, ...tenant.spec.environment },
    launchedAs: { plan: definition.name, revision: planRevision(definition), environment: environmentDigest(tenant.spec.environment) },
  };
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
