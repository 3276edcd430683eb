import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeleteTableCommand, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, ScanCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { documentClientFor, DynamoDbTenantStore, emailHash, tenantItem } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { CEILING_SHARES, LEGACY_FROZEN_OFFSET, shareOf } from '../../shared/adapters/aws/tenant-ceiling.js';
import { TENANT_TABLE, keys } from '../../shared/adapters/aws/tenant-table.js';
import {
  EmailInUseError,
  SlotsFullError,
  SlugTakenError,
  TenantCeilingError,
  ValidationError,
  VersionConflictError,
} from '../../shared/domain/errors.js';
import { newTenant, verified, withDesired } from '../../shared/domain/tenant.js';
import type { Phase, Tenant } from '../../shared/domain/tenant.js';
import type { ListQuery } from '../../shared/ports/tenant-store.js';
import { CachedTenantStore } from '../../shared/adapters/local/cached-tenant-store.js';
import { localDynamoDbClient } from '../../shared/adapters/local/dynamodb-local.js';
import { createTestTables } from '../support/dynamodb.js';
import type { TestTables } from '../support/dynamodb.js';
import { modelTransactionConflicts } from '../support/transaction-conflicts.js';

const NOW = new Date('2025-06-01T12:00:00.000Z');
const ROOMY = { maxTenants: 1_000 };

function tenant(
  slug: string,
  { email = `${slug}@example.com`, now = NOW, phase }: { email?: string; now?: Date; phase?: Phase } = {},
): Tenant {
  const fresh = newTenant({ slug, email, plan: 'trial', tokenHash: `hash-of-${slug}`, now, trialDays: 14 });
  if (!phase) return fresh;
  // A tenant at rest is one that was asked to be there.
  const desired = phase === 'Passivated' ? 'passivated' : phase === 'Deleted' ? 'deleted' : fresh.spec.desired;
  return { ...fresh, spec: { ...fresh.spec, desired }, status: { ...fresh.status, phase } };
}

/** A signup whose email is not confirmed yet (PendingVerification). */
function pending(slug: string, email = `${slug}@example.com`, now = NOW): Tenant {
  return newTenant({ slug, email, plan: 'trial', tokenHash: `hash-of-${slug}`, now, trialDays: 14, verificationCodeHash: 'code-hash' });
}

// Each test gets its own tables: the live-tenant counter is table-wide, and assertions on it
// must not depend on which tests ran before.
let tables: TestTables;
let store: DynamoDbTenantStore;
const extraClients: { destroy(): void }[] = [];

beforeEach(async () => {
  tables = await createTestTables();
});

afterEach(async () => {
  await tables.client.send(new DeleteTableCommand({ TableName: tables.tenantTable }));
  await tables.client.send(new DeleteTableCommand({ TableName: tables.idempotencyTable }));
  tables.client.destroy();
  for (const client of extraClients.splice(0)) client.destroy();
});

/** Everything in the table, raw, to prove what a failed write did not leave behind. */
async function allItems(): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await tables.documentClient.send(new ScanCommand({ TableName: tables.tenantTable, ExclusiveStartKey: start }));
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

async function emailClaims(): Promise<unknown[]> {
  return (await allItems()).filter((item) => item.kind === 'emailClaim').map((item) => item.tenantId);
}

async function activeIds(): Promise<string[]> {
  const { name, partitionKey } = TENANT_TABLE.activeIndex;
  const { Items = [] } = await tables.documentClient.send(
    new QueryCommand({
      TableName: tables.tenantTable,
      IndexName: name,
      KeyConditionExpression: '#key = :active',
      ExpressionAttributeNames: { '#key': partitionKey },
      ExpressionAttributeValues: { ':active': 'active' },
    }),
  );
  return Items.map((item) => item.id as string);
}

async function listAll(query: Omit<ListQuery, 'cursor'>): Promise<{ ids: string[]; pageSizes: number[] }> {
  const ids: string[] = [];
  const pageSizes: number[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 20; pages++) {
    const page = await store.list({ ...query, ...(cursor ? { cursor } : {}) });
    ids.push(...page.items.map((item) => item.id));
    pageSizes.push(page.items.length);
    cursor = page.cursor;
    if (!cursor) return { ids, pageSizes };
  }
  throw new Error('listing did not end');
}

