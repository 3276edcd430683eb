import type { PlanCatalog } from '../domain/plans.js';
import type { Tenant } from '../domain/tenant.js';
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

export type TaskEventOutcome = 'applied' | 'unknown-tenant' | 'other-task' | 'stale';

/**
 * Records what an ECS task state change says about the task the tenant's record expects.
 * Events arrive at least once and in any order: an event for another task, or one not newer
 * than the last applied, changes nothing. The write itself gets the tenant reconciled, through
 * the table's stream.
 */
export async function handleTaskEvent(deps: TaskEventDeps, event: TaskStateChange): Promise<TaskEventOutcome> {
  const clock = deps.clock ?? systemClock;
  const store = meteredStore(deps.store, clock, deps.plans ?? { plans: [] });
  const result = await updateTenant(store, event.task.tenantId, (tenant) => {
    if (!ignored(tenant, event)) return { tenant: applyEvent(tenant, event, clock.now()) };
    // A task replaced while it still ran is metered until it stops: its STOPPED event says when.
    const stopped = meterStoppedOutgoing(tenant, event.task, clock.now());
    return stopped ? { tenant: stopped } : undefined;
  });
  if (result.written) return 'applied';
  return result.tenant ? ignored(result.tenant, event)! : 'unknown-tenant';
}

/** Why the event changes nothing on this record, if it does not. */
function ignored(tenant: Tenant, event: TaskStateChange): 'other-task' | 'stale' | undefined {
  const recorded = tenant.status.task;
  // A task the record does not expect is the reconciler's business (it observes all of a
  // tenant's tasks); an event about it must not overwrite the expected one.
  if (!recorded || recorded.arn !== event.task.arn) return 'other-task';
  if (recorded.eventVersion !== undefined && event.version <= recorded.eventVersion) return 'stale';
  return undefined;
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
