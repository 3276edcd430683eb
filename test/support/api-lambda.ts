import { Logger } from '@aws-lambda-powertools/logger';
import { apiDeps, type ApiDepsOverrides } from '../../shared/adapters/aws/composition/api.js';
import { loadApiConfig, type Env } from '../../shared/config.js';
import { createTestTables } from './dynamodb.js';

/**
 * The API function's dependencies wired as on Lambda (AWS_LAMBDA_FUNCTION_NAME set), over fresh
 * tables in the run's DynamoDB Local; `env` adds to or replaces the settings the CDK app writes.
 * Silent unless a test gives a logger of its own.
 */
export async function lambdaApiDeps(env: Env = {}, overrides: Omit<ApiDepsOverrides, 'dynamoClient'> = {}) {
  const tables = await createTestTables();
  const config = loadApiConfig({
    DORMOUSE_TABLE_NAME: tables.tenantTable,
    DORMOUSE_IDEMPOTENCY_TABLE_NAME: tables.idempotencyTable,
    DORMOUSE_BASE_URL: 'https://trials.example.com',
    AWS_LAMBDA_FUNCTION_NAME: 'dormouse-api',
    ...env,
  });
  return apiDeps(config, {
    dynamoClient: tables.client,
    logger: new Logger({ serviceName: 'dormouse-api', logLevel: 'SILENT' }),
    ...overrides,
  });
}
