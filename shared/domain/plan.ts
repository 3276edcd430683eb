/**
 * The reconciler's brain: from a tenant's expected state and what exists, the one next step.
 * Pure and level-triggered: it looks only at the record and the observation, never at which
 * event woke it up, so lost, repeated or reordered events cannot lead it astray.
 */
import { environmentDigest, planNamed, type PlanCatalog, type PlanDefinition } from './plans.js';
import type { CapacityProvider, Phase, Tenant } from './tenant.js';
import type { ObservedTask } from './task.js';
import type { HostRule, Target } from './route.js';

export interface Observation {
  /** The tenant's tasks: every one meant to run and not yet STOPPED, plus the recorded one whatever its status. */
  tasks: ObservedTask[];
  targetGroupArn?: string;
  /** Targets of the tenant's target group, when it exists. */
  targets: Target[];
  rule?: HostRule;
}

export interface PlanSettings {
  /** Spot capacity refusals in a row before the on-demand fallback is considered. */
  spotAttemptsBeforeFallback: number;
  fallbackToOnDemand: boolean;
  /** Unexpected stops in a row before the tenant is marked Failed. */
  maxRestarts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** How often to look again while waiting on ECS or the load balancer. */
  pollMs: number;
  /** How long a started task may fail its health checks before it is replaced. */
  unhealthyTimeoutMs: number;
  /** How long ECS may take to list a task it started (ListTasks is eventually consistent). */
  listingLagMs: number;
  /** Tasks mount the tenant's persistent data: it is removed when the tenant is deleted. */
  persistentData: boolean;
  /**
   * How a task is replaced while the tenant should keep running (a Spot interruption). `overlap`
   * starts the new task first and lets go of the old one once the new one serves, so there is
   * no gap; `stop-first` stops the old task before a new one starts, so two processes never
   * write the tenant's data at once (a SQLite or Postgres file would not survive that).
   */
  handover: Handover;
  /** The installation's plans: a tenant's plan fixes the capacity its task starts on. */
  plans: PlanCatalog;
  /**
   * Routing shards (load balancers). With more than one, every tenant has a DNS record of its own
   * pointing at its shard's load balancer; with one, a wildcard record serves them all. @default 1
   */
  shards?: number;
}

export const HANDOVERS = ['stop-first', 'overlap'] as const;
export type Handover = (typeof HANDOVERS)[number];

export type Step =
  | { kind: 'claimSlot' }
  | { kind: 'releaseSlot' }
  | { kind: 'runTask'; capacityProvider: CapacityProvider }
  | { kind: 'stopTask'; task: ObservedTask; reason: string }
  /** The recorded task stopped although the tenant should run: count it, back off, explain. */
  | { kind: 'recordStop'; task: ObservedTask }
  | { kind: 'ensureTargetGroup' }
  | { kind: 'registerTarget'; targetGroupArn: string; ip: string }
  | { kind: 'deregisterTarget'; targetGroupArn: string; ip: string }
  | { kind: 'createRule'; targetGroupArn: string }
  | { kind: 'deleteRule'; ruleArn: string }
  | { kind: 'deleteTargetGroup'; targetGroupArn: string }
  /** Points the tenant's own DNS record at its shard's load balancer (several shards only). */
  | { kind: 'ensureDns'; shard: number }
  /** The tenant is deleted and nothing routes to it: remove its own DNS record. */
  | { kind: 'removeDns' }
  /** The tenant is deleted and nothing of it runs: remove its persistent data. */
  | { kind: 'removeData' }
  /**
   * The tenant cannot run as it is: record it as Failed with this sentence; cleanup follows.
   * Its task never passed its health check, unless `cause` says its plan is not configured.
   */
  | { kind: 'fail'; reason: string; cause?: 'unconfigured-plan' }
  /**
   * Nothing to do until something changes; look again after `afterMs` if set. `problem`, when
   * set, is what keeps the tenant from serving, for the record's last error. `until` says the
   * wait ends with a change of a task's state, which ECS announces by an event.
   */
  | { kind: 'wait'; afterMs?: number; reason?: string; problem?: string; until?: 'task-change' }
  /** Expected state reached: record the phase. */
  | { kind: 'done' };

export interface Plan {
  step: Step;
  /** The phase to show while this step is under way (or once done). */
  phase: Phase;
}

const INTERRUPTION_CODES = new Set(['TerminationNotice', 'SpotInterruption']);

/** How long a task may run once told to stop or interrupted: ECS's longest stop timeout and the Spot notice are both two minutes. */
export const LONGEST_STOP_MS = 120_000;

export function isStopped(task: ObservedTask): boolean {
  return task.lastStatus === 'STOPPED';
}

