import { ConflictError, NotFoundError, VerificationPendingError, VersionConflictError } from '../domain/errors.js';
import { isAwaitingVerification, withDesired, type Desired, type Tenant } from '../domain/tenant.js';
import type { TenantReader, TenantWriter } from '../ports/tenant-store.js';

export interface ChangeDesiredDeps {
  store: TenantReader & Pick<TenantWriter, 'save'>;
}

/** How many fresh reads a command gets before a conflict is reported instead of retried. */
const MAX_ATTEMPTS = 5;

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
  for (let attempt = 1; ; attempt++) {
    const current = await deps.store.get(id);
    if (!current) throw new NotFoundError(`There is no tenant "${id}".`);
    authorize(current);
    // An unconfirmed signup holds no place and no task; it is confirmed or it expires.
    if (isAwaitingVerification(current)) throw new VerificationPendingError(id);
    if (current.spec.desired === 'deleted' && desired !== 'deleted') {
      throw new ConflictError(`Tenant "${id}" is being deleted and cannot be ${desired === 'running' ? 'woken' : 'passivated'}.`, 'tenant_deleted');
    }
    const next = withDesired(current, desired);
    if (next === current) return current;
    try {
      // Asking for deletion ends the live trial: its email and slot are freed in the same write.
      return await deps.store.save(next, { releaseClaims: desired === 'deleted' });
    } catch (error) {
      if (!(error instanceof VersionConflictError) || attempt >= MAX_ATTEMPTS) throw error;
    }
  }
}
