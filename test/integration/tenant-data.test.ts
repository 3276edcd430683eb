import { describe, expect, it } from 'vitest';
import { changeDesired } from '../../shared/app/change-desired.js';
import { exportTenantData, restoreTenantData, restoreUploadLink, type TenantDataDeps } from '../../shared/app/tenant-data.js';
import { hashToken } from '../../shared/app/tokens.js';
import { ARCHIVE_LIMITS } from '../../shared/domain/data-archives.js';
import { domainEventsFor, TENANT_CHANGED } from '../../shared/domain/domain-events.js';
import { ArchiveRejectedError } from '../../shared/domain/errors.js';
import { leaseFor } from '../../shared/domain/lease.js';
import { authorizeForTenant, type Caller } from '../../shared/http/caller.js';
import type { DataArchives, TimedLink } from '../../shared/ports/storage.js';
import { DynamoDbRateLimiter } from '../../shared/adapters/aws/dynamodb-rate-limiter.js';
import { createWorld } from '../support/reconciler-world.js';

const TOKEN = 'dmt_the-token-of-acme';
const ADMIN: Caller = { kind: 'admin', principal: 'ops' };

/** Archives that record what they were asked, and whose restore waits until the test lets it end. */
class FakeArchives implements DataArchives {
  readonly calls: string[] = [];
  private finish?: (outcome: { files: number; bytes: number } | Error) => void;
  /** Set while a restore waits for `endRestore`. */
  restoring?: Promise<void>;
  private started?: () => void;

  async exportData(tenantId: string): Promise<TimedLink> {
    this.calls.push(`export ${tenantId}`);
    return { url: `https://archives.test/${tenantId}.tar.gz`, expiresAt: '2026-11-21T11:00:00.000Z' };
  }

  async uploadLink(tenantId: string): Promise<TimedLink & { uploadId: string }> {
    this.calls.push(`uploadLink ${tenantId}`);
    return { url: 'https://archives.test/upload', expiresAt: '2026-11-21T11:00:00.000Z', uploadId: 'upload-0123456789abcdef' };
  }

  restoreData(tenantId: string, uploadId: string): Promise<{ files: number; bytes: number }> {
    this.calls.push(`restore ${tenantId} ${uploadId}`);
    this.started?.();
    return new Promise((resolve, reject) => {
      this.finish = (outcome) => (outcome instanceof Error ? reject(outcome) : resolve(outcome));
    });
  }

  /** Resolves once a restore has begun. */
  restoreStarted(): Promise<void> {
    return new Promise((resolve) => (this.started = resolve));
  }

  endRestore(outcome: { files: number; bytes: number } | Error): void {
    this.finish!(outcome);
  }
}

/** A world with one tenant, `acme` (token TOKEN), brought to the phase asked for. */
async function worldWith(state: 'running' | 'passivated') {
  const world = await createWorld({ settings: { persistentData: true } });
  const created = await world.signUp('acme');
  await world.store.save({ ...created, tokenHash: hashToken(TOKEN) });
  await world.converge(['acme']);
  if (state === 'passivated') {
    await world.setDesired('acme', 'passivated');
    await world.converge(['acme']);
  }
  const archives = new FakeArchives();
  const limiter = new DynamoDbRateLimiter({ tableName: world.tables.tenantTable, client: world.tables.documentClient });
  const deps: TenantDataDeps = { store: world.store, clock: world.clock, archives, limiter };
  return { world, archives, deps };
}

/** What a refused call threw, to assert on after the call. */
const refusal = (error: unknown) => error;

const as = (caller: Caller) => (tenant: Parameters<typeof authorizeForTenant>[1]) => authorizeForTenant(caller, tenant);

describe('exporting a tenant’s data', () => {
  it('gives the token holder and an admin a link, even while the tenant runs', async () => {
    // Prepare
    const { deps, archives } = await worldWith('running');

    // Act
    const byOwner = await exportTenantData(deps, 'acme', as({ kind: 'bearer', token: TOKEN }));
    const byAdmin = await exportTenantData(deps, 'acme', as(ADMIN));

    // Assess
    expect(byOwner).toEqual({ url: 'https://archives.test/acme.tar.gz', expiresAt: '2026-11-21T11:00:00.000Z' });
    expect(byAdmin.url).toBe('https://archives.test/acme.tar.gz');
    expect(archives.calls).toEqual(['export acme', 'export acme']);
  });

  it('stops a tenant exported too often in an hour, with when to try again, and lets it export again the next hour', async () => {
    // Prepare
    const { world, deps, archives } = await worldWith('passivated');
    for (let i = 0; i < ARCHIVE_LIMITS.exportsPerHour; i++) await exportTenantData(deps, 'acme', as(ADMIN));

    // Act
    const refused = await exportTenantData(deps, 'acme', as({ kind: 'bearer', token: TOKEN })).catch(refusal);
    world.clock.advance(3_600_000);
    const nextHour = await exportTenantData(deps, 'acme', as(ADMIN));

    // Assess
    expect(refused).toMatchObject({ status: 429, code: 'rate_limited', message: expect.stringMatching(/exported 6 times this hour/) });
    expect(nextHour.url).toBe('https://archives.test/acme.tar.gz');
    expect(archives.calls).toHaveLength(ARCHIVE_LIMITS.exportsPerHour + 1);
  });

  it('refuses another tenant’s token, and answers an unknown and a deleted tenant alike with 404', async () => {
    // Prepare
    const { world, deps, archives } = await worldWith('passivated');
    await world.signUp('gone');
    await world.setDesired('gone', 'deleted');

    // Act
    const foreign = await exportTenantData(deps, 'acme', as({ kind: 'bearer', token: 'dmt_someone-else' })).catch(refusal);
    const unknown = await exportTenantData(deps, 'ghost', as(ADMIN)).catch(refusal);
    const deleted = await exportTenantData(deps, 'gone', as(ADMIN)).catch(refusal);

    // Assess
    expect(foreign).toMatchObject({ status: 403 });
    expect(unknown).toMatchObject({ status: 404, code: 'not_found', message: 'There is no tenant "ghost".' });
    expect(deleted).toMatchObject({ status: 404, code: 'not_found', message: 'There is no tenant "gone".' });
    expect(archives.calls).toEqual([]);
  });

  it('answers 404 no_data, with a sentence, when the installation keeps no tenant data', async () => {
    // Prepare
    const { deps } = await worldWith('passivated');
    const { archives: _none, ...stateless } = deps;

    // Act
    const exported = await exportTenantData(stateless, 'acme', as(ADMIN)).catch(refusal);
    const upload = await restoreUploadLink(stateless, 'acme').catch(refusal);
    const restored = await restoreTenantData(stateless, 'acme', 'upload-0123456789abcdef').catch(refusal);

    // Assess
    for (const answer of [exported, upload, restored]) {
      expect(answer).toMatchObject({ status: 404, code: 'no_data', message: expect.stringMatching(/keeps no tenant data/) });
    }
  });
});

