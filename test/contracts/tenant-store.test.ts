import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbTenantStore } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { createTestTables } from '../support/dynamodb.js';
import { describeTenantStoreContract } from './tenant-store.contract.js';

describeTenantStoreContract('DynamoDbTenantStore on DynamoDB Local', async () => {
  const tables = await createTestTables();
  return {
    store: new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient }),
    close: async () => {
      await tables.client.send(new DeleteTableCommand({ TableName: tables.tenantTable }));
      await tables.client.send(new DeleteTableCommand({ TableName: tables.idempotencyTable }));
      tables.client.destroy();
    },
  };
});
