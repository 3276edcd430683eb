import { setTimeout as sleep } from 'node:timers/promises';
import { VersionConflictError } from '../domain/errors.js';
import type { Tenant } from '../domain/tenant.js';
import type { SaveOptions, TenantReader, TenantWriter } from '../ports/tenant-store.js';

/**
 * Written here, once, over the port's `get` and `save` rather than as a method of the store:
 * the port stays two narrow calls that every adapter and test double already has, and every
 * store (DynamoDB, a test's racing wrapper) gets the same retry behaviour without its own copy.
 */
export type UpdatableStore = TenantReader & Pick<TenantWriter, 'save'>;

/** What a change decided: the record to write (on the version it was read at), and how. */
export interface TenantWrite {
  tenant: Tenant;
  options?: SaveOptions;
}

/**
 * Decides on the record as read. Pure, and asked again on every fresh read: it returns the
 * write, `undefined` for "no change" (nothing is written), or throws a domain error to stop.
 */
export type TenantChange = (current: Tenant) => TenantWrite | undefined;

export type UpdateResult =
  /** The change was written; `tenant` carries its new version. */
  | { written: true; tenant: Tenant }
  /** The change said "no change" on `tenant`, or there is no such tenant (`tenant` absent). */
  | { written: false; tenant?: Tenant };

export interface UpdateOptions {
  /**
   * The record as the caller already has it (a page of an index, an eventually consistent
   * read, its own last write): the first decision is made on it without a read. A stale copy
   * costs one conflict, after which the record is read again.
   */
  from?: Tenant;
}

/**
 * Fresh reads a change gets before the conflict is given to the caller. A tenant has a handful
 * of writers (a command, a task event, the reconciler, the sweep, a wake); more conflicts in a
 * row than that mean someone keeps writing, and the caller's own retry (the next event, sweep
 * or request) does better than spinning here.
 */
export const UPDATE_ATTEMPTS = 5;
/** Ceiling of the jittered pause after the first conflict; doubles with each further one. */
const PAUSE_BASE_MS = 5;

/**
 * Read, change, conditional write on `version`; on a version conflict read again and decide
 * again, so a concurrent writer's change is never overwritten. After `UPDATE_ATTEMPTS` conflicts
 * the last VersionConflictError is thrown.
 */
export async function updateTenant(
  store: UpdatableStore,
  id: string,
  change: TenantChange,
  options: UpdateOptions = {},
): Promise<UpdateResult> {
  let current = options.from ?? (await store.get(id));
  for (let attempt = 1; ; attempt++) {
    if (!current) return { written: false };
    const write = change(current);
    if (!write) return { written: false, tenant: current };
    try {
      return { written: true, tenant: await store.save(write.tenant, write.options) };
    } catch (error) {
      if (!(error instanceof VersionConflictError) || attempt >= UPDATE_ATTEMPTS) throw error;
    }
    // Full jitter: writers that collided do not collide again on the same beat.
    await sleep(Math.random() * PAUSE_BASE_MS * 2 ** (attempt - 1));
    current = await store.get(id);
  }
}