/**
 * A store whose first `failures` transactions are cancelled as if another transaction held the
 * same items. DynamoDB Local runs transactions one at a time and never reports that by itself.
 */
function storeWithTransactionConflicts(failures: number): { store: DynamoDbTenantStore; attempts: () => number } {
  const client = localDynamoDbClient(tables.endpoint);
  extraClients.push(client);
  let attempts = 0;
  client.middlewareStack.add(
    (next) => async (args) => {
      if (!('TransactItems' in (args.input as object))) return next(args);
      attempts += 1;
      if (attempts > failures) return next(args);
      throw new TransactionCanceledException({
        message: 'Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict, None]',
        $metadata: {},
        CancellationReasons: [{ Code: 'None' }, { Code: 'TransactionConflict' }, { Code: 'None' }],
      });
    },
    { step: 'initialize', name: 'injectTransactionConflicts' },
  );
  const documentClient = documentClientFor(client);
  return { store: new DynamoDbTenantStore({ tableName: tables.tenantTable, client: documentClient }), attempts: () => attempts };
}

/** Each counter item's count, by index. */
async function shareCounts(): Promise<number[]> {
  return Promise.all(
    Array.from({ length: CEILING_SHARES }, async (_, index) => {
      const { Item } = await tables.documentClient.send(
        new GetCommand({ TableName: tables.tenantTable, Key: { pk: keys.tenantCounterShare(index) }, ConsistentRead: true }),
      );
      return Number(Item?.liveCount ?? 0);
    }),
  );
}

/** The counter item a tenant's email claim names as holding its place. */
async function shareOfTenant(email: string): Promise<unknown> {
  const { Item } = await tables.documentClient.send(
    new GetCommand({ TableName: tables.tenantTable, Key: { pk: keys.email(emailHash(email)) }, ConsistentRead: true }),
  );
  return Item?.ceilingShare;
}

/** `count` signups at once, each with its own slug and address. */
async function burst(on: DynamoDbTenantStore, count: number, maxTenants: number, prefix = 'burst') {
  const results = await Promise.allSettled(
    Array.from({ length: count }, (_, index) => on.create(tenant(`${prefix}-${index}`), { maxTenants })),
  );
  const admitted = results.filter((result) => result.status === 'fulfilled').length;
  const rejections = rejectionsOf(results);
  return { admitted, rejections, ceilingRefusals: rejections.filter((error) => error instanceof TenantCeilingError).length };
}

/** A store on its own client, whose transactions conflict as on DynamoDB when they meet on an item. */
function storeWithConflictModel({ ceilingShares, tableName = tables.tenantTable }: { ceilingShares?: number; tableName?: string } = {}) {
  const client = localDynamoDbClient(tables.endpoint);
  extraClients.push(client);
  const conflicts = modelTransactionConflicts(client);
  const modelled = new DynamoDbTenantStore({
    tableName,
    client: documentClientFor(client),
    ...(ceilingShares ? { ceilingShares } : {}),
  });
  return { store: modelled, ...conflicts };
}

function rejectionsOf(results: PromiseSettledResult<unknown>[]): unknown[] {
  return results.flatMap((result) => (result.status === 'rejected' ? [result.reason] : []));
}

