import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbTenantStore } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { UPDATE_ATTEMPTS, updateTenant, type UpdatableStore } from '../../shared/app/update-tenant.js';
import { ConflictError, VersionConflictError } from '../../shared/domain/errors.js';
import { newTenant, type Tenant } from '../../shared/domain/tenant.js';
import { createTestTables, type TestTables } from '../support/dynamodb.js';

const NOW = new Date('2025-06-01T12:00:00.000Z');

let tables: TestTables;
let store: DynamoDbTenantStore;

beforeEach(async () => {
  tables = await createTestTables();
  store = new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient });
  await store.create(newTenant({ slug: 'acme', email: 'acme@example.com', plan: 'trial', tokenHash: 'hash', now: NOW, trialDays: 14 }), {
    maxTenants: 10,
  });
});

afterEach(async () => {
  await tables.client.send(new DeleteTableCommand({ TableName: tables.tenantTable }));
  await tables.client.send(new DeleteTableCommand({ TableName: tables.idempotencyTable }));
  tables.client.destroy();
});

/** A change that counts one more wake: concurrent runs must each be counted. */
function countOne(current: Tenant) {
  return { tenant: { ...current, anonymousWakes: { since: NOW.toISOString(), count: (current.anonymousWakes?.count ?? 0) + 1 } } };
}

describe('updateTenant', () => {
  it('writes the change on the version read and returns the record with its new version', async () => {
    // Prepare
    const before = (await store.get('acme'))!;

    // Act
    const result = await updateTenant(store, 'acme', countOne);

    // Assess
    expect(result.written).toBe(true);
    expect(result.tenant!.version).toBe(before.version + 1);
    expect((await store.get('acme'))!.anonymousWakes?.count).toBe(1);
  });

  it('writes nothing when the change says there is no change, and nothing for a missing tenant', async () => {
    // Prepare
    const before = (await store.get('acme'))!;

    // Act
    const unchanged = await updateTenant(store, 'acme', () => undefined);
    const missing = await updateTenant(store, 'ghost', countOne);

    // Assess
    expect(unchanged).toEqual({ written: false, tenant: before });
    expect(missing).toEqual({ written: false });
    expect((await store.get('acme'))!.version).toBe(before.version);
  });

  it('stops with the domain error the change throws, writing nothing', async () => {
    // Act
    const attempt = updateTenant(store, 'acme', () => {
      throw new ConflictError('No.', 'tenant_deleted');
    });

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(ConflictError);
    expect((await store.get('acme'))!.version).toBe(1);
  });

  it('decides again on a fresh read after a conflict, starting from a stale copy', async () => {
    // Prepare
    const stale = (await store.get('acme'))!;
    await store.save({ ...stale, lastActiveAt: '2025-06-01T12:05:00.000Z' });
    const seen: number[] = [];

    // Act
    const result = await updateTenant(
      store,
      'acme',
      (current) => {
        seen.push(current.version);
        return countOne(current);
      },
      { from: stale },
    );

    // Assess: the second decision kept the other writer's change.
    expect(seen).toEqual([stale.version, stale.version + 1]);
    expect(result.written).toBe(true);
    const stored = (await store.get('acme'))!;
    expect(stored.lastActiveAt).toBe('2025-06-01T12:05:00.000Z');
    expect(stored.anonymousWakes?.count).toBe(1);
  });

  it('loses no write when many writers change the same tenant at once', async () => {
    // Prepare: fewer writers than attempts, so each one is sure to get through.
    const writers = UPDATE_ATTEMPTS - 1;

    // Act
    const results = await Promise.all(Array.from({ length: writers }, () => updateTenant(store, 'acme', countOne)));

    // Assess
    expect(results.every((result) => result.written)).toBe(true);
    const stored = (await store.get('acme'))!;
    expect(stored.anonymousWakes?.count).toBe(writers);
    expect(stored.version).toBe(1 + writers);
  });

  it('counts every write that reports success, and only those, when more writers compete than attempts allow', async () => {
    // Act
    const results = await Promise.allSettled(Array.from({ length: 3 * UPDATE_ATTEMPTS }, () => updateTenant(store, 'acme', countOne)));

    // Assess: a writer that gave up did so with the conflict, and wrote nothing.
    const written = results.filter((result) => result.status === 'fulfilled').length;
    const refused = results.flatMap((result) => (result.status === 'rejected' ? [result.reason] : []));
    expect(refused.every((reason) => reason instanceof VersionConflictError)).toBe(true);
    expect((await store.get('acme'))!.anonymousWakes?.count).toBe(written);
  });

  it('gives up with the VersionConflictError after a bounded number of attempts when another writer never stops', async () => {
    // Prepare: every save is preceded by someone else's write.
    let saves = 0;
    const contested: UpdatableStore = {
      get: (id) => store.get(id),
      save: async (tenant, options) => {
        saves += 1;
        const fresh = (await store.get(tenant.id))!;
        await store.save({ ...fresh, lastActiveAt: new Date(NOW.getTime() + saves * 1_000).toISOString() });
        return store.save(tenant, options);
      },
    };

    // Act
    const attempt = updateTenant(contested, 'acme', countOne);

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(VersionConflictError);
    expect(saves).toBe(UPDATE_ATTEMPTS);
    expect((await store.get('acme'))!.anonymousWakes).toBeUndefined();
  });
});
