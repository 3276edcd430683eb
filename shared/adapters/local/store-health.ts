import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';

export interface StoreHealthOptions {
  client: DynamoDBClient;
  tableName: string;
  /** A store slower than this counts as down. @default 1_000 */
  timeoutMs?: number;
  /** One answer serves every health check for this long, so polling /healthz costs the store little. @default 1_000 */
  cacheMs?: number;
  now?: () => number;
}

/**
 * `GET /healthz`'s check of embedded mode: the store is up when DynamoDB Local describes the
 * tenant table within a short timeout. Answers `[]` or `['store']`.
 */
export function storeHealth(options: StoreHealthOptions): () => Promise<string[]> {
  const { client, tableName, timeoutMs = 1_000, cacheMs = 1_000, now = Date.now } = options;
  let cached: { at: number; answer: Promise<string[]> } | undefined;
  const probe = async (): Promise<string[]> => {
    try {
      // The timeout bounds the SDK's retries too: a dead store is reported quickly.
      await client.send(new DescribeTableCommand({ TableName: tableName }), { abortSignal: AbortSignal.timeout(timeoutMs) });
      return [];
    } catch {
      return ['store'];
    }
  };
  return () => {
    if (!cached || now() - cached.at >= cacheMs) cached = { at: now(), answer: probe() };
    return cached.answer;
  };
}
