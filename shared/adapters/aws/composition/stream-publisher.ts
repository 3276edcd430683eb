import type { StreamPublisherConfig } from '../../../config.js';
import type { EventPublisher } from '../../../ports/events.js';
import { EventBridgePublisher } from '../eventbridge-publisher.js';
import type { AwsClients } from './clients.js';

/** The stream publisher function: domain events onto the bus. */
export function streamPublisherDeps(config: StreamPublisherConfig, clients: AwsClients = {}): { publisher: EventPublisher } {
  return {
    publisher: new EventBridgePublisher({
      busName: config.busName,
      ...(clients.eventBridgeClient ? { client: clients.eventBridgeClient } : {}),
    }),
  };
}
