import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Context, DynamoDBRecord } from 'aws-lambda';
import * as z from 'zod';
import { tenantFromItem } from '../adapters/aws/dynamodb-tenant-store.js';
import { parseEnv, type Env } from '../config.js';
import type { TenantChange } from '../domain/domain-events.js';
import { publishChanges } from '../app/publish-changes.js';
import { systemClock, type Clock } from '../ports/clock.js';
import type { EventPublisher } from '../ports/events.js';

/**
 * An EventBridge Pipe hands a Lambda target a bare array of stream records; a plain event
 * source mapping wraps them in `{ Records }`. Both are accepted so either can feed the function.
 */
export type StreamPublisherEvent = DynamoDBRecord[] | { Records: DynamoDBRecord[] };

export type StreamPublisherHandler = (event: StreamPublisherEvent, context: Context) => Promise<void>;

export interface StreamPublisherDeps {
  publisher: EventPublisher;
  logger: Logger;
  /** Stands in for a record's ApproximateCreationDateTime when the record has none. @default system clock */
  clock?: Clock;
}

export interface StreamPublisherConfig {
  busName: string;
}

/** A stream payload this function cannot read; retrying it will not help, so it fails loudly. */
export class StreamRecordError extends Error {
  constructor(
    message: string,
    readonly eventID?: string,
  ) {
    super(message);
    this.name = 'StreamRecordError';
  }
}

const configSchema = z.object({ DORMOUSE_EVENT_BUS_NAME: z.string().min(1) });

export function loadStreamPublisherConfig(env: Env = process.env): StreamPublisherConfig {
  return { busName: parseEnv(configSchema, env).DORMOUSE_EVENT_BUS_NAME };
}

export function createStreamPublisherHandler({ publisher, logger, clock = systemClock }: StreamPublisherDeps): StreamPublisherHandler {
  return middy<StreamPublisherEvent, void>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use({
      // Logged, then rethrown by middy: the Pipe retries the batch.
      onError: async ({ error }) => {
        logger.error('Publishing tenant events failed', { error });
      },
    })
    .handler(async (event) => {
      const records = streamRecords(event);
      const changes = tenantChanges(records, clock);
      const { events } = await publishChanges({ publisher }, changes);
      logger.info('Published tenant events', { records: records.length, tenantChanges: changes.length, events });
    });
}

function streamRecords(event: unknown): DynamoDBRecord[] {
  if (Array.isArray(event)) return event as DynamoDBRecord[];
  if (typeof event === 'object' && event !== null && Array.isArray((event as { Records?: unknown }).Records)) {
    return (event as { Records: DynamoDBRecord[] }).Records;
  }
  throw new StreamRecordError('Expected an array of DynamoDB stream records or { Records: [...] }.');
}

/** Tenant changes in record order; claims and the counter share the table and are skipped. */
export function tenantChanges(records: DynamoDBRecord[], clock: Clock = systemClock): TenantChange[] {
  return records.flatMap((record) => {
    const { eventID, eventName, dynamodb: stream } = record;
    if (eventName !== 'INSERT' && eventName !== 'MODIFY' && eventName !== 'REMOVE') {
      throw new StreamRecordError(`Stream record ${eventID} has no known eventName (${String(eventName)}).`, eventID);
    }
    const oldImage = stream?.OldImage && unmarshall(stream.OldImage as Record<string, AttributeValue>);
    const newImage = stream?.NewImage && unmarshall(stream.NewImage as Record<string, AttributeValue>);
    // Without both images a change cannot be told from an insert: the table's stream must be
    // NEW_AND_OLD_IMAGES, and anything else is a deployment mistake worth failing on.
    if ((eventName !== 'INSERT' && !oldImage) || (eventName !== 'REMOVE' && !newImage)) {
      throw new StreamRecordError(
        `Stream record ${eventID} (${eventName}) lacks an image; the table stream must be NEW_AND_OLD_IMAGES.`,
        eventID,
      );
    }
    if ((newImage ?? oldImage)?.kind !== 'tenant') return [];
    return [
      {
        ...(oldImage ? { before: tenantFromItem(oldImage) } : {}),
        ...(newImage ? { after: tenantFromItem(newImage) } : {}),
        at: changeTime(stream?.ApproximateCreationDateTime, clock),
      },
    ];
  });
}

/** ApproximateCreationDateTime is epoch seconds (fractional with microsecond precision). */
function changeTime(seconds: number | undefined, clock: Clock): string {
  return typeof seconds === 'number' && Number.isFinite(seconds)
    ? new Date(Math.round(seconds * 1000)).toISOString()
    : clock.now().toISOString();
}
