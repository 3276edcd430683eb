import { isKeptWarm, effectiveKeepWarm, nextWarmStart } from './keep-warm.js';
import { planNamed, type PlanCatalog } from './plans.js';
import type { Tenant } from './tenant.js';

/**
 * When a tenant may be put to sleep: after its plan's idle timeout, never on a plan that never
 * sleeps, and never during its keep-warm hours (nor in the lead time before they begin, when it
 * would only be woken again).
 */

/**
 * How long the tenant may sit idle before it is passivated; undefined when it never sleeps. A
 * tenant whose plan is not in the catalog (removed or renamed in the configuration) never sleeps
 * either: putting a tenant to sleep on a guess may cut off paying users, while keeping it up only
 * costs its task until an operator fixes the plan, which the sweep's warning asks for.
 */
export function idleTimeoutOf(tenant: Tenant, plans: PlanCatalog): number | undefined {
  return planNamed(plans, tenant.spec.plan)?.idleMs;
}

/** The longest idle timeout of any plan: activity older than this cannot change a decision. */
export function longestIdleTimeout(plans: PlanCatalog): number | undefined {
  const timeouts = plans.plans.flatMap((plan) => (plan.idleMs === undefined ? [] : [plan.idleMs]));
  return timeouts.length === 0 ? undefined : Math.max(...timeouts);
}

/**
 * Whether the tenant's keep-warm hours hold it awake at `now`: they are open, or open within
 * `leadMs` (it would be woken for them right away).
 */
export function heldWarm(tenant: Tenant, plans: PlanCatalog, now: Date, leadMs: number): boolean {
  const schedule = effectiveKeepWarm(tenant, plans);
  if (!schedule) return false;
  if (isKeptWarm(schedule, now)) return true;
  const start = nextWarmStart(schedule, now);
  return start !== undefined && start.getTime() - now.getTime() <= leadMs;
}