/** AWS took (or is taking) the task back: not the application's fault. */
export function isInterrupted(task: ObservedTask): boolean {
  return task.stopCode !== undefined && INTERRUPTION_CODES.has(task.stopCode);
}

/** A task still there but on its way out: a Spot interruption, or told to stop. */
export function isDoomed(task: ObservedTask): boolean {
  return !isStopped(task) && (task.desiredStatus === 'STOPPED' || isInterrupted(task));
}

/** Running with an address: the load balancer can be pointed at it. */
export function hasStarted(task: ObservedTask): task is ObservedTask & { ip: string } {
  return task.lastStatus === 'RUNNING' && Boolean(task.ip);
}

/** Tasks that are, or will be, able to serve. Invariant 1: at most one of these per tenant. */
export function liveTasks(tasks: ObservedTask[]): ObservedTask[] {
  return tasks.filter((task) => !isStopped(task) && !isDoomed(task));
}

/**
 * Started as another plan, or with another environment of the tenant's own, than its record now
 * asks for: the task is replaced. A new definition of the same plan (another revision) is not
 * enough, it applies at the next start; and a task that does not say what it was started as
 * (started before plans existed) counts as current, so an upgrade replaces nothing.
 */
export function isOutdated(task: ObservedTask, tenant: Tenant): boolean {
  const launched = task.launchedAs;
  if (!launched) return false;
  return launched.plan !== tenant.spec.plan || launched.environment !== environmentDigest(tenant.spec.environment);
}

/** Why a task that another one replaced is stopped, for ECS's stop reason and the logs. */
export function replacedReason(task: ObservedTask, tenant: Tenant): string {
  if (isInterrupted(task)) return 'Dormouse: replaced after a Spot interruption';
  if (task.launchedAs && task.launchedAs.plan !== tenant.spec.plan)
    return `Dormouse: replaced by a task on plan ${tenant.spec.plan} (was ${task.launchedAs.plan})`;
  if (isOutdated(task, tenant)) return "Dormouse: replaced by a task with the tenant's new environment";
  return 'Dormouse: replaced by a newer task';
}

/** Where a plan's task starts: `on-demand` always on Fargate, `spot` on Spot until it is refused too often. */
export function capacityFor(definition: PlanDefinition, tenant: Tenant, settings: PlanSettings): CapacityProvider {
  if (definition.capacity === 'on-demand') return 'FARGATE';
  const spotExhausted = (tenant.status.spotFailures ?? 0) >= settings.spotAttemptsBeforeFallback;
  return spotExhausted && settings.fallbackToOnDemand ? 'FARGATE' : 'FARGATE_SPOT';
}

/** The sentence a tenant whose plan is gone from the configuration fails with. */
export function unconfiguredPlan(planName: string): string {
  return `Its plan ${planName} is not configured; change its plan, or configure the plan again, then wake the tenant.`;
}

