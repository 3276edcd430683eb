import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDbRateLimiter } from '../../shared/adapters/aws/dynamodb-rate-limiter.js';
import { clientKey } from '../../shared/app/signup.js';
import { createTestTables, type TestTables } from '../support/dynamodb.js';

const NOW = new Date('2026-03-01T10:20:00.000Z');
const WINDOW_END = Date.parse('2026-03-01T11:00:00.000Z') / 1000;

let tables: TestTables;
let limiter: DynamoDbRateLimiter;

beforeAll(async () => {
  tables = await createTestTables();
  limiter = new DynamoDbRateLimiter({ tableName: tables.tenantTable, client: tables.documentClient });
});
afterAll(() => tables.client.destroy());

describe('DynamoDbRateLimiter', () => {
  it('lets exactly `limit` of 40 concurrent attempts through, however they interleave', async () => {
    const key = clientKey('198.51.100.7');

    const decisions = await Promise.all(Array.from({ length: 40 }, () => limiter.take(key, 5, NOW)));

    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(5);
    expect(decisions.find((decision) => !decision.allowed)).toEqual({ allowed: false, retryAfterSeconds: 40 * 60 });
  });

  it('counts each key on its own, and starts again in the next window', async () => {
    const key = clientKey('198.51.100.8');
    for (let i = 0; i < 2; i++) await limiter.take(key, 2, NOW);

    const same = await limiter.take(key, 2, NOW);
    const other = await limiter.take(clientKey('198.51.100.9'), 2, NOW);
    const nextHour = await limiter.take(key, 2, new Date(NOW.getTime() + 3_600_000));

    expect(same.allowed).toBe(false);
    expect(other.allowed).toBe(true);
    expect(nextHour.allowed).toBe(true);
  });

  it('stores a hash of the address with a TTL at the end of its window, never the address', async () => {
    const key = clientKey('203.0.113.77');
    await limiter.take(key, 5, NOW);

    const { Items = [] } = await tables.documentClient.send(new ScanCommand({ TableName: tables.tenantTable }));
    expect(JSON.stringify(Items)).not.toContain('203.0.113.77');
    const counters = Items.filter((item) => String(item.pk).startsWith(`rate#${key}#`));
    expect(counters).toEqual([
      { pk: expect.stringMatching(/^rate#signup:[0-9a-f]{64}#\d+$/), kind: 'rateLimit', count: 1, expiresAt: WINDOW_END },
    ]);
  });
});
