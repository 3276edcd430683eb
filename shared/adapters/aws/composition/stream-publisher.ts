import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { StreamPublisherConfig } from '../../../config.js';
import { costPrices } from '../../../domain/prices.js';
import type { CostPrices } from '../../../domain/usage.js';
import type { EventPublisher } from '../../../ports/events.js';
import type { TimelineStore } from '../../../ports/timeline.js';
import { documentClientFor } from '../dynamodb-tenant-store.js';
import { DynamoDbTimeline } from '../dynamodb-timeline.js';
import { EventBridgePublisher } from '../eventbridge-publisher.js';
import type { AwsClients } from './clients.js';

/** The stream publisher function: domain events onto the bus, transitions onto the tenants' timelines. */
export function streamPublisherDeps(
  config: StreamPublisherConfig,
  clients: AwsClients = {},
): { publisher: EventPublisher; timeline: TimelineStore; prices: CostPrices } {
  return {
    prices: costPrices(config.taskArchitecture),
    publisher: new EventBridgePublisher({
      busName: config.busName,
      ...(clients.eventBridgeClient ? { client: clients.eventBridgeClient } : {}),
    }),
    timeline: new DynamoDbTimeline({
      tableName: config.tenantTable,
      client: documentClientFor(clients.dynamoClient ?? new DynamoDBClient({})),
    }),
  };
}
