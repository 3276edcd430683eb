import { ConflictError, noSuchTenant, VerificationPendingError } from '../domain/errors.js';
import { isAwaitingVerification, withDesired, type Desired, type Tenant } from '../domain/tenant.js';
import { updateTenant, type UpdatableStore } from './update-tenant.js';

export interface ChangeDesiredDeps {
  store: UpdatableStore;
}

/**
 * Sets a tenant's expected state, re-reading and deciding again on every version conflict so
 * a concurrent writer's change is never overwritten. `authorize` runs on every fresh read.
 */
export async function changeDesired(
  deps: ChangeDesiredDeps,
  id: string,
  desired: Desired,
  authorize: (tenant: Tenant) => void = () => {},
): Promise<Tenant> {
  const { tenant } = await updateTenant(deps.store, id, (current) => {
    authorize(current);
    // An unconfirmed signup holds no place and no task; it is confirmed or it expires.
    if (isAwaitingVerification(current)) throw new VerificationPendingError(id);
    if (current.spec.desired === 'deleted' && desired !== 'deleted') {
      throw new ConflictError(
        `Tenant "${id}" is being deleted and cannot be ${desired === 'running' ? 'woken' : 'passivated'}.`,
        'tenant_deleted',
      );
    }
    const next = withDesired(current, desired);
    // Asking for deletion ends the live trial: its email and slot are freed in the same write.
    return next === current ? undefined : { tenant: next, options: { releaseClaims: desired === 'deleted' } };
  });
  if (!tenant) throw noSuchTenant(id);
  return tenant;
}
