import { domainEventsFor, type TenantChange } from '../domain/domain-events.js';
import type { EventPublisher } from '../ports/events.js';

export interface PublishChangesDeps {
  publisher: EventPublisher;
}

/**
 * Turns tenant changes, in stream order, into domain events and publishes them in one call,
 * so their order on the bus follows the order of the writes. Throws if any event could not be
 * published: the whole batch is then delivered again, and consumers tolerate the duplicates.
 */
export async function publishChanges({ publisher }: PublishChangesDeps, changes: TenantChange[]): Promise<{ events: number }> {
  const events = changes.flatMap((change) => domainEventsFor(change));
  if (events.length > 0) await publisher.publish(events);
  return { events: events.length };
}
