import { createHash } from 'node:crypto';

/**
 * Deterministic AWS names and tags for a tenant's resources. Deterministic names make
 * "create" safe to repeat after a crash, and let drift repair find what Dormouse owns.
 */

/** Tag on every task, target group and rule Dormouse creates; its value is the tenant id. */
export const TENANT_TAG = 'dormouse:tenant';

function shortHash(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 8);
}

/** Slug, shortened with a hash suffix when it does not fit, so names stay readable and unique. */
function fit(prefix: string, tenantId: string, max: number): string {
  const whole = `${prefix}${tenantId}`;
  if (whole.length <= max) return whole;
  return `${prefix}${tenantId.slice(0, max - prefix.length - 9)}-${shortHash(tenantId)}`;
}

/** Target group names: at most 32 characters, alphanumerics and hyphens, unique per region. */
export function targetGroupName(tenantId: string): string {
  return fit('dm-', tenantId, 32);
}

/** RunTask `startedBy`: at most 36 characters; ListTasks can filter on it. */
export function startedBy(tenantId: string): string {
  return fit('dm/', tenantId, 36);
}

/** RunTask `group`: names the tenant in the console and in task state change events. */
export function taskGroup(tenantId: string): string {
  return `tenant:${tenantId}`;
}

/** The tenant a task group names, or undefined for tasks that are not a tenant's. */
export function tenantFromTaskGroup(group: string | undefined): string | undefined {
  return group?.startsWith('tenant:') ? group.slice('tenant:'.length) : undefined;
}
