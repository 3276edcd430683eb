import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DomainEvent, EventPublisher } from '../../shared/ports/events.js';

/** What a subscriber of the bus receives of an event. */
export interface DeliveredEvent {
  detailType: string;
  detail: Record<string, unknown>;
  time: string;
}

/** One implementation of the EventPublisher port, with what its bus delivered. */
export interface EventsSubject {
  publisher: EventPublisher;
  /** Every event the bus delivered so far, in order, once delivery has happened. */
  delivered(): Promise<DeliveredEvent[]>;
  close(): Promise<void>;
}

const event = (detailType: string, tenantId: string, time: string): DomainEvent => ({
  detailType,
  tenantId,
  detail: { tenantId, phase: detailType.replace('Tenant ', '') },
  time,
});

/**
 * What the reconciler and integrators rely on from EventPublisher, written once and run against
 * every implementation: EventBridge over the AWS model and the local bus.
 */
export function describeEventsContract(name: string, makeSubject: () => Promise<EventsSubject>): void {
  describe(`Events contract: ${name}`, () => {
    let subject: EventsSubject;

    beforeEach(async () => {
      subject = await makeSubject();
    });
    afterEach(async () => {
      await subject.close();
    });

    it('delivers every event published, once, in the order published', async () => {
      const events = [
        event('Tenant Provisioning', 'acme', '2026-11-21T10:00:00.000Z'),
        event('Tenant Ready', 'acme', '2026-11-21T10:00:40.000Z'),
        event('Tenant Ready', 'globex', '2026-11-21T10:00:41.000Z'),
      ];
      await subject.publisher.publish(events.slice(0, 2));
      await subject.publisher.publish(events.slice(2));
      expect(await subject.delivered()).toEqual(events.map(({ detailType, detail, time }) => ({ detailType, detail, time })));
    });

    it('publishes nothing, and does not fail, when given no events', async () => {
      await subject.publisher.publish([]);
      expect(await subject.delivered()).toEqual([]);
    });
  });
}
