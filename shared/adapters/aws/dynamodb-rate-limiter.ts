import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { RateDecision, RateLimiter } from '../../ports/rate-limiter.js';
import { TENANT_TABLE, keys } from './tenant-table.js';
import { documentClientFor } from './dynamodb-tenant-store.js';

/**
 * Fixed-window counters in the tenant table (`rate#<key>#<window start>`, kind `rateLimit`),
 * removed by the table's TTL once their window is over. One conditional `ADD` both counts and
 * checks, so the limit holds across Lambda instances and concurrent requests. A fixed window
 * lets a client make up to twice the limit around a window boundary; that is accepted for a
 * one-item-per-window cost.
 */
export class DynamoDbRateLimiter implements RateLimiter {
  private readonly tableName: string;
  private readonly client: DynamoDBDocumentClient;
  private readonly windowSeconds: number;

  constructor({
    tableName,
    client = documentClientFor(),
    windowSeconds = 3600,
  }: {
    tableName: string;
    client?: DynamoDBDocumentClient;
    /** @default 3600 (one hour) */
    windowSeconds?: number;
  }) {
    this.tableName = tableName;
    this.client = client;
    this.windowSeconds = windowSeconds;
  }

  async take(key: string, limit: number, now: Date): Promise<RateDecision> {
    const nowSeconds = Math.floor(now.getTime() / 1000);
    const windowStart = nowSeconds - (nowSeconds % this.windowSeconds);
    const windowEnd = windowStart + this.windowSeconds;
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [TENANT_TABLE.partitionKey]: keys.rateWindow(key, windowStart) },
          UpdateExpression: 'ADD #count :one SET #kind = :kind, #expiresAt = :expiresAt',
          ConditionExpression: 'attribute_not_exists(#count) OR #count < :limit',
          ExpressionAttributeNames: { '#count': 'count', '#kind': 'kind', '#expiresAt': TENANT_TABLE.ttlAttribute },
          ExpressionAttributeValues: { ':one': 1, ':limit': limit, ':kind': 'rateLimit', ':expiresAt': windowEnd },
        }),
      );
      return { allowed: true };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        return { allowed: false, retryAfterSeconds: Math.max(1, windowEnd - nowSeconds) };
      }
      throw error;
    }
  }
}
