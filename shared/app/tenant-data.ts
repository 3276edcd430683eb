import { randomUUID } from 'node:crypto';
import { ARCHIVE_LIMITS, asleepForRestore } from '../domain/data-archives.js';
import { ConflictError, DormouseError, noSuchTenant, RateLimitedError, VerificationPendingError } from '../domain/errors.js';
import { isLeased, leaseFor } from '../domain/lease.js';
import { isAwaitingVerification, isDeleteRequested, type Tenant } from '../domain/tenant.js';
import type { Clock } from '../ports/clock.js';
import type { RateLimiter } from '../ports/rate-limiter.js';
import type { DataArchives, TimedLink } from '../ports/storage.js';
import { updateTenant, type UpdatableStore } from './update-tenant.js';

/**
 * A tenant's data out as a `.tar.gz` and back in. The archives themselves are the adapter's
 * (presigned S3 URLs on AWS, the embedded API locally); these use cases decide who may, when,
 * and keep the reconciler away from a tenant while its data is being replaced.
 */
export interface TenantDataDeps {
  store: UpdatableStore;
  clock: Clock;
  /** Absent when the installation keeps no tenant data (no data path). */
  archives?: DataArchives;
  /** Counts exports per tenant (ARCHIVE_LIMITS.exportsPerHour). */
  limiter: RateLimiter;
  logger?: Pick<Console, 'info'>;
}

/** Decides whether the caller may act on the tenant; throws to refuse. */
export type Authorize = (tenant: Tenant) => void;

/**
 * A link to download the tenant's data as it is now: for its token holder or an admin, in any
 * phase. A running app's files are copied as they are; passivate it first for a consistent copy.
 */
export async function exportTenantData(deps: TenantDataDeps, id: string, authorize: Authorize): Promise<TimedLink> {
  const archives = archivesOf(deps);
  await liveTenant(deps, id, authorize);
  const decision = await deps.limiter.take(`export:${id}`, ARCHIVE_LIMITS.exportsPerHour, deps.clock.now());
  if (!decision.allowed) {
    const minutes = Math.ceil(decision.retryAfterSeconds / 60);
    throw new RateLimitedError(
      decision.retryAfterSeconds,
      `Tenant "${id}" was exported ${ARCHIVE_LIMITS.exportsPerHour} times this hour; the last link still works for its hour. Try again in ${minutes} minutes.`,
    );
  }
  const link = await archives.exportData(id);
  deps.logger?.info('Tenant data exported', { tenantId: id, expiresAt: link.expiresAt });
  return link;
}

/** A link for an admin to upload the archive a restore will use. */
export async function restoreUploadLink(deps: TenantDataDeps, id: string): Promise<TimedLink & { uploadId: string }> {
  const archives = archivesOf(deps);
  await liveTenant(deps, id, () => {});
  return archives.uploadLink(id);
}

/**
 * Replaces a sleeping tenant's data with the archive uploaded under `uploadId`. The restore holds
 * the reconciler's lease throughout, so a wake that comes meanwhile is recorded but starts no task
 * on half-restored data; letting go of the lease then hands the wake to the reconciler.
 */
export async function restoreTenantData(deps: TenantDataDeps, id: string, uploadId: string): Promise<{ files: number; bytes: number }> {
  const archives = archivesOf(deps);
  const owner = `restore-${randomUUID()}`;
  const { tenant } = await updateTenant(deps.store, id, (current) => {
    assertLive(current, id);
    if (!asleepForRestore(current)) {
      throw new ConflictError(
        `Tenant "${id}" is ${current.status.phase} (desired: ${current.spec.desired}); passivate it first ` +
          `(POST /tenants/${id}/passivate) and restore once it is Passivated.`,
        'tenant_awake',
      );
    }
    if (isLeased(current, deps.clock.now().getTime())) {
      throw new ConflictError(
        `Tenant "${id}" is being changed right now (by ${current.lease!.owner}); try again in a minute.`,
        'tenant_busy',
      );
    }
    return { tenant: { ...current, lease: leaseFor(owner, deps.clock.now(), ARCHIVE_LIMITS.restoreMs) } };
  });
  if (!tenant) throw noSuchTenant(id);
  try {
    const restored = await archives.restoreData(id, uploadId);
    deps.logger?.info('Tenant data restored', { tenantId: id, ...restored });
    return restored;
  } finally {
    await letGo(deps, id, owner);
  }
}

/**
 * Gives the lease back. When a wake came meanwhile the tenant now has work left, and letting go
 * of it is news (lease.ts): the stream publisher asks the reconciler to take it up.
 */
async function letGo(deps: TenantDataDeps, id: string, owner: string): Promise<void> {
  await updateTenant(deps.store, id, (current) => {
    if (current.lease?.owner !== owner) return undefined;
    const { lease: _ours, ...rest } = current;
    return { tenant: rest };
  });
}

function archivesOf(deps: TenantDataDeps): DataArchives {
  if (deps.archives) return deps.archives;
  throw new DormouseError('This installation keeps no tenant data (no data path is set), so there is nothing to export or restore.', {
    status: 404,
    code: 'no_data',
  });
}

/** The tenant as the caller may act on it: unknown and deleted tenants get the same 404. */
async function liveTenant(deps: TenantDataDeps, id: string, authorize: Authorize): Promise<Tenant> {
  const tenant = await deps.store.get(id);
  if (!tenant) throw noSuchTenant(id);
  authorize(tenant);
  assertLive(tenant, id);
  return tenant;
}

function assertLive(tenant: Tenant, id: string): void {
  if (isDeleteRequested(tenant) || tenant.status.phase === 'Deleted') throw noSuchTenant(id);
  // An unconfirmed signup has never run, so it has no data yet.
  if (isAwaitingVerification(tenant)) throw new VerificationPendingError(id);
}