// Embedded mode's store keeps records in memory in front of the same table: it must behave alike.
describe.each([
  ['DynamoDbTenantStore', DynamoDbTenantStore],
  ['CachedTenantStore (embedded mode)', CachedTenantStore],
])('%s', (_name, Store) => {
  beforeEach(() => {
    store = new Store({ tableName: tables.tenantTable, client: tables.documentClient });
  });

  describe('create and get', () => {
    it('stores a new tenant at version 1 and reads back exactly the tenant, without storage attributes', async () => {
      // Prepare
      const acme = tenant('acme');

      // Act
      const created = await store.create(acme, ROOMY);
      const read = await store.get('acme');

      // Assess
      expect(created).toEqual({ ...acme, version: 1 });
      expect(read).toEqual(created);
      expect(Object.keys(read ?? {}).sort()).toEqual(Object.keys(acme).sort());
      expect(await store.countLiveTenants()).toBe(1);
    });

    it('reads nothing for a tenant that does not exist', async () => {
      expect(await store.get('nobody')).toBeUndefined();
    });

    it('counts no live tenants in an empty table', async () => {
      expect(await store.countLiveTenants()).toBe(0);
    });
  });

  describe('create refusals', () => {
    it('refuses a taken slug and leaves no email claim and no extra slot behind', async () => {
      // Prepare
      await store.create(tenant('acme', { email: 'first@example.com' }), ROOMY);

      // Act
      const attempt = store.create(tenant('acme', { email: 'second@example.com' }), ROOMY);

      // Assess
      await expect(attempt).rejects.toBeInstanceOf(SlugTakenError);
      await expect(attempt).rejects.toHaveProperty('cause');
      expect(await emailClaims()).toEqual(['acme']);
      expect(await store.countLiveTenants()).toBe(1);
      expect((await store.get('acme'))?.email).toBe('first@example.com');
    });

    it('reports a taken slug before a claimed email when both collide', async () => {
      await store.create(tenant('acme'), ROOMY);

      await expect(store.create(tenant('acme'), ROOMY)).rejects.toBeInstanceOf(SlugTakenError);
    });

    it('refuses an email that already has a live trial, whatever its case and surrounding spaces', async () => {
      // Prepare
      await store.create(tenant('acme', { email: 'Jane@Example.com' }), ROOMY);

      // Act
      const attempt = store.create(tenant('globex', { email: '  jane@EXAMPLE.COM ' }), ROOMY);

      // Assess
      await expect(attempt).rejects.toBeInstanceOf(EmailInUseError);
      expect(await store.get('globex')).toBeUndefined();
      expect(await store.countLiveTenants()).toBe(1);
    });

    it('refuses a tenant over the ceiling and writes nothing for it', async () => {
      // Prepare
      await store.create(tenant('one'), { maxTenants: 2 });
      await store.create(tenant('two'), { maxTenants: 2 });

      // Act
      const attempt = store.create(tenant('three'), { maxTenants: 2 });

      // Assess
      await expect(attempt).rejects.toBeInstanceOf(TenantCeilingError);
      await expect(attempt).rejects.toMatchObject({ ceiling: 2 });
      expect(await store.get('three')).toBeUndefined();
      expect(await emailClaims()).toEqual(expect.arrayContaining(['one', 'two']));
      expect(await emailClaims()).toHaveLength(2);
      expect(await store.countLiveTenants()).toBe(2);
    });
  });

  describe('concurrent creates', () => {
    it('lets exactly one of ten creates of the same slug win; the others learn the slug is taken', async () => {
      // Act
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => store.create(tenant('acme', { email: `user${i}@example.com` }), ROOMY)),
      );

      // Assess
      expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
      const rejections = rejectionsOf(results);
      expect(rejections).toHaveLength(9);
      for (const reason of rejections) expect(reason).toBeInstanceOf(SlugTakenError);
      expect(await emailClaims()).toHaveLength(1);
      expect(await store.countLiveTenants()).toBe(1);
    });

    it('lets exactly one of ten signups with the same email win; the others learn the email is in use', async () => {
      // Act
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => store.create(tenant(`acme-${i}`, { email: 'jane@example.com' }), ROOMY)),
      );

      // Assess
      const winners = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
      expect(winners).toHaveLength(1);
      const rejections = rejectionsOf(results);
      expect(rejections).toHaveLength(9);
      for (const reason of rejections) expect(reason).toBeInstanceOf(EmailInUseError);
      expect(await store.countLiveTenants()).toBe(1);
      expect((await listAll({ limit: 100 })).ids).toEqual([winners[0]?.id]);
    });
  });

  describe('save', () => {
    it('writes the next version when the stored version is the one read', async () => {
      // Prepare
      const created = await store.create(tenant('acme'), ROOMY);

      // Act
      const saved = await store.save(withDesired(created, 'passivated'));

      // Assess
      expect(saved.version).toBe(2);
      expect(await store.get('acme')).toEqual(saved);
    });

    it("lets exactly one of two writers from the same read win and keeps the winner's record", async () => {
      // Prepare
      const read = await store.create(tenant('acme'), ROOMY);

      // Act
      const results = await Promise.allSettled([store.save(withDesired(read, 'passivated')), store.save(withDesired(read, 'deleted'))]);

      // Assess
      const winners = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
      const rejections = rejectionsOf(results);
      expect(winners).toHaveLength(1);
      expect(rejections).toHaveLength(1);
      expect(rejections[0]).toBeInstanceOf(VersionConflictError);
      expect(rejections[0]).toMatchObject({ tenantId: 'acme', expectedVersion: 1 });
      expect(await store.get('acme')).toEqual(winners[0]);
    });

    it('refuses a write from a stale read', async () => {
      // Prepare
      const stale = await store.create(tenant('acme'), ROOMY);
      await store.save({ ...stale, lastActiveAt: '2025-06-02T00:00:00.000Z' });

      // Act
      const attempt = store.save(withDesired(stale, 'passivated'));

      // Assess
      await expect(attempt).rejects.toBeInstanceOf(VersionConflictError);
      await expect(attempt).rejects.toHaveProperty('cause');
      expect((await store.get('acme'))?.spec.desired).toBe('running');
    });

    it('refuses to save a tenant that was never created', async () => {
      await expect(store.save(tenant('ghost'))).rejects.toBeInstanceOf(VersionConflictError);
      expect(await store.get('ghost')).toBeUndefined();
    });
  });

  describe('releasing claims on delete', () => {
    it('frees the place under the ceiling at once, but keeps the email claimed until the trial period would have ended', async () => {
      // Prepare
      const limits = { maxTenants: 1 };
      const acme = await store.create(tenant('acme', { email: 'jane@example.com' }), limits);

      // Act
      await store.save(withDesired(acme, 'deleted'), { releaseClaims: true });

      // Assess
      expect(await store.countLiveTenants()).toBe(0);
      await expect(store.create(tenant('globex', { email: 'JANE+again@example.com' }), limits)).rejects.toBeInstanceOf(EmailInUseError);
      await expect(store.create(tenant('initech', { email: 'other@example.com' }), limits)).resolves.toMatchObject({ id: 'initech' });
      expect(await store.countLiveTenants()).toBe(1);
      const afterTrial = new Date(Date.parse(acme.trialEndsAt!) + 1000);
      await expect(store.create(tenant('umbrella', { email: 'jane@example.com', now: afterTrial }), ROOMY)).resolves.toMatchObject({
        id: 'umbrella',
      });
    });

    it('releases nothing when the version is stale', async () => {
      // Prepare
      const stale = await store.create(tenant('acme'), ROOMY);
      await store.save(stale);

      // Act
      const attempt = store.save(withDesired(stale, 'deleted'), { releaseClaims: true });

      // Assess
      await expect(attempt).rejects.toBeInstanceOf(VersionConflictError);
      expect(await emailClaims()).toEqual(['acme']);
      expect(await store.countLiveTenants()).toBe(1);
      expect((await store.get('acme'))?.spec.desired).toBe('running');
    });
  });

  describe('the active index', () => {
    it('holds tenants that are running and not those at rest, and drops a tenant when it is passivated', async () => {
      // Prepare
      const running = await store.create(tenant('running', { phase: 'Running' }), ROOMY);
      const asleep = await store.create(tenant('asleep', { phase: 'Passivated' }), ROOMY);
      const before = await activeIds();
      // A sleeping tenant asked to wake is back in the index, so a lost event cannot strand it.
      await store.save({ ...asleep, spec: { ...asleep.spec, desired: 'running' } });
      expect((await activeIds()).sort()).toEqual(['asleep', 'running']);
      await store.save({ ...(await store.get('asleep'))!, spec: { ...asleep.spec, desired: 'passivated' } });

      // Act
      await store.save({
        ...running,
        spec: { ...running.spec, desired: 'passivated' },
        status: { ...running.status, phase: 'Passivated' },
      });

      // Assess
      expect(before).toEqual(['running']);
      expect(await activeIds()).toEqual([]);
    });
  });

  describe('list', () => {
    async function createTenants(): Promise<void> {
      // Seven pending tenants a minute apart, plus two in other phases the phase filter must skip.
      for (let i = 0; i < 7; i++) {
        await store.create(tenant(`pending-${i}`, { now: new Date(NOW.getTime() + i * 60_000) }), ROOMY);
      }
      await store.create(tenant('running', { phase: 'Running' }), ROOMY);
      await store.create(tenant('asleep', { phase: 'Passivated' }), ROOMY);
    }

    it('pages through one phase, newest first, each tenant exactly once', async () => {
      // Prepare
      await createTenants();

      // Act
      const { ids, pageSizes } = await listAll({ phase: 'Pending', limit: 3 });

      // Assess
      expect(ids).toEqual(['pending-6', 'pending-5', 'pending-4', 'pending-3', 'pending-2', 'pending-1', 'pending-0']);
      expect(pageSizes).toEqual([3, 3, 1]);
    });

    it('pages through every tenant with full pages until the last, each tenant exactly once', async () => {
      // Prepare
      await createTenants();

      // Act
      const { ids, pageSizes } = await listAll({ limit: 3 });

      // Assess
      expect([...ids].sort()).toEqual([
        'asleep',
        'pending-0',
        'pending-1',
        'pending-2',
        'pending-3',
        'pending-4',
        'pending-5',
        'pending-6',
        'running',
      ]);
      expect(pageSizes.slice(0, -1).every((size) => size === 3)).toBe(true);
      expect(pageSizes.at(-1)).toBeLessThanOrEqual(3);
    });

    it('returns clean tenants without storage attributes', async () => {
      await createTenants();

      const { items } = await store.list({ phase: 'Running', limit: 10 });

      expect(items).toEqual([{ ...tenant('running', { phase: 'Running' }), version: 1 }]);
    });

    const garbage = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    it.each([
      ['not base64 JSON at all', 'not a cursor!'],
      ['a JSON array', garbage(['tenant#acme'])],
      ['a key with a number in it', garbage({ pk: 1 })],
      ['a key with unexpected attributes', garbage({ pk: 'tenant#acme', extra: 'x' })],
    ])('refuses a cursor that is %s', async (_, cursor) => {
      await createTenants();

      await expect(store.list({ limit: 3, cursor })).rejects.toBeInstanceOf(ValidationError);
      await expect(store.list({ phase: 'Pending', limit: 3, cursor })).rejects.toBeInstanceOf(ValidationError);
    });

    it('refuses a cursor from one kind of listing in another', async () => {
      // Prepare
      await createTenants();
      const phaseCursor = (await store.list({ phase: 'Pending', limit: 3 })).cursor;
      const scanCursor = (await store.list({ limit: 3 })).cursor;

      // Act + Assess
      expect(phaseCursor).toBeDefined();
      expect(scanCursor).toBeDefined();
      await expect(store.list({ limit: 3, cursor: phaseCursor })).rejects.toBeInstanceOf(ValidationError);
      await expect(store.list({ phase: 'Pending', limit: 3, cursor: scanCursor })).rejects.toBeInstanceOf(ValidationError);
      await expect(store.list({ phase: 'Running', limit: 3, cursor: phaseCursor })).rejects.toBeInstanceOf(ValidationError);
    });
  });

  describe('the one-trial-per-email rule', () => {
    it.each([
      ['ann+1@example.com', 'ann@example.com'],
      ['ANN@example.com', 'ann@example.com'],
      ['a.n.n+x@googlemail.com', 'ann@gmail.com'],
    ])('refuses %s while %s holds a trial', async (second, first) => {
      await store.create(tenant('first', { email: first }), ROOMY);

      await expect(store.create(tenant('second', { email: second }), ROOMY)).rejects.toBeInstanceOf(EmailInUseError);
    });
  });

  describe('unconfirmed signups (PendingVerification)', () => {
    it("hold the slug and the email but no place under the ceiling, and stay out of the sweep's indexes", async () => {
      await store.create(pending('acme'), { maxTenants: 1 });

      expect(await store.countLiveTenants()).toBe(0);
      expect(await activeIds()).toEqual([]);
      expect((await store.listTrialsEndingBefore('9999', { limit: 10 })).items).toEqual([]);
      await expect(store.create(tenant('acme'), ROOMY)).rejects.toBeInstanceOf(SlugTakenError);
      await expect(store.create(tenant('other', { email: 'acme@example.com' }), ROOMY)).rejects.toBeInstanceOf(EmailInUseError);
    });

    it('give their slug and email to a new signup once expired, even before TTL has removed them', async () => {
      await store.create(pending('acme'), ROOMY);
      const dayLater = new Date(NOW.getTime() + 24 * 3_600_000 + 1000);

      const taken = await store.create(tenant('acme', { email: 'acme@example.com', now: dayLater }), ROOMY);

      expect(taken.status.phase).toBe('Pending');
      expect((await store.get('acme'))?.createdAt).toBe(dayLater.toISOString());
      expect(await store.countLiveTenants()).toBe(1);
    });

    it('take their place under the ceiling when confirmed, and are refused when none is left', async () => {
      const limits = { maxTenants: 1 };
      const one = await store.create(pending('one'), limits);
      const two = await store.create(pending('two'), limits);

      await store.save(verified(one, NOW, 14), { admit: limits });
      const refused = store.save(verified(two, NOW, 14), { admit: limits });

      await expect(refused).rejects.toBeInstanceOf(TenantCeilingError);
      expect(await store.countLiveTenants()).toBe(1);
      expect((await store.get('one'))?.status.phase).toBe('Pending');
      expect((await store.get('two'))?.status.phase).toBe('PendingVerification');
      // Confirmed, the claim no longer expires: a later signup with that address is still refused.
      const later = new Date(NOW.getTime() + 2 * 86_400_000);
      await expect(store.create(tenant('three', { email: 'one@example.com', now: later }), ROOMY)).rejects.toBeInstanceOf(EmailInUseError);
    });

    it('can be taken back with their email claim', async () => {
      const acme = await store.create(pending('acme'), ROOMY);

      await store.discardPending(acme);

      expect(await store.get('acme')).toBeUndefined();
      expect(await emailClaims()).toEqual([]);
    });
  });

  describe('routing slots per shard', () => {
    const claim = (shard?: number) => ({
      routingSlot: { claim: true as const, maxActiveTenants: 2, ...(shard === undefined ? {} : { shard }) },
    });
    const holding = async (slug: string, shard?: number) => {
      const created = await store.create(tenant(slug), ROOMY);
      return store.save({ ...created, status: { ...created.status, slot: true } }, claim(shard));
    };

    it('counts each shard on its own, up to its own limit, and reads every count in one call', async () => {
      // Prepare: shard 1 full, shard 0 with one slot taken.
      await holding('one', 1);
      await holding('two', 1);
      await holding('zero', 0);

      // Act
      const refused = holding('three', 1);

      // Assess
      await expect(refused).rejects.toThrow(SlotsFullError);
      expect(await store.routingSlotsByShard(3)).toEqual([1, 2, 0]);
      expect(await store.countRoutingSlots(1)).toBe(2);
      expect(await store.countRoutingSlots()).toBe(1);
    });

    it('gives a slot back to the shard it was taken from', async () => {
      const held = await holding('acme', 2);

      await store.save({ ...held, status: { ...held.status, slot: false } }, { routingSlot: { claim: false, shard: 2 } });

      expect(await store.routingSlotsByShard(3)).toEqual([0, 0, 0]);
    });

    it('keeps counting on the counter of the single load balancer from before shards as shard 0', async () => {
      // Prepare: a slot taken before shards existed (no shard named).
      await holding('legacy');

      const counter = await tables.documentClient.send(
        new QueryCommand({
          TableName: tables.tenantTable,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': 'counter#routing' },
        }),
      );

      expect(counter.Items).toEqual([expect.objectContaining({ activeCount: 1 })]);
      expect(await store.routingSlotsByShard(2)).toEqual([1, 0]);
    });
  });
});

