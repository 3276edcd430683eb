import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ensureTables, localDynamoDbClient } from '../../shared/adapters/local/dynamodb-local.js';
import { createIdempotencyTableInput, createTenantTableInput } from '../../shared/adapters/aws/tenant-table.js';
import { documentClientFor } from '../../shared/adapters/aws/dynamodb-tenant-store.js';

export interface TestTables {
  endpoint: string;
  client: DynamoDBClient;
  documentClient: DynamoDBDocumentClient;
  tenantTable: string;
  idempotencyTable: string;
}

/** Fresh, uniquely named tables in the run's DynamoDB Local. */
export async function createTestTables(): Promise<TestTables> {
  const endpoint = inject('dynamoEndpoint');
  const client = localDynamoDbClient(endpoint);
  const suffix = randomUUID().slice(0, 8);
  const tenantTable = `tenants-${suffix}`;
  const idempotencyTable = `idempotency-${suffix}`;
  await ensureTables(client, [createTenantTableInput(tenantTable), createIdempotencyTableInput(idempotencyTable)]);
  return {
    endpoint,
    client,
    documentClient: documentClientFor(client),
    tenantTable,
    idempotencyTable,
  };
}
