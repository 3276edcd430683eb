import { Logger } from '@aws-lambda-powertools/logger';
import * as z from 'zod';
import { parseEnv } from '../shared/config.js';
import { DynamoDbTenantStore } from '../shared/adapters/aws/dynamodb-tenant-store.js';
import { createTaskEventsHandler } from '../shared/events/task-events-handler.js';

const { DORMOUSE_TABLE_NAME } = parseEnv(z.object({ DORMOUSE_TABLE_NAME: z.string().min(3) }), process.env);

/** ECS Task State Change events of the tenant cluster (default bus) → actual state in DynamoDB. */
export const handler = createTaskEventsHandler(
  { store: new DynamoDbTenantStore({ tableName: DORMOUSE_TABLE_NAME }) },
  new Logger({ serviceName: 'dormouse-task-events' }),
);
