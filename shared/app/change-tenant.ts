import { ConflictError, noSuchTenant, VerificationPendingError } from '../domain/errors.js';
import type { PlanCatalog } from '../domain/plans.js';
import { configuredPlan, withChanges, type TenantChanges } from '../domain/tenant-changes.js';
import { isAwaitingVerification, type Tenant } from '../domain/tenant.js';
import type { Clock } from '../ports/clock.js';
import { updateTenant, type UpdatableStore } from './update-tenant.js';

export interface ChangeTenantDeps {
  store: UpdatableStore;
  clock: Clock;
  plans: PlanCatalog;
}

/**
 * An operator's change of a tenant's plan, trial end, environment or keep-warm hours (see
 * `withChanges` for the rules). Decided again on every fresh read, so a concurrent writer's
 * change is never overwritten; the same values again write nothing.
 */
export async function changeTenant(deps: ChangeTenantDeps, id: string, changes: TenantChanges): Promise<Tenant> {
  // Bad input is refused before the table is read, whatever the tenant.
  if (changes.plan !== undefined) configuredPlan(deps.plans, changes.plan);
  const { tenant } = await updateTenant(deps.store, id, (current) => {
    if (isAwaitingVerification(current)) throw new VerificationPendingError(id);
    if (current.spec.desired === 'deleted') {
      throw new ConflictError(`Tenant "${id}" is being deleted and cannot be changed.`, 'tenant_deleted');
    }
    const next = withChanges(current, changes, deps.plans, deps.clock.now());
    return next === current ? undefined : { tenant: next };
  });
  if (!tenant) throw noSuchTenant(id);
  return tenant;
}
