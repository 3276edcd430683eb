import { Logger } from '@aws-lambda-powertools/logger';
import { loadStreamPublisherConfig } from '../shared/config.js';
import { streamPublisherDeps } from '../shared/adapters/aws/composition/stream-publisher.js';
import { createStreamPublisherHandler } from '../shared/events/stream-publisher.js';

/** EventBridge Pipe (or event source mapping) on the tenant table's stream → domain events on the bus. */
export const handler = createStreamPublisherHandler({
  ...streamPublisherDeps(loadStreamPublisherConfig()),
  logger: new Logger({ serviceName: 'dormouse-stream-publisher' }),
});
