import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { freePort, localDynamoDbClient } from '../../shared/adapters/local/dynamodb-local.js';
import { storeHealth } from '../../shared/adapters/local/store-health.js';
import { createTestTables } from '../support/dynamodb.js';

describe('store health (embedded mode)', () => {
  it('reports nothing down while DynamoDB Local describes the tenant table', async () => {
    const tables = await createTestTables();
    const health = storeHealth({ client: tables.client, tableName: tables.tenantTable });
    expect(await health()).toEqual([]);
  });

  it('reports the store down within its timeout when nothing answers', async () => {
    const client = localDynamoDbClient(`http://127.0.0.1:${await freePort()}`);
    const health = storeHealth({ client, tableName: 'dormouse-tenants', timeoutMs: 500 });
    const started = Date.now();
    expect(await health()).toEqual(['store']);
    expect(Date.now() - started).toBeLessThan(1_500);
    client.destroy();
  });

  it('asks the store at most once per second however often it is polled', async () => {
    const tables = await createTestTables();
    let now = 0;
    const sent: unknown[] = [];
    const send = tables.client.send.bind(tables.client);
    tables.client.send = ((command: DescribeTableCommand, options: unknown) => {
      sent.push(command);
      return send(command, options as never);
    }) as typeof tables.client.send;
    const health = storeHealth({ client: tables.client, tableName: tables.tenantTable, now: () => now });

    await Promise.all(Array.from({ length: 20 }, () => health()));
    now = 999;
    await health();
    expect(sent).toHaveLength(1);
    now = 1_000;
    await health();
    expect(sent).toHaveLength(2);
  });
});
