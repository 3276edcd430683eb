import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Context, DynamoDBRecord } from 'aws-lambda';
import { StreamRecordError, tenantChanges } from '../adapters/aws/dynamodb-stream-records.js';
import { publishChanges } from '../app/publish-changes.js';
import { recordTimeline } from '../app/record-timeline.js';
import type { CostPrices } from '../domain/usage.js';
import { systemClock, type Clock } from '../ports/clock.js';
import type { EventPublisher } from '../ports/events.js';
import type { TimelineStore } from '../ports/timeline.js';

/**
 * An EventBridge Pipe hands a Lambda target a bare array of stream records; a plain event
 * source mapping wraps them in `{ Records }`. Both are accepted so either can feed the function.
 */
export type StreamPublisherEvent = DynamoDBRecord[] | { Records: DynamoDBRecord[] };

/** What the handler fails with on a payload it cannot read. */
export { StreamRecordError };

export type StreamPublisherHandler = (event: StreamPublisherEvent, context: Context) => Promise<void>;

export interface StreamPublisherDeps {
  publisher: EventPublisher;
  /** Where each tenant's transitions are kept. */
  timeline: TimelineStore;
  /** What `Tenant Usage` prices running time at: the installation's task architecture's. */
  prices: CostPrices;
  logger: Logger;
  /** Stands in for a record's ApproximateCreationDateTime when the record has none. @default system clock */
  clock?: Clock;
}

export function createStreamPublisherHandler({
  publisher,
  timeline,
  prices,
  logger,
  clock = systemClock,
}: StreamPublisherDeps): StreamPublisherHandler {
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
      // The events first: they drive the control plane (a wake waits on them), which must not
      // wait on, nor be held back by, a timeline. A timeline entry that cannot be kept is logged
      // and missing; a batch whose events fail comes again, and the timeline skips what it has.
      const { events } = await publishChanges({ publisher, prices }, changes);
      const { entries } = await recordTimeline(
        {
          timeline,
          onError: (tenantId, error) => {
            logger.error('Could not record a transition in the tenant timeline', { tenantId, error });
          },
        },
        changes,
      );
      logger.info('Published tenant events', { records: records.length, tenantChanges: changes.length, events, timelineEntries: entries });
    });
}

function streamRecords(event: unknown): DynamoDBRecord[] {
  if (Array.isArray(event)) return event as DynamoDBRecord[];
  if (typeof event === 'object' && event !== null && Array.isArray((event as { Records?: unknown }).Records)) {
    return (event as { Records: DynamoDBRecord[] }).Records;
  }
  throw new StreamRecordError('Expected an array of DynamoDB stream records or { Records: [...] }.');
}
