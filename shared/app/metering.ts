import type { PlanCatalog } from '../domain/plans.js';
import { meter } from '../domain/usage.js';
import type { Clock } from '../ports/clock.js';
import type { TenantReader, TenantWriter } from '../ports/tenant-store.js';

type Store = TenantReader & Pick<TenantWriter, 'save'>;

/**
 * The store as the writers of actual state (the reconciler, the task-events handler) use it:
 * every record they write has its usage brought up to date by the meter (usage.ts) in the same
 * write. No extra write, and nothing counted for a write that does not happen: a conflict, a
 * duplicate or a stale event never reaches `save`, or fails it.
 */
export function meteredStore<S extends Store>(store: S, clock: Clock, plans: PlanCatalog): S {
  const metered: Store = {
    get: (id, options) => store.get(id, options),
    save: (tenant, options) => store.save(meter(tenant, clock.now(), plans), options),
  };
  return Object.assign(Object.create(store) as S, metered);
}