/** Exponential backoff with equal jitter: never shorter than half, never longer than the cap. */
export function backoffMs(attempt: number, settings: Pick<PlanSettings, 'backoffBaseMs' | 'backoffMaxMs'>, random = Math.random()): number {
  const ceiling = Math.min(settings.backoffMaxMs, settings.backoffBaseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}

/** How long until the recorded retry time, if it is still ahead. */
export function retryPending(tenant: Tenant, now: Date): number | undefined {
  const retryAt = tenant.status.retryAt ? Date.parse(tenant.status.retryAt) : NaN;
  return retryAt > now.getTime() ? retryAt - now.getTime() : undefined;
}

/** The phase a tenant on its way up shows: waking if it was asleep, provisioning otherwise. */
function risingPhase(tenant: Tenant, serving: boolean): Phase {
  if (serving) return 'Running';
  const from = tenant.status.phase;
  return from === 'Passivated' || from === 'Passivating' || from === 'Waking' ? 'Waking' : 'Provisioning';
}

export function plan(tenant: Tenant, observed: Observation, settings: PlanSettings, now: Date): Plan {
  return tenant.spec.desired === 'running' ? planRunning(tenant, observed, settings, now) : planStopping(tenant, observed, settings, now);
}

function planRunning(tenant: Tenant, observed: Observation, settings: PlanSettings, now: Date): Plan {
  const { status } = tenant;
  const definition = planNamed(settings.plans, tenant.spec.plan);
  // A task of a plan that is no longer configured is left to run as it was started: there is
  // nothing to replace it with.
  const live = liveTasks(observed.tasks).filter((task) => !definition || !isOutdated(task, tenant));
  const serving = observed.rule !== undefined && observed.targets.some((target) => target.health === 'healthy');
  const phase = risingPhase(tenant, serving);

  if (status.failedGeneration === tenant.spec.generation) {
    // Given up: clean up what is left so a failed tenant costs nothing, then wait for a retry.
    const stopping = planStopping(tenant, observed, settings, now, 'Dormouse: gave up after repeated failures');
    return stopping.step.kind === 'done' ? { step: { kind: 'wait' }, phase: 'Failed' } : { ...stopping, phase: 'Failed' };
  }

  if (!definition && live.length === 0) {
    // Nothing runs and nothing can be started: say so in words an operator can act on.
    return { step: { kind: 'fail', reason: unconfiguredPlan(tenant.spec.plan), cause: 'unconfigured-plan' }, phase: 'Failed' };
  }

  if (!status.slot) {
    const pending = retryPending(tenant, now);
    if (status.phase === 'Queued' && pending !== undefined) return { step: { kind: 'wait', afterMs: pending }, phase: 'Queued' };
    return { step: { kind: 'claimSlot' }, phase };
  }

  if (live.length > 1) {
    // Invariant 1: keep the recorded task (or the first), stop every other one.
    const keep = live.find((task) => task.arn === status.task?.arn) ?? live[0]!;
    const extra = live.find((task) => task !== keep)!;
    return { step: { kind: 'stopTask', task: extra, reason: 'Dormouse: duplicate task for this tenant' }, phase };
  }

  // Of the tasks being replaced, only one is worth keeping: the one that serves until its
  // replacement does. Any other (started for a plan that changed again before it served) is let go.
  const superfluous = definition ? superfluousReplaced(tenant, observed) : undefined;
  if (superfluous) return { step: { kind: 'stopTask', task: superfluous, reason: replacedReason(superfluous, tenant) }, phase };

  // Its address must lead to its shard's load balancer before the rule there can serve it: done
  // before the task starts, so DNS has that time to spread. Sleeping tenants keep their record.
  const shard = status.shard ?? 0;
  if ((settings.shards ?? 1) > 1 && status.dnsShard !== shard) return { step: { kind: 'ensureDns', shard }, phase };

  const task = live[0];
  if (!task) {
    const recorded = observed.tasks.find((candidate) => candidate.arn === status.task?.arn);
    // A task stopped to be replaced (its plan or environment changed) did not fail.
    if (recorded && isStopped(recorded) && !isInterrupted(recorded) && !isOutdated(recorded, tenant)) {
      return { step: { kind: 'recordStop', task: recorded }, phase };
    }
    if (settings.persistentData && settings.handover === 'stop-first') {
      const handover = planStopFirst(observed, settings);
      if (handover) return { ...handover, phase };
    }
    const pending = retryPending(tenant, now);
    if (pending !== undefined) return { step: { kind: 'wait', afterMs: pending }, phase };
    // No live task means the plan is configured: it was checked above.
    return { step: { kind: 'runTask', capacityProvider: capacityFor(definition!, tenant, settings) }, phase };
  }

  if (!hasStarted(task)) {
    return { step: { kind: 'wait', afterMs: settings.pollMs, reason: 'Waiting for the task to start', until: 'task-change' }, phase };
  }

  const targetGroupArn = observed.targetGroupArn;
  if (!targetGroupArn) return { step: { kind: 'ensureTargetGroup' }, phase };

  const target = observed.targets.find((candidate) => candidate.ip === task.ip);
  if (!target || target.health === 'draining') {
    return { step: { kind: 'registerTarget', targetGroupArn, ip: task.ip }, phase };
  }
  if (target.health !== 'healthy') {
    const waiting = { kind: 'wait', afterMs: settings.pollMs, reason: 'Waiting for the task to pass health checks' } as const;
    if (target.health !== 'unhealthy') return { step: waiting, phase };
    const problem = target.reason ?? 'The application does not pass its load balancer health check.';
    // RunTask tasks are not replaced by ECS for failing load balancer checks: we have to.
    const started = task.startedAt ? Date.parse(task.startedAt) : now.getTime();
    if (now.getTime() - started > settings.unhealthyTimeoutMs) {
      // A rule exists only once a task has passed its checks: this application served before,
      // and a new task may well serve again. Without one it never did, and a new task would run
      // the same application against the same check: the tenant has failed.
      if (observed.rule)
        return { step: { kind: 'stopTask', task, reason: 'Dormouse: the task kept failing its load balancer health check' }, phase };
      return { step: { kind: 'fail', reason: problem }, phase: 'Failed' };
    }
    return { step: { ...waiting, problem }, phase };
  }

  // The new task serves: only now let go of the one it replaces (interrupted, or started as
  // another plan or environment), so there is no gap.
  const stale = observed.targets.find((candidate) => candidate.ip !== task.ip && candidate.health !== 'draining');
  if (stale) return { step: { kind: 'deregisterTarget', targetGroupArn, ip: stale.ip }, phase };
  const leftover = observed.tasks.find((candidate) => candidate !== task && !isStopped(candidate) && candidate.desiredStatus === 'RUNNING');
  if (leftover) return { step: { kind: 'stopTask', task: leftover, reason: replacedReason(leftover, tenant) }, phase };

  if (observed.rule && observed.rule.targetGroupArn !== targetGroupArn) {
    return { step: { kind: 'deleteRule', ruleArn: observed.rule.arn }, phase };
  }
  if (!observed.rule) return { step: { kind: 'createRule', targetGroupArn }, phase: risingPhase(tenant, false) };
  return { step: { kind: 'done' }, phase: 'Running' };
}

/** A live task started as another plan or environment that does not serve, or serves beside another such one. */
function superfluousReplaced(tenant: Tenant, observed: Observation): ObservedTask | undefined {
  const replaced = liveTasks(observed.tasks).filter((task) => isOutdated(task, tenant));
  const serving = replaced.find((task) => observed.targets.some((target) => target.ip === task.ip && target.health === 'healthy'));
  return replaced.find((task) => task !== serving);
}

/**
 * Invariant 1 with persistent data: no new task mounts the data while an old one may still
 * write it. The old task (interrupted, told to stop, or started as another plan or environment)
 * is let go of first: its rule, so visitors see the waking page instead of errors, then the task
 * itself, and only once ECS says STOPPED does the replacement start.
 */
function planStopFirst(observed: Observation, settings: PlanSettings): Pick<Plan, 'step'> | undefined {
  const leaving = observed.tasks.filter((task) => !isStopped(task));
  if (leaving.length === 0) return undefined;
  if (observed.rule) return { step: { kind: 'deleteRule', ruleArn: observed.rule.arn } };
  const running = leaving.find((task) => task.desiredStatus === 'RUNNING');
  if (running)
    return { step: { kind: 'stopTask', task: running, reason: 'Dormouse: stopped before its replacement mounts the tenant data' } };
  return {
    step: {
      kind: 'wait',
      afterMs: settings.pollMs,
      reason: 'Waiting for the previous task to stop before the data is mounted again',
      until: 'task-change',
    },
  };
}

/** Passivate and delete share the way down: rule first, so the host falls through to wake. */
function planStopping(tenant: Tenant, observed: Observation, settings: PlanSettings, now: Date, stopReason?: string): Plan {
  const deleting = tenant.spec.desired === 'deleted';
  const phase: Phase = deleting ? 'Deleting' : 'Passivating';
  if (observed.rule) return { step: { kind: 'deleteRule', ruleArn: observed.rule.arn }, phase };
  const running = observed.tasks.find((task) => !isStopped(task) && task.desiredStatus === 'RUNNING');
  if (running) {
    const reason = stopReason ?? (deleting ? 'Dormouse: tenant deleted' : 'Dormouse: tenant passivated');
    return { step: { kind: 'stopTask', task: running, reason }, phase };
  }
  if (observed.targetGroupArn) return { step: { kind: 'deleteTargetGroup', targetGroupArn: observed.targetGroupArn }, phase };
  if (tenant.status.slot) return { step: { kind: 'releaseSlot' }, phase };
  // Nothing routes to a deleted tenant any more: its address goes too. A sleeping one keeps it,
  // so its next visitor still reaches a wake function.
  if (deleting && tenant.status.dnsShard !== undefined) return { step: { kind: 'removeDns' }, phase };
  // Stop was asked; it is not over until ECS says STOPPED.
  if (observed.tasks.some((task) => !isStopped(task))) {
    return { step: { kind: 'wait', afterMs: settings.pollMs, reason: 'Waiting for the task to stop', until: 'task-change' }, phase };
  }
  // A RunTask whose task was never seen may have started one that ECS does not list yet. With
  // data, that task may also have been interrupted before it was listed: ECS then lists it no
  // more, and it may write the data until it stops.
  const launch = tenant.status.launch;
  const unseenForMs = settings.listingLagMs + (settings.persistentData ? LONGEST_STOP_MS : 0);
  if (launch && now.getTime() - Date.parse(launch.requestedAt) < unseenForMs) {
    return { step: { kind: 'wait', afterMs: settings.pollMs, reason: 'Making sure no task is starting' }, phase };
  }
  if (deleting && settings.persistentData && !tenant.status.dataRemoved) return { step: { kind: 'removeData' }, phase };
  return { step: { kind: 'done' }, phase: deleting ? 'Deleted' : 'Passivated' };
}
