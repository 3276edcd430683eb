import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient, ExpiredIteratorException, GetRecordsCommand } from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../shared/adapters/local/dynamodb-local.js';
import { pollStream, type StreamPoller } from '../../shared/adapters/local/stream-poller.js';
import { createTestTables, type TestTables } from '../support/dynamodb.js';
import { waitFor } from '../support/local.js';

const keysOf = (records: DynamoDBRecord[]) => records.map((record) => record.dynamodb?.Keys?.pk?.S);

describe('stream poller (DynamoDB Local)', () => {
  let poller: StreamPoller | undefined;
  afterEach(async () => {
    await poller?.stop();
    poller = undefined;
  });

  async function start(tables: TestTables, extra: { streamsClient?: DynamoDBStreamsClient; onError?: (error: unknown) => void } = {}) {
    const delivered: DynamoDBRecord[] = [];
    poller = await pollStream({
      dynamoClient: tables.client,
      endpoint: tables.endpoint,
      tableName: tables.tenantTable,
      onRecords: async (records) => {
        delivered.push(...records);
      },
      intervalMs: 50,
      ...extra,
    });
    return delivered;
  }
  const put = (tables: TestTables, table: string, key: Record<string, string>) =>
    tables.client.send(
      new PutItemCommand({ TableName: table, Item: Object.fromEntries(Object.entries(key).map(([k, v]) => [k, { S: v }])) }),
    );

  it('delivers the first record even when another table was written first (as a signup with an Idempotency-Key does)', async () => {
    const tables = await createTestTables();
    const errors: unknown[] = [];
    const delivered = await start(tables, { onError: (error) => errors.push(error) });

    await put(tables, tables.idempotencyTable, { id: 'key-0123456789abcdef' });
    await put(tables, tables.tenantTable, { pk: 'tenant#first' });
    await put(tables, tables.tenantTable, { pk: 'tenant#second' });

    await waitFor('both records', () => delivered.length >= 2, 5_000);
    expect(keysOf(delivered)).toEqual(['tenant#first', 'tenant#second']);
    expect(errors).toEqual([]);
  });

  it('resumes after an expired iterator just past the last record it delivered, repeating nothing', async () => {
    const tables = await createTestTables();
    const streamsClient = new DynamoDBStreamsClient({ endpoint: tables.endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
    const delivered = await start(tables, { streamsClient });
    await put(tables, tables.tenantTable, { pk: 'tenant#before' });
    await waitFor('the first record', () => delivered.length >= 1, 5_000);

    // The next read finds its iterator expired, as one does after 15 minutes without a read.
    const send = streamsClient.send.bind(streamsClient);
    let expired = 0;
    streamsClient.send = (async (command: unknown) => {
      if (command instanceof GetRecordsCommand && expired === 0) {
        expired++;
        throw new ExpiredIteratorException({ message: 'Iterator expired', $metadata: {} });
      }
      return send(command as GetRecordsCommand);
    }) as typeof streamsClient.send;
    await waitFor('the expiry', () => expired === 1, 5_000);
    await put(tables, tables.tenantTable, { pk: 'tenant#after' });

    await waitFor('the second record', () => delivered.length >= 2, 5_000);
    // Six more polls, in which nothing may be delivered again.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(keysOf(delivered)).toEqual(['tenant#before', 'tenant#after']);
    streamsClient.destroy();
  });

  it('backs off while every round fails instead of retrying five times a second', async () => {
    const tables = await createTestTables();
    const streamsClient = new DynamoDBStreamsClient({ endpoint: tables.endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
    const errors: number[] = [];
    await start(tables, { streamsClient, onError: () => errors.push(Date.now()) });
    streamsClient.send = (async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:8000');
    }) as typeof streamsClient.send;

    // The failure rate over a window of real time is what is measured.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    // 50 ms apart without backoff would be about 60; doubling from 50 ms gives 6 within 3 s.
    expect(errors.length).toBeGreaterThan(2);
    expect(errors.length).toBeLessThan(9);
    streamsClient.destroy();
  });
});
