import type { DomainEvent } from '../domain/domain-events.js';

// The value type is the domain's; re-exported so that adapters find it with the port.
export type { DomainEvent } from '../domain/domain-events.js';

export interface EventPublisher {
  /** Publishes all events or throws; a partial failure is retried, never dropped silently. */
  publish(events: DomainEvent[]): Promise<void>;
}
