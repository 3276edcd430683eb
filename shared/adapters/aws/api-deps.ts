import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { ApiConfig } from '../../config.js';
import { documentClientFor, DynamoDbTenantStore } from './dynamodb-tenant-store.js';
import { DynamoDbRateLimiter } from './dynamodb-rate-limiter.js';
import { SesEmailSender } from './ses-email-sender.js';
import type { EmailSender } from '../../ports/email.js';
import { systemClock, type Clock } from '../../ports/clock.js';
import type { ApiDeps } from '../../http/api.js';

export interface ApiDepsOverrides {
  /** Defaults to the SDK's standard configuration, which honours AWS_ENDPOINT_URL(_DYNAMODB). */
  dynamoClient?: DynamoDBClient;
  logger?: Logger;
  clock?: Clock;
  /** Defaults to Amazon SES from `config.emailSender` when verification is on. */
  emailSender?: EmailSender;
  /** Embedded mode's outbox page (GET /outbox). */
  outbox?: ApiDeps['outbox'];
}

/** Wires the API's adapters; the Lambda and the embedded mode differ only in the client. */
export function apiDeps(config: ApiConfig, overrides: ApiDepsOverrides = {}): ApiDeps {
  const dynamoClient = overrides.dynamoClient ?? new DynamoDBClient({});
  const documentClient = documentClientFor(dynamoClient);
  const logger = overrides.logger ?? new Logger({ serviceName: 'dormouse-api' });
  for (const warning of config.warnings) logger.warn(warning);
  return {
    store: new DynamoDbTenantStore({ tableName: config.tenantTable, client: documentClient }),
    clock: overrides.clock ?? systemClock,
    config,
    idempotencyStore: new DynamoDBPersistenceLayer({ tableName: config.idempotencyTable, awsSdkV3Client: dynamoClient }),
    logger,
    limiter: new DynamoDbRateLimiter({ tableName: config.tenantTable, client: documentClient }),
    ...emailDeps(config, overrides),
  };
}

function emailDeps(config: ApiConfig, overrides: ApiDepsOverrides): Pick<ApiDeps, 'emailSender' | 'outbox'> {
  const sender =
    overrides.emailSender ?? (config.verifyEmail && config.emailSender ? new SesEmailSender({ from: config.emailSender }) : undefined);
  return { ...(sender ? { emailSender: sender } : {}), ...(overrides.outbox ? { outbox: overrides.outbox } : {}) };
}
