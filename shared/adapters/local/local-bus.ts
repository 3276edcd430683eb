import type { DomainEvent, EventPublisher } from '../../ports/events.js';

export type Subscriber = (event: DomainEvent) => void | Promise<void>;

/**
 * The custom event bus, in process. Delivery is asynchronous, as EventBridge's is: publishing
 * never waits for a subscriber, and a failing subscriber is reported, not retried here (the
 * reconcile loop retries by itself, and the sweep covers anything lost).
 */
export class LocalBus implements EventPublisher {
  private readonly subscribers: Array<{ detailType: string | '*'; subscriber: Subscriber }> = [];

  constructor(private readonly onError: (error: unknown, event: DomainEvent) => void = () => {}) {}

  subscribe(detailType: string | '*', subscriber: Subscriber): void {
    this.subscribers.push({ detailType, subscriber });
  }

  async publish(events: DomainEvent[]): Promise<void> {
    for (const event of events) {
      for (const { detailType, subscriber } of this.subscribers) {
        if (detailType !== '*' && detailType !== event.detailType) continue;
        queueMicrotask(() => {
          Promise.resolve()
            .then(() => subscriber(event))
            .catch((error: unknown) => this.onError(error, event));
        });
      }
    }
  }
}
