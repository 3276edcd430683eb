import type { TaskEventsConfig } from '../../../config.js';
import type { TaskEventDeps } from '../../../app/task-event.js';
import { systemClock } from '../../../ports/clock.js';
import { tenantStore, type AwsClients } from './clients.js';

/** The task events function: ECS task state changes into the tenant table. */
export function taskEventsDeps(config: TaskEventsConfig, clients: AwsClients = {}): TaskEventDeps {
  return { store: tenantStore(config.tenantTable, clients.dynamoClient), clock: systemClock, plans: config.plans };
}
