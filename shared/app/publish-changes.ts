import { domainEventsFor, type TenantChange } from '../domain/domain-events.js';
import type { CostPrices } from '../domain/usage.js';
import type { EventPublisher } from '../ports/events.js';

export interface PublishChangesDeps {
  publisher: EventPublisher;
  /** What `Tenant Usage` prices running time at: the installation's task architecture's (`costPrices`). */
  prices: CostPrices;
}

/**
 * Turns tenant changes, in stream order, into domain events and publishes them in one call,
 * so their order on the bus follows the order of the writes. Throws if any event could not be
 * published: the whole batch is then delivered again, and consumers tolerate the duplicates.
 */
export async function publishChanges({ publisher, prices }: PublishChangesDeps, changes: TenantChange[]): Promise<{ events: number }> {
  const events = changes.flatMap((change) => domainEventsFor(change, prices));
  if (events.length > 0) await publisher.publish(events);
  return { events: events.length };
}