describe('restoring a tenant’s data', () => {
  it('refuses a running tenant with 409 and a sentence saying to passivate it first, and restores nothing', async () => {
    // Prepare
    const { deps, archives } = await worldWith('running');

    // Act
    const attempt = restoreTenantData(deps, 'acme', 'upload-0123456789abcdef');

    // Assess
    await expect(attempt).rejects.toMatchObject({
      status: 409,
      code: 'tenant_awake',
      message: expect.stringMatching(/passivate it first/),
    });
    expect(archives.calls).toEqual([]);
  });

  it('refuses a tenant a reconciler holds right now', async () => {
    // Prepare
    const { world, deps, archives } = await worldWith('passivated');
    const tenant = (await world.store.get('acme'))!;
    await world.store.save({ ...tenant, lease: leaseFor('reconciler-1', world.clock.now(), 60_000) });

    // Act
    const attempt = restoreTenantData(deps, 'acme', 'upload-0123456789abcdef');

    // Assess
    await expect(attempt).rejects.toMatchObject({ status: 409, code: 'tenant_busy' });
    expect(archives.calls).toEqual([]);
  });

  it('holds the tenant’s lease while it restores: a wake meanwhile starts nothing, and the tenant runs once the restore is done', async () => {
    // Prepare
    const { world, deps, archives } = await worldWith('passivated');
    const started = archives.restoreStarted();
    const startedAt = world.clock.now().getTime();

    // Act
    const restore = restoreTenantData(deps, 'acme', 'upload-0123456789abcdef');
    await started;
    const during = (await world.store.get('acme'))!;
    const woken = await changeDesired({ store: world.store }, 'acme', 'running');
    await world.reconcile('acme');
    const afterWakeDuringRestore = (await world.store.get('acme'))!;
    archives.endRestore({ files: 3, bytes: 42 });
    const restored = await restore;
    const released = (await world.store.get('acme'))!;
    const news = domainEventsFor({ before: afterWakeDuringRestore, after: released, at: world.clock.now().toISOString() });
    // The stream publisher's `Tenant Changed` starts a reconcile, as on AWS and in embedded mode.
    if (news.some((event) => event.detailType === TENANT_CHANGED)) await world.converge(['acme']);

    // Assess
    expect(during.lease).toEqual({
      owner: expect.stringMatching(/^restore-[0-9a-f-]{36}$/),
      until: new Date(startedAt + ARCHIVE_LIMITS.restoreMs).toISOString(),
    });
    expect(woken.spec.desired).toBe('running');
    expect(afterWakeDuringRestore.status.phase).toBe('Passivated');
    expect(world.cloud.mountedTasksOf('acme').filter((task) => task.lastStatus !== 'STOPPED')).toHaveLength(1);
    expect(restored).toEqual({ files: 3, bytes: 42 });
    expect(released.lease).toBeUndefined();
    expect(news.map((event) => event.detailType)).toContain(TENANT_CHANGED);
    expect((await world.store.get('acme'))!.status.phase).toBe('Running');
  });

  it('gives the lease back when the archive is rejected, and passes the reason on', async () => {
    // Prepare
    const { world, deps, archives } = await worldWith('passivated');
    const started = archives.restoreStarted();

    // Act
    const restore = restoreTenantData(deps, 'acme', 'upload-0123456789abcdef');
    await started;
    archives.endRestore(new ArchiveRejectedError('The archive was not restored: link is a SymbolicLink.'));

    // Assess
    await expect(restore).rejects.toMatchObject({ status: 400, code: 'archive_rejected', message: expect.stringMatching(/SymbolicLink/) });
    expect((await world.store.get('acme'))!.lease).toBeUndefined();
  });

  it('restores a failed tenant that holds no task', async () => {
    // Prepare
    const { world, deps, archives } = await worldWith('passivated');
    const tenant = (await world.store.get('acme'))!;
    await world.store.save({ ...tenant, status: { ...tenant.status, phase: 'Failed', failedGeneration: tenant.spec.generation } });
    const started = archives.restoreStarted();

    // Act
    const restore = restoreTenantData(deps, 'acme', 'upload-0123456789abcdef');
    await started;
    archives.endRestore({ files: 1, bytes: 1 });

    // Assess
    await expect(restore).resolves.toEqual({ files: 1, bytes: 1 });
  });
});
