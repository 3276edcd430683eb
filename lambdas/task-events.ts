import { Logger } from '@aws-lambda-powertools/logger';
import { loadTaskEventsConfig } from '../shared/config.js';
import { taskEventsDeps } from '../shared/adapters/aws/composition/task-events.js';
import { createTaskEventsHandler } from '../shared/events/task-events-handler.js';

/** ECS Task State Change events of the tenant cluster (default bus) → actual state in DynamoDB. */
export const handler = createTaskEventsHandler(taskEventsDeps(loadTaskEventsConfig()), new Logger({ serviceName: 'dormouse-task-events' }));