// Transaction retries and the tenant ceiling's counter items are the DynamoDB store's own: the
// cached store passes them through untouched, so they run once, on the plain store.
describe('DynamoDbTenantStore: transactions and the tenant ceiling', () => {
  beforeEach(() => {
    store = new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient });
  });

  describe('transaction conflicts', () => {
    it('retries a create that collided with another transaction', async () => {
      // Prepare
      const { store: colliding, attempts } = storeWithTransactionConflicts(2);

      // Act
      const created = await colliding.create(tenant('acme'), ROOMY);

      // Assess
      expect(attempts()).toBe(3);
      expect(await store.get('acme')).toEqual(created);
      expect(await store.countLiveTenants()).toBe(1);
    });

    it('gives up after a few collisions and reports the cancellation as it is, with nothing written', async () => {
      // Prepare
      const { store: colliding, attempts } = storeWithTransactionConflicts(Infinity);

      // Act
      const attempt = colliding.create(tenant('acme'), ROOMY);

      // Assess
      await expect(attempt).rejects.toBeInstanceOf(TransactionCanceledException);
      expect(attempts()).toBeGreaterThan(1);
      expect(attempts()).toBeLessThanOrEqual(10);
      expect((await allItems()).filter((item) => item.pk !== keys.tenantCounter)).toEqual([]);
      expect(await store.countLiveTenants()).toBe(0);
    });

    it('retries a release of claims that collided with another transaction', async () => {
      // Prepare
      const acme = await store.create(tenant('acme'), ROOMY);
      const { store: colliding, attempts } = storeWithTransactionConflicts(1);

      // Act
      await colliding.save(withDesired(acme, 'deleted'), { releaseClaims: true });

      // Assess
      expect(attempts()).toBe(2);
      expect(await store.countLiveTenants()).toBe(0);
      expect((await store.get('acme'))?.spec.desired).toBe('deleted');
    });
  });

  describe('the ceiling, split over counter items', () => {
    it('admits exactly the ceiling from a burst of 300 concurrent signups, no item over its share', async () => {
      // Act
      const { admitted, rejections, ceilingRefusals } = await burst(store, 300, 137);

      // Assess
      expect(admitted).toBe(137);
      expect(ceilingRefusals).toBe(163);
      expect(rejections).toHaveLength(163);
      expect(await store.countLiveTenants()).toBe(137);
      const counts = await shareCounts();
      counts.forEach((count, index) => expect(count).toBe(shareOf(index, CEILING_SHARES, 137)));
    });

    it('stays exact when transactions conflict as on DynamoDB, and retries the conflicts away', async () => {
      // Prepare
      const { store: modelled, conflicts } = storeWithConflictModel();

      // Act
      const { admitted, rejections, ceilingRefusals } = await burst(modelled, 150, 60);

      // Assess
      expect(admitted).toBe(60);
      expect(ceilingRefusals).toBe(90);
      expect(rejections).toHaveLength(90);
      expect(await store.countLiveTenants()).toBe(60);
      expect(conflicts()).toBeGreaterThan(0);
    });

    it('spreads a burst over the items: where one item turns it into failed signups, none fail', async () => {
      // Prepare: the same burst on two tables, one counting on a single item as before the split.
      const other = await createTestTables();
      const single = storeWithConflictModel({ ceilingShares: 1, tableName: other.tenantTable });
      const split = storeWithConflictModel();

      try {
        // Act
        const onOne = await burst(single.store, 100, ROOMY.maxTenants);
        const onSplit = await burst(split.store, 100, ROOMY.maxTenants);

        // Assess
        expect(onSplit.admitted).toBe(100);
        expect(onOne.rejections.length).toBeGreaterThan(0);
        expect(onOne.rejections.every((error) => error instanceof TransactionCanceledException)).toBe(true);
        // Fewer conflicts too; by how much depends on the machine's timing, so only the direction is held.
        expect(split.conflicts()).toBeLessThan(single.conflicts());
      } finally {
        await other.client.send(new DeleteTableCommand({ TableName: other.tenantTable }));
        await other.client.send(new DeleteTableCommand({ TableName: other.idempotencyTable }));
        other.client.destroy();
      }
    });

    it('tries the other items when the random one is full, and refuses only when all are', async () => {
      // Prepare: a ceiling of CEILING_SHARES gives every item one place.
      const limits = { maxTenants: CEILING_SHARES };
      for (let index = 0; index < CEILING_SHARES - 1; index++) await store.create(tenant(`t-${index}`), limits);

      // Act
      const last = await store.create(tenant('last'), limits);
      const refused = store.create(tenant('refused'), limits);

      // Assess
      expect(last.id).toBe('last');
      await expect(refused).rejects.toBeInstanceOf(TenantCeilingError);
      await expect(refused).rejects.toMatchObject({ ceiling: CEILING_SHARES });
      expect(await shareCounts()).toEqual(Array.from({ length: CEILING_SHARES }, () => 1));
    });

    it("gives a deleted tenant's place back to the item that counted it", async () => {
      // Prepare: every item full.
      const limits = { maxTenants: 2 * CEILING_SHARES };
      const created = [];
      for (let index = 0; index < 2 * CEILING_SHARES; index++) created.push(await store.create(tenant(`t-${index}`), limits));
      const leaving = created[7]!;
      const item = await shareOfTenant(leaving.email);

      // Act
      await store.save(withDesired(leaving, 'deleted'), { releaseClaims: true });
      const before = await shareCounts();
      const next = await store.create(tenant('next'), limits);

      // Assess
      expect(typeof item).toBe('number');
      expect(before[item as number]).toBe(1);
      expect(before.filter((count) => count === 2)).toHaveLength(CEILING_SHARES - 1);
      expect(await shareOfTenant(next.email)).toBe(item);
      expect(await store.countLiveTenants()).toBe(2 * CEILING_SHARES);
    });

    it('counts a confirmed signup in an item, and gives that place back when it is deleted', async () => {
      // Prepare
      const created = await store.create(pending('acme'), ROOMY);

      // Act
      const admitted = await store.save(verified(created, NOW, 14), { admit: ROOMY });
      const item = await shareOfTenant('acme@example.com');
      const counted = await shareCounts();
      await store.save(withDesired(admitted, 'deleted'), { releaseClaims: true });

      // Assess
      expect(counted[item as number]).toBe(1);
      expect(await shareCounts()).toEqual(Array.from({ length: CEILING_SHARES }, () => 0));
      expect(await store.countLiveTenants()).toBe(0);
    });

    it('gives back nothing for a signup deleted before it was confirmed', async () => {
      // Prepare
      await store.create(tenant('acme'), ROOMY);
      const created = await store.create(pending('beta'), ROOMY);

      // Act
      await store.save(withDesired(created, 'deleted'), { releaseClaims: true });

      // Assess
      expect(await store.countLiveTenants()).toBe(1);
    });
  });

  describe('upgrading a table counted on one item', () => {
    /** Tenants and their count as the single-item version left them. */
    async function legacyTable(count: number): Promise<Tenant[]> {
      const legacy = Array.from({ length: count }, (_, index) => ({ ...tenant(`old-${index}`), version: 1 }));
      for (const old of legacy) {
        await tables.documentClient.send(new PutCommand({ TableName: tables.tenantTable, Item: tenantItem(old) }));
        await tables.documentClient.send(
          new PutCommand({
            TableName: tables.tenantTable,
            Item: { pk: keys.email(emailHash(old.email)), kind: 'emailClaim', tenantId: old.id },
          }),
        );
      }
      await tables.documentClient.send(
        new PutCommand({ TableName: tables.tenantTable, Item: { pk: keys.tenantCounter, liveCount: count } }),
      );
      return legacy;
    }

    /** A signup as the previous version wrote it: its place taken in the single item. */
    const previousVersionSignup = (slug: string, maxTenants: number) =>
      tables.documentClient.send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: { TableName: tables.tenantTable, Item: tenantItem({ ...tenant(slug), version: 1 }) } },
            {
              Update: {
                TableName: tables.tenantTable,
                Key: { pk: keys.tenantCounter },
                UpdateExpression: 'ADD #count :one',
                ConditionExpression: 'attribute_not_exists(#count) OR #count < :below',
                ExpressionAttributeNames: { '#count': 'liveCount' },
                ExpressionAttributeValues: { ':one': 1, ':below': maxTenants },
              },
            },
          ],
        }),
      );

    it('admits only the places the tenants counted before have left, and exactly those', async () => {
      // Prepare
      await legacyTable(25);

      // Act
      const { admitted, ceilingRefusals } = await burst(store, 100, 60);

      // Assess
      expect(admitted).toBe(35);
      expect(ceilingRefusals).toBe(65);
      expect(await store.countLiveTenants()).toBe(60);
    });

    it('gives a place back when a tenant counted before goes, and counts it down in the old item', async () => {
      // Prepare
      const legacy = await legacyTable(5);
      await burst(store, 10, 10);

      // Act
      await store.save(withDesired(legacy[0]!, 'deleted'), { releaseClaims: true });
      const fresh = new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient });
      const again = await burst(fresh, 3, 10, 'again');

      // Assess
      expect(again.admitted).toBe(1);
      expect(await store.countLiveTenants()).toBe(10);
      const { Item } = await tables.documentClient.send(new GetCommand({ TableName: tables.tenantTable, Key: { pk: keys.tenantCounter } }));
      expect(Item?.liveCount).toBe(LEGACY_FROZEN_OFFSET + 4);
    });

    it('refuses a signup of the previous version still running once this version has signed one up', async () => {
      // Prepare
      await legacyTable(2);
      await store.create(tenant('new'), { maxTenants: 10 });

      // Act
      const attempt = previousVersionSignup('old-code', 10);

      // Assess
      await expect(attempt).rejects.toBeInstanceOf(TransactionCanceledException);
      expect(await store.countLiveTenants()).toBe(3);
    });
  });
});
