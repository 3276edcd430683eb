import { noSuchTenant, NotFoundError } from '../domain/errors.js';
import type { Tenant } from '../domain/tenant.js';
import { taskId, tasksOf } from '../domain/timeline.js';
import { timelineOf } from './tenant-timeline.js';
import type { LogPage, LogQuery, TenantLogs } from '../ports/tenant-logs.js';
import type { TimelineStore } from '../ports/timeline.js';
import type { TenantStore } from '../ports/tenant-store.js';

export interface TenantLogsDeps {
  store: Pick<TenantStore, 'get'>;
  timeline: Pick<TimelineStore, 'read'>;
  /** Absent when the installation keeps no tenant output (an API without a log group). */
  logs?: TenantLogs;
}

/**
 * What the tenant's tasks printed, after `authorize` accepted the caller for the tenant. The
 * tasks are the current one and those its timeline names, newest first: on AWS each has a log
 * stream of its own.
 */
export async function readTenantLogs(
  { store, timeline, logs }: TenantLogsDeps,
  tenantId: string,
  query: LogQuery,
  authorize: (tenant: Tenant) => void,
): Promise<LogPage> {
  const tenant = await store.get(tenantId);
  if (!tenant) throw noSuchTenant(tenantId);
  authorize(tenant);
  if (!logs) throw new NotFoundError('This installation keeps no tenant logs.');
  const current = tenant.status.task ? [taskId(tenant.status.task.arn)] : [];
  const tasks = [...new Set([...current, ...tasksOf(await timelineOf(timeline, tenant))])];
  return logs.read({ tenantId, tasks }, query);
}
