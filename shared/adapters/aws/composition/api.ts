import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import type { ApiConfig } from '../../../config.js';
import type { ApiDeps } from '../../../http/api.js';
import { systemClock, type Clock } from '../../../ports/clock.js';
import type { EmailSender } from '../../../ports/email.js';
import type { DataArchives } from '../../../ports/storage.js';
import { translatingAwsErrors } from '../aws-errors.js';
import { documentClientFor, DynamoDbTenantStore } from '../dynamodb-tenant-store.js';
import { DynamoDbRateLimiter } from '../dynamodb-rate-limiter.js';
import { S3DataArchives } from '../s3-data-archives.js';
import { CloudWatchTenantLogs } from '../cloudwatch-tenant-logs.js';
import { DynamoDbTimeline } from '../dynamodb-timeline.js';
import type { TenantLogs } from '../../../ports/tenant-logs.js';
import { SesEmailSender } from '../ses-email-sender.js';

export interface ApiDepsOverrides {
  dynamoClient?: DynamoDBClient;
  /** Embedded mode shares one store between the API, the wake handler and the control plane. */
  store?: DynamoDbTenantStore;
  logger?: Logger;
  clock?: Clock;
  /** Defaults to Amazon SES from `config.emailSender` when verification is on. */
  emailSender?: EmailSender;
  /** Embedded mode's outbox page (GET /outbox). */
  outbox?: ApiDeps['outbox'];
  /** Defaults to S3 and the data function from `config.archives`, when the installation keeps tenant data. */
  archives?: DataArchives;
  /** Defaults to the tenant log group `config.tenantLogGroup`; embedded mode gives its files. */
  logs?: TenantLogs;
}

/** The API's dependencies; `archives` is there exactly when tenants have data to export and restore. */
export type ApiDepsWithArchives = ApiDeps & { archives?: DataArchives };

/** The API function; embedded mode runs the same wiring on DynamoDB Local. */
export function apiDeps(config: ApiConfig, overrides: ApiDepsOverrides = {}): ApiDepsWithArchives {
  const dynamoClient = overrides.dynamoClient ?? new DynamoDBClient({});
  const documentClient = documentClientFor(dynamoClient);
  const logger = overrides.logger ?? new Logger({ serviceName: 'dormouse-api' });
  for (const warning of config.warnings) logger.warn(warning);
  const sender =
    overrides.emailSender ?? (config.verifyEmail && config.emailSender ? new SesEmailSender({ from: config.emailSender }) : undefined);
  const archives =
    overrides.archives ??
    (config.archives
      ? translatingAwsErrors(new S3DataArchives({ bucket: config.archives.bucket, dataFunction: config.archives.dataFunction }))
      : undefined);
  // Translated, so that CloudWatch Logs throttling the reads answers 503 with Retry-After, not 500.
  const logs =
    overrides.logs ??
    (config.tenantLogGroup ? translatingAwsErrors(new CloudWatchTenantLogs({ logGroupName: config.tenantLogGroup })) : undefined);
  return {
    store: overrides.store ?? new DynamoDbTenantStore({ tableName: config.tenantTable, client: documentClient }),
    timeline: new DynamoDbTimeline({ tableName: config.tenantTable, client: documentClient }),
    ...(logs ? { logs } : {}),
    clock: overrides.clock ?? systemClock,
    config,
    idempotencyStore: new DynamoDBPersistenceLayer({ tableName: config.idempotencyTable, awsSdkV3Client: dynamoClient }),
    logger,
    limiter: new DynamoDbRateLimiter({ tableName: config.tenantTable, client: documentClient }),
    ...(sender ? { emailSender: sender } : {}),
    ...(overrides.outbox ? { outbox: overrides.outbox } : {}),
    ...(archives ? { archives } : {}),
  };
}
