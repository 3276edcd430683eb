import { setImmediate as afterPendingMicrotasks } from 'node:timers/promises';
import { LocalBus } from '../../shared/adapters/local/local-bus.js';
import type { DomainEvent } from '../../shared/ports/events.js';
import { awsAdaptersOver, manualAwsModel } from '../support/aws-adapters.js';
import { describeEventsContract } from './events.contract.js';

describeEventsContract('EventBridgePublisher over the AWS model', async () => {
  const { model } = manualAwsModel();
  return {
    publisher: awsAdaptersOver(model, 'contract').publisher,
    delivered: async () =>
      model.published.map((entry) => ({
        detailType: entry.DetailType ?? '',
        detail: JSON.parse(entry.Detail ?? '{}') as Record<string, unknown>,
        time: entry.Time?.toISOString() ?? '',
      })),
    close: async () => model.restore(),
  };
});

describeEventsContract('LocalBus (embedded mode)', async () => {
  const bus = new LocalBus();
  const received: DomainEvent[] = [];
  bus.subscribe('*', (event) => {
    received.push(event);
  });
  return {
    publisher: bus,
    // Delivery is asynchronous, as EventBridge's is, on the microtask queue: one turn of the event
    // loop sees all of it.
    delivered: async () => {
      await afterPendingMicrotasks();
      return received.map(({ detailType, detail, time }) => ({ detailType, detail, time }));
    },
    close: async () => {},
  };
});
