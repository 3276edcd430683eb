import type { PlanCatalog } from '../domain/plans.js';
import type { TaskStatus, Tenant } from '../domain/tenant.js';
import { systemClock, type Clock } from '../ports/clock.js';
import type { ObservedTask } from '../ports/compute.js';
import { meterStoppedOutgoing } from '../domain/usage.js';
import { meteredStore } from './metering.js';
import { updateTenant, type UpdatableStore } from './update-tenant.js';

export interface TaskEventDeps {
  store: UpdatableStore;
  /** The observation time, where the running time of a task that stopped without a `stoppedAt` ends. @default the system clock */
  clock?: Clock;
  /** The installation's plans: the size a task's running time is metered at. Without them meters name the capacity only. */
  plans?: PlanCatalog;
}

export interface TaskStateChange {
  task: ObservedTask;
  /** ECS `detail.version`: grows with every change to the task. */
  version: number;
}

export type TaskEventOutcome = 'applied' | 'before-answer' | 'unknown-tenant' | 'other-task' | 'stale' | 'no-news';

/**
 * Records what an ECS task state change says about the task the tenant's record expects.
 * Events arrive at least once and in any order: an event for another task, or one not newer
 * than the last applied, changes nothing. The write itself gets the tenant reconciled, through
 * the table's stream.
 */
export async function handleTaskEvent(deps: TaskEventDeps, event: TaskStateChange): Promise<TaskEventOutcome> {
  const clock = deps.clock ?? systemClock;
  const store = meteredStore(deps.store, clock, deps.plans ?? { plans: [] });
  let outcome: TaskEventOutcome = 'unknown-tenant';
  await updateTenant(store, event.task.tenantId, (tenant) => {
    const decided = decide(tenant, event, clock.now());
    outcome = decided.outcome;
    return decided.tenant ? { tenant: decided.tenant } : undefined;
  });
  return outcome;
}

/** What the event does to the record as read: the record to write, if any, and why. */
function decide(tenant: Tenant, event: TaskStateChange, now: Date): { outcome: TaskEventOutcome; tenant?: Tenant } {
  const why = ignored(tenant, event);
  if (!why) return { outcome: 'applied', tenant: applyEvent(tenant, event, now) };
  // A task replaced while it still ran is metered until it stops: its STOPPED event says when.
  const stopped = meterStoppedOutgoing(tenant, event.task, now);
  if (stopped) return { outcome: 'applied', tenant: stopped };
  const marked = why === 'other-task' ? markedLaunch(tenant, event.task) : undefined;
  return marked ? { outcome: 'before-answer', tenant: marked } : { outcome: why };
}

/**
 * News of a task the record does not know, while a RunTask is out, is likely that RunTask's task
 * reporting before its answer was written. Dropped, it would leave the reconciler trusting that
 * older answer and waiting for an event that already came; the launch is marked instead, and the
 * answer is not taken for ECS's word (one look asks ECS). Another task's news costs that one look.
 */
function markedLaunch(tenant: Tenant, task: ObservedTask): Tenant | undefined {
  const launch = tenant.status.launch;
  if (!launch || launch.eventBeforeAnswer || !isNews({ arn: task.arn, capacityProvider: task.capacityProvider }, task)) return undefined;
  return { ...tenant, status: { ...tenant.status, launch: { ...launch, eventBeforeAnswer: true } } };
}

/** Why the event changes nothing on this record, if it does not. */
function ignored(tenant: Tenant, event: TaskStateChange): 'other-task' | 'stale' | 'no-news' | undefined {
  const recorded = tenant.status.task;
  // A task the record does not expect is the reconciler's business (it observes all of a
  // tenant's tasks); an event about it must not overwrite the expected one.
  if (!recorded || recorded.arn !== event.task.arn) return 'other-task';
  if (recorded.eventVersion !== undefined && event.version <= recorded.eventVersion) return 'stale';
  if (!isNews(recorded, event.task)) return 'no-news';
  return undefined;
}

/**
 * Whether the event says something the reconciler acts on: the task runs, stopped, was told to
 * stop, or got an interruption notice. The steps in between (PENDING, DEPROVISIONING, …) are not
 * written: each write costs a stream record, a bus event and a reconcile that would find nothing
 * to do. A later event still applies, its version being higher.
 */
function isNews(recorded: TaskStatus, task: ObservedTask): boolean {
  const reached = (status: string) => task.lastStatus === status && recorded.lastStatus !== status;
  return (
    reached('RUNNING') ||
    reached('STOPPED') ||
    (task.desiredStatus === 'STOPPED' && recorded.desiredStatus !== 'STOPPED') ||
    (task.stopCode !== undefined && task.stopCode !== recorded.stopCode)
  );
}

/** The event's facts on the recorded task, dated: the reconciler trusts them instead of asking ECS again while they are recent. */
function applyEvent(tenant: Tenant, { task, version }: TaskStateChange, now: Date): Tenant {
  return {
    ...tenant,
    status: {
      ...tenant.status,
      task: {
        ...tenant.status.task!,
        lastStatus: task.lastStatus,
        capacityProvider: task.capacityProvider,
        eventVersion: version,
        ...(task.ip ? { ip: task.ip } : {}),
        ...(task.stopCode ? { stopCode: task.stopCode } : {}),
        ...(task.startedAt ? { startedAt: task.startedAt } : {}),
        ...(task.stoppedAt ? { stoppedAt: task.stoppedAt } : {}),
        ...(task.size ? { size: task.size } : {}),
        ...(task.desiredStatus === 'STOPPED' ? { desiredStatus: 'STOPPED' as const } : {}),
        seenAt: now.toISOString(),
        // What the task was started as stays as recorded: events carry no tags to say it.
      },
    },
  };
}
