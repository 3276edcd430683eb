import { Logger } from '@aws-lambda-powertools/logger';
import { EventBridgePublisher } from '../shared/adapters/aws/eventbridge-publisher.js';
import { createStreamPublisherHandler, loadStreamPublisherConfig } from '../shared/events/stream-publisher.js';

const { busName } = loadStreamPublisherConfig();

/** EventBridge Pipe (or event source mapping) on the tenant table's stream → domain events on the bus. */
export const handler = createStreamPublisherHandler({
  publisher: new EventBridgePublisher({ busName }),
  logger: new Logger({ serviceName: 'dormouse-stream-publisher' }),
});
