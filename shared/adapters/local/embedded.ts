import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { Logger } from '@aws-lambda-powertools/logger';
import { z } from 'zod';
import { loadApiConfig, parseEnv, type Env } from '../../config.js';
import { createApiHandler } from '../../http/api.js';
import { apiDeps } from '../../http/api-deps.js';
import { createIdempotencyTableInput, createTenantTableInput } from '../aws/tenant-table.js';
import { ensureTables, localDynamoDbClient, startDynamoDbLocal } from './dynamodb-local.js';
import { serveHttpApi } from './http-api.js';

const port = z.coerce.number().int().min(0).max(65_535);

const embeddedSchema = z.object({
  DORMOUSE_API_PORT: port.default(3000),
  DORMOUSE_GATEWAY_PORT: port.default(8080),
  DORMOUSE_DATA_DIR: z.string().optional(),
  DORMOUSE_DYNAMODB_PORT: port.optional(),
  /** Use a DynamoDB Local that is already running instead of starting one. */
  DORMOUSE_DYNAMODB_ENDPOINT: z.string().url().optional(),
});

export interface Embedded {
  apiUrl: string;
  dynamoEndpoint: string;
  adminToken: string;
  /** True when the admin token was generated because none was configured. */
  adminTokenGenerated: boolean;
  /** Stops the API and DynamoDB Local; nothing is left running. Safe to call twice. */
  stop(): Promise<void>;
}

async function startOwnDynamoDbLocal(dataDir: string | undefined, port: number | undefined) {
  if (dataDir) await mkdir(dataDir, { recursive: true });
  return startDynamoDbLocal({ ...(dataDir ? { dataDir } : {}), ...(port ? { port } : {}) });
}

/**
 * The control plane on one machine: DynamoDB Local, then the same API handler the Lambda
 * runs, served over HTTP on loopback.
 */
export async function startEmbedded(env: Env = process.env): Promise<Embedded> {
  const local = parseEnv(embeddedSchema, env);
  const adminToken = env.DORMOUSE_ADMIN_TOKEN || randomBytes(24).toString('base64url');
  const config = loadApiConfig({
    DORMOUSE_TABLE_NAME: 'dormouse-tenants',
    DORMOUSE_IDEMPOTENCY_TABLE_NAME: 'dormouse-idempotency',
    // Tenants are reached through the local gateway as http://<slug>.localhost:<port>.
    DORMOUSE_BASE_URL: `http://localhost:${local.DORMOUSE_GATEWAY_PORT}`,
    ...env,
    DORMOUSE_ADMIN_TOKEN: adminToken,
  });

  const dynamo = local.DORMOUSE_DYNAMODB_ENDPOINT
    ? { endpoint: local.DORMOUSE_DYNAMODB_ENDPOINT, stop: async () => {} }
    : await startOwnDynamoDbLocal(local.DORMOUSE_DATA_DIR, local.DORMOUSE_DYNAMODB_PORT);
  const stops: Array<() => Promise<void>> = [() => dynamo.stop()];
  const stop = async () => {
    while (stops.length) await stops.pop()?.();
  };

  try {
    const dynamoClient = localDynamoDbClient(dynamo.endpoint);
    stops.push(async () => dynamoClient.destroy());
    await ensureTables(dynamoClient, [
      createTenantTableInput(config.tenantTable),
      createIdempotencyTableInput(config.idempotencyTable),
    ]);
    const logger = new Logger({ serviceName: 'dormouse-api' });
    const api = await serveHttpApi(createApiHandler(apiDeps(config, { dynamoClient, logger })), {
      port: local.DORMOUSE_API_PORT,
    });
    stops.push(() => api.close());
    return {
      apiUrl: api.url,
      dynamoEndpoint: dynamo.endpoint,
      adminToken,
      adminTokenGenerated: !env.DORMOUSE_ADMIN_TOKEN,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
