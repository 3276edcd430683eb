import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { StreamPublisherConfig } from '../../../config.js';
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
): { publisher: EventPublisher; timeline: TimelineStore } {
  return {
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
