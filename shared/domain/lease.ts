import { retryPending } from './plan.js';
import { isSettled, type Lease, type Tenant } from './tenant.js';

/**
 * The rules of the reconciler's lease, as the controller (shared/app/controller.ts) follows
 * them and the stream publisher (domain-events.ts) and the sweep read them: one reconciler at a
 * time holds a tenant; the others leave it alone; letting go of a tenant that still needs work
 * with nothing scheduled is news, so that another reconciler takes it up.
 */

/** A lease for `owner` from `now`, for `leaseMs`. */
export function leaseFor(owner: string, now: Date, leaseMs: number): Lease {
  return { owner, until: new Date(now.getTime() + leaseMs).toISOString() };
}

/** A reconciler holds the tenant: its lease has not run out. */
export function isLeased(tenant: Tenant, nowMs: number): boolean {
  return tenant.lease !== undefined && Date.parse(tenant.lease.until) > nowMs;
}

/**
 * A reconciler let go of a tenant that still needs work with no retry scheduled (its invocation
 * ran out of time, or it was the sweep's single look): someone must be told to look again. A
 * tenant with a retry scheduled is the sweep's to take up when `retryAt` comes.
 */
export function letGoWithWorkLeft(before: Tenant, after: Tenant, at: string): boolean {
  const letGo = before.lease !== undefined && after.lease === undefined;
  return letGo && !isSettled(after) && retryPending(after, new Date(at)) === undefined;
}
