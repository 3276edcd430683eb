import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { localLambdaContext } from '../../shared/adapters/local/lambda-runtime.js';
import { loadApiConfig } from '../../shared/config.js';
import { createApiHandler } from '../../shared/http/api.js';
import { apiDeps } from '../../shared/adapters/aws/composition/api.js';
import type { Clock } from '../../shared/ports/clock.js';

export const BASE_URL = 'https://trials.example.com';

export interface ApiAnswer {
  status: number;
  body: Record<string, unknown>;
}

export type ApiCall = (
  method: string,
  path: string,
  options?: { body?: unknown; token?: string; idempotencyKey?: string },
) => Promise<ApiAnswer>;

/**
 * The API Lambda's handler, wired as lambdas/api.ts wires it, over the given DynamoDB client,
 * and a function that invokes it the way API Gateway (HTTP API, payload 2.0) does.
 */
export function apiCaller(options: {
  dynamoClient: DynamoDBClient;
  tenantTable: string;
  idempotencyTable: string;
  maxTenants: number;
  clock?: Clock;
}): ApiCall {
  const config = loadApiConfig({
    DORMOUSE_TABLE_NAME: options.tenantTable,
    DORMOUSE_IDEMPOTENCY_TABLE_NAME: options.idempotencyTable,
    DORMOUSE_BASE_URL: BASE_URL,
    DORMOUSE_MAX_TENANTS: String(options.maxTenants),
    // Every bench signup comes from one address; the limit stays on (its write is measured) but high.
    DORMOUSE_SIGNUPS_PER_HOUR: '1000000',
  });
  const handler = createApiHandler(
    apiDeps(config, {
      dynamoClient: options.dynamoClient,
      logger: new Logger({ serviceName: 'dormouse-api', logLevel: 'SILENT' }),
      ...(options.clock ? { clock: options.clock } : {}),
    }),
  );
  return async (method, path, { body, token, idempotencyKey } = {}) => {
    const requestId = randomUUID();
    const event = {
      version: '2.0',
      routeKey: '$default',
      rawPath: path,
      rawQueryString: '',
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
      },
      requestContext: {
        http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'dormouse-bench' },
        requestId,
        routeKey: '$default',
        stage: '$default',
        timeEpoch: Date.now(),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEventV2;
    const response = await handler(event, localLambdaContext('dormouse-api', requestId, 10_000));
    return { status: response.statusCode ?? 200, body: JSON.parse(response.body ?? '{}') as Record<string, unknown> };
  };
}
