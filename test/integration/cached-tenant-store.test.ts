import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { documentClientFor, DynamoDbTenantStore } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { keys } from '../../shared/adapters/aws/tenant-table.js';
import { CachedTenantStore } from '../../shared/adapters/local/cached-tenant-store.js';
import { VersionConflictError } from '../../shared/domain/errors.js';
import { newTenant, type Tenant } from '../../shared/domain/tenant.js';
import { createTestTables, type TestTables } from '../support/dynamodb.js';

const ROOMY = { maxTenants: 1_000 };

function tenant(slug: string, { verificationCodeHash, now = new Date() }: { verificationCodeHash?: string; now?: Date } = {}): Tenant {
  return newTenant({
    slug,
    email: `${slug}@example.com`,
    plan: 'trial',
    tokenHash: `hash-of-${slug}`,
    now,
    trialDays: 14,
    ...(verificationCodeHash ? { verificationCodeHash } : {}),
  });
}

const running = (record: Tenant): Tenant => ({ ...record, status: { ...record.status, phase: 'Running' } });
const touched = (record: Tenant): Tenant => ({ ...record, lastActiveAt: new Date().toISOString() });

/**
 * The document client the cached store talks through, with a count of the tenant reads it sends,
 * gates that hold a read's or a write's answer back after DynamoDB Local has acted on it, and one
 * that holds writes back before they are sent.
 */
function instrumented(client: DynamoDBDocumentClient) {
  const send = client.send.bind(client);
  const held = {
    gets: undefined as Promise<void> | undefined,
    puts: undefined as Promise<void> | undefined,
    writesBeforeSending: undefined as Promise<void> | undefined,
  };
  const counts = { gets: 0, writesWaiting: 0 };
  const failNextPutAfterItApplied = { on: false };
  client.send = (async (command: unknown) => {
    if ((command instanceof PutCommand || command instanceof TransactWriteCommand) && held.writesBeforeSending) {
      counts.writesWaiting++;
      await held.writesBeforeSending;
    }
    const answer = await send(command as never);
    if (command instanceof GetCommand && String(command.input.Key?.pk).startsWith('tenant#')) {
      counts.gets++;
      if (held.gets) await held.gets;
    }
    if (command instanceof PutCommand) {
      if (held.puts) await held.puts;
      if (failNextPutAfterItApplied.on) {
        failNextPutAfterItApplied.on = false;
        throw new Error('socket hang up');
      }
    }
    return answer;
  }) as typeof client.send;
  return { counts, held, failNextPutAfterItApplied };
}

function gate(): { opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

let tables: TestTables;
let cached: CachedTenantStore;
let direct: DynamoDbTenantStore;
let wire: ReturnType<typeof instrumented>;

beforeEach(async () => {
  tables = await createTestTables();
  const client = documentClientFor(tables.client);
  wire = instrumented(client);
  cached = new CachedTenantStore({ tableName: tables.tenantTable, client, maxRecords: 3 });
  direct = new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient });
});

afterEach(async () => {
  await tables.client.send(new DeleteTableCommand({ TableName: tables.tenantTable }));
  await tables.client.send(new DeleteTableCommand({ TableName: tables.idempotencyTable }));
  tables.client.destroy();
});

