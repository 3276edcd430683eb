import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DynamoDbTenantStore } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { TENANT_TABLE, createTenantTableInput } from '../../shared/adapters/aws/tenant-table.js';
import { ensureTables } from '../../shared/adapters/local/dynamodb-local.js';
import { newTenant, withDesired, type Tenant } from '../../shared/domain/tenant.js';
import { createTestTables } from '../support/dynamodb.js';

const NOW = new Date('2026-11-21T10:00:00.000Z');

function tenant(slug: string): Tenant {
  return newTenant({ slug, email: `${slug}@example.com`, plan: 'trial', tokenHash: `hash-of-${slug}`, now: NOW, trialDays: 14 });
}

async function freshStore() {
  const tables = await createTestTables();
  return { tables, store: new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient }) };
}

describe('the warm index (byWarmAt)', () => {
  it('lists sleeping tenants whose hours begin by a time, soonest first, page by page, and no tenant awake or without hours', async () => {
    // Prepare
    const { store } = await freshStore();
    const asleep = async (slug: string, warmAt?: string) => {
      const created = await store.create(tenant(slug), { maxTenants: 100 });
      return store.save({ ...withDesired(created, 'passivated'), ...(warmAt ? { warmAt } : {}) });
    };
    await asleep('late', '2026-11-23T07:00:00.000Z');
    await asleep('first', '2026-11-21T07:00:00.000Z');
    await asleep('second', '2026-11-21T08:00:00.000Z');
    await asleep('no-hours');
    // Woken by a visitor since it was put to sleep: it is no longer waiting for its hours.
    const woken = await asleep('woken', '2026-11-21T06:00:00.000Z');
    await store.save(withDesired(woken, 'running'));

    // Act
    const first = await store.listWarmDue('2026-11-21T08:00:00.000Z', { limit: 1 });
    const rest = await store.listWarmDue('2026-11-21T08:00:00.000Z', { limit: 1, cursor: first.cursor! });
    const end = rest.cursor ? await store.listWarmDue('2026-11-21T08:00:00.000Z', { limit: 1, cursor: rest.cursor }) : { items: [] };

    // Assess
    expect(first.items.map((item) => item.id)).toEqual(['first']);
    expect(rest.items.map((item) => item.id)).toEqual(['second']);
    expect(end.items).toEqual([]);
    // Read back as a tenant, with no index key on it.
    expect(first.items[0]).toEqual(await store.get('first'));
    expect(first.items[0]).not.toHaveProperty(TENANT_TABLE.warmIndex.partitionKey);
  });

  it('is added to a table kept from a version that did not have it, and its tenants are found once written again', async () => {
    // Prepare: the table as an older version created it, with a tenant in it
    const { tables } = await freshStore();
    const tableName = `older-${randomUUID().slice(0, 8)}`;
    const current = createTenantTableInput(tableName);
    const older = {
      ...current,
      GlobalSecondaryIndexes: current.GlobalSecondaryIndexes!.filter((index) => index.IndexName !== TENANT_TABLE.warmIndex.name),
      AttributeDefinitions: current.AttributeDefinitions!.filter(
        (definition) =>
          ![TENANT_TABLE.warmIndex.partitionKey, TENANT_TABLE.warmIndex.sortKey].includes(definition.AttributeName as 'warmKey'),
      ),
    };
    await ensureTables(tables.client, [older]);
    const store = new DynamoDbTenantStore({ tableName, client: tables.documentClient });
    const created = await store.create(tenant('acme'), { maxTenants: 100 });

    // Act: a newer version starts on the same table
    await ensureTables(tables.client, [current]);
    await store.save({ ...withDesired(created, 'passivated'), warmAt: '2026-11-21T07:00:00.000Z' });

    // Assess
    const { Table } = await tables.client.send(new DescribeTableCommand({ TableName: tableName }));
    expect(Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName).sort()).toEqual(
      current.GlobalSecondaryIndexes!.map((index) => index.IndexName).sort(),
    );
    expect((await store.listWarmDue('2026-11-21T08:00:00.000Z', { limit: 10 })).items.map((item) => item.id)).toEqual(['acme']);
    // Starting again changes nothing.
    await ensureTables(tables.client, [current]);
  });
});
