import { VersionConflictError } from '../domain/errors.js';
import type { Tenant } from '../domain/tenant.js';
import type { ObservedTask } from '../ports/compute.js';
import type { TenantReader, TenantWriter } from '../ports/tenant-store.js';

export interface TaskEventDeps {
  store: TenantReader & Pick<TenantWriter, 'save'>;
}

export interface TaskStateChange {
  task: ObservedTask;
  /** ECS `detail.version`: grows with every change to the task. */
  version: number;
}

export type TaskEventOutcome = 'applied' | 'unknown-tenant' | 'other-task' | 'stale';

const MAX_ATTEMPTS = 5;

/**
 * Records what an ECS task state change says about the task the tenant's record expects.
 * Events arrive at least once and in any order: an event for another task, or one not newer
 * than the last applied, changes nothing. The write itself gets the tenant reconciled, through
 * the table's stream.
 */
export async function handleTaskEvent(deps: TaskEventDeps, event: TaskStateChange): Promise<TaskEventOutcome> {
  for (let attempt = 1; ; attempt++) {
    const tenant = await deps.store.get(event.task.tenantId);
    if (!tenant) return 'unknown-tenant';
    const recorded = tenant.status.task;
    // A task the record does not expect is the reconciler's business (it observes all of a
    // tenant's tasks); an event about it must not overwrite the expected one.
    if (!recorded || recorded.arn !== event.task.arn) return 'other-task';
    if (recorded.eventVersion !== undefined && event.version <= recorded.eventVersion) return 'stale';
    try {
      await deps.store.save(applyEvent(tenant, event));
      return 'applied';
    } catch (error) {
      if (!(error instanceof VersionConflictError) || attempt >= MAX_ATTEMPTS) throw error;
    }
  }
}

function applyEvent(tenant: Tenant, { task, version }: TaskStateChange): Tenant {
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
      },
    },
  };
}