describe('CachedTenantStore', () => {
  it('answers a record it wrote or read without asking DynamoDB Local again, equal to what the table holds', async () => {
    const created = await cached.create(tenant('acme'), ROOMY);
    await cached.save(running(created));
    expect(await cached.get('acme')).toEqual(await direct.get('acme'));
    await cached.get('acme');
    expect(wire.counts.gets).toBe(0);

    await direct.create(tenant('beta'), ROOMY);
    expect(await cached.get('beta')).toEqual(await direct.get('beta'));
    expect(await cached.get('beta')).toEqual(await direct.get('beta'));
    expect(wire.counts.gets).toBe(1);
  });

  it('gives every caller its own copy', async () => {
    await cached.create(tenant('acme'), ROOMY);
    const first = (await cached.get('acme'))!;
    first.status.phase = 'Failed';
    expect((await cached.get('acme'))!.status.phase).toBe('Pending');

    // One read from DynamoDB Local, kept: changing what that read returned changes nothing kept.
    await direct.create(tenant('beta'), ROOMY);
    const fromTable = (await cached.get('beta'))!;
    fromTable.status.phase = 'Failed';
    expect((await cached.get('beta'))!.status.phase).toBe('Pending');
    expect(wire.counts.gets).toBe(1);
  });

  it('does not keep what a read saw when a write of the same tenant ended while the read was out', async () => {
    const created = await direct.create(tenant('acme'), ROOMY); // version 1, not in the cache
    const held = gate();
    wire.held.gets = held.opened;
    const reading = cached.get('acme'); // DynamoDB Local answers version 1; the answer is held
    await until(() => wire.counts.gets === 1);
    wire.held.gets = undefined;
    await cached.save(running(created)); // version 2, written while the read is out
    held.open();
    expect((await reading)!.version).toBe(1);
    expect(await cached.get('acme')).toMatchObject({ version: 2, status: { phase: 'Running' } });
  });

  it('does not keep what a read saw while a write of the same tenant was out, before it was applied', async () => {
    const created = await direct.create(tenant('acme'), ROOMY); // version 1, not in the cache
    const held = gate();
    wire.held.writesBeforeSending = held.opened;
    wire.failNextPutAfterItApplied.on = true;
    const saving = cached.save(running(created)); // not sent yet; once applied, its answer is lost
    await until(() => wire.counts.writesWaiting === 1);
    expect((await cached.get('acme'))!.version).toBe(1); // read while the write is out
    wire.held.writesBeforeSending = undefined;
    held.open();
    await expect(saving).rejects.toThrow('socket hang up');
    expect(await cached.get('acme')).toMatchObject({ version: 2, status: { phase: 'Running' } });
  });

  it('does not keep a signup read while its discarding was out', async () => {
    const pending = await direct.create(tenant('acme', { verificationCodeHash: 'code' }), ROOMY);
    const held = gate();
    wire.held.writesBeforeSending = held.opened;
    const discarding = cached.discardPending(pending);
    await until(() => wire.counts.writesWaiting === 1);
    expect(await cached.get('acme')).toBeDefined();
    wire.held.writesBeforeSending = undefined;
    held.open();
    await discarding;
    expect(await cached.get('acme')).toBeUndefined();
  });

  it('keeps a written record exactly as a read of the table returns it', async () => {
    const created = await cached.create(tenant('acme'), ROOMY);
    const written = await cached.save({ ...running(created), lease: undefined, status: { ...running(created).status, task: undefined } });
    expect(Object.keys(written)).toContain('lease');
    expect(await cached.get('acme')).toStrictEqual(await direct.get('acme'));
    expect(wire.counts.gets).toBe(0);
  });

  it('keeps neither of two overlapping writes, whichever answers last', async () => {
    await cached.create(tenant('acme'), ROOMY); // version 1
    const held = gate();
    wire.held.puts = held.opened;
    const first = cached.save(running((await direct.get('acme'))!)); // applied as version 2; its answer is held
    await until(async () => (await direct.get('acme'))!.version === 2);
    wire.held.puts = undefined;
    const second = await cached.save(touched((await direct.get('acme'))!)); // version 3, answered first
    expect(second.version).toBe(3);
    held.open();
    expect((await first).version).toBe(2);
    expect(await cached.get('acme')).toMatchObject({ version: 3 });
  });

  it('reads again after a write that failed, or that may have been applied before its answer was lost', async () => {
    const created = await cached.create(tenant('acme'), ROOMY);
    wire.failNextPutAfterItApplied.on = true;
    await expect(cached.save(running(created))).rejects.toThrow('socket hang up');
    expect(await cached.get('acme')).toMatchObject({ version: 2, status: { phase: 'Running' } });

    // A stale write is refused by its condition, and what the table holds is read afresh.
    await expect(cached.save(touched(created))).rejects.toBeInstanceOf(VersionConflictError);
    expect(await cached.get('acme')).toMatchObject({ version: 2, status: { phase: 'Running' } });
  });

  it('reads a record past its expiry again, as DynamoDB may have removed it', async () => {
    const pending = tenant('acme', { verificationCodeHash: 'code', now: new Date(Date.now() - 2 * 24 * 3600_000) });
    await cached.create(pending, ROOMY);
    await tables.documentClient.send(new DeleteCommand({ TableName: tables.tenantTable, Key: { pk: keys.tenant('acme') } }));
    expect(await cached.get('acme')).toBeUndefined();
  });

  it('forgets a discarded signup and keeps no more than maxRecords', async () => {
    const pending = await cached.create(tenant('gone', { verificationCodeHash: 'code' }), ROOMY);
    await cached.discardPending(pending);
    expect(await cached.get('gone')).toBeUndefined();

    for (const slug of ['a', 'b', 'c', 'd']) await cached.create(tenant(slug), ROOMY);
    const before = wire.counts.gets;
    await cached.get('d');
    await cached.get('b');
    expect(wire.counts.gets).toBe(before);
    await cached.get('a'); // the least recently used, dropped past 3
    expect(wire.counts.gets).toBe(before + 1);
  });
});

async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
