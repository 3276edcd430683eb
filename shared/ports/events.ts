/** A domain event for integrators and for the reconciler, as put on the custom bus. */
export interface DomainEvent {
  /** e.g. `Tenant Ready` */
  detailType: string;
  tenantId: string;
  detail: Record<string, unknown>;
  /** ISO time of the change that produced the event. */
  time: string;
}

export interface EventPublisher {
  /** Publishes all events or throws; a partial failure is retried, never dropped silently. */
  publish(events: DomainEvent[]): Promise<void>;
}
