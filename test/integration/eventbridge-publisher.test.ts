import { beforeEach, describe, expect, it } from 'vitest';
import 'aws-sdk-client-mock-vitest/extend';
import { mockClient } from 'aws-sdk-client-mock';
import { EventBridgeClient, PutEventsCommand, type PutEventsCommandInput } from '@aws-sdk/client-eventbridge';
import {
  entrySize,
  EventBridgePublisher,
  EventTooLargeError,
  MAX_REQUEST_BYTES,
  PublishError,
} from '../../shared/adapters/aws/eventbridge-publisher.js';
import type { DomainEvent } from '../../shared/ports/events.js';

const busName = 'dormouse';
const client = new EventBridgeClient({ region: 'eu-west-1' });
const eventBridge = mockClient(client);

/** What EventBridge answers when it takes every entry. */
const acceptAll = (input: PutEventsCommandInput) => ({
  FailedEntryCount: 0,
  Entries: (input.Entries ?? []).map((_, index) => ({ EventId: `event-${index}` })),
});

function event(n: number, detail: Record<string, unknown> = {}, detailType = 'Tenant Changed'): DomainEvent {
  return { detailType, tenantId: `tenant-${n}`, detail: { tenantId: `tenant-${n}`, ...detail }, time: '2026-11-21T10:00:00.000Z' };
}

/** The entry the publisher must send for `e`, written out in full. */
function entry(e: DomainEvent) {
  return {
    EventBusName: busName,
    Source: 'dormouse',
    DetailType: e.detailType,
    Detail: JSON.stringify(e.detail),
    Time: new Date(e.time),
    Resources: [],
  };
}

const requests = () => eventBridge.commandCalls(PutEventsCommand).map((call) => call.args[0].input);
const tenantsPerRequest = () => requests().map((input) => (input.Entries ?? []).map((sent) => JSON.parse(sent.Detail ?? '{}').tenantId));

const publisher = (options: { maxAttempts?: number } = {}) => new EventBridgePublisher({ client, busName, baseDelayMs: 1, ...options });

beforeEach(() => {
  eventBridge.reset();
  eventBridge.on(PutEventsCommand).callsFake(acceptAll);
});

describe('EventBridgePublisher', () => {
  it('sends at most 10 entries per request, in the order given', async () => {
    const events = Array.from({ length: 23 }, (_, n) => event(n));

    await publisher().publish(events);

    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 3);
    expect(requests()).toEqual([
      { Entries: events.slice(0, 10).map(entry) },
      { Entries: events.slice(10, 20).map(entry) },
      { Entries: events.slice(20).map(entry) },
    ]);
  });

  it('starts a new request before the entries would pass 256 KB', async () => {
    const large = Array.from({ length: 5 }, (_, n) => event(n, { blob: 'x'.repeat(100_000) }));

    await publisher().publish(large);

    expect(tenantsPerRequest()).toEqual([['tenant-0', 'tenant-1'], ['tenant-2', 'tenant-3'], ['tenant-4']]);
    for (const input of requests()) {
      expect((input.Entries ?? []).reduce((sum, sent) => sum + entrySize(sent), 0)).toBeLessThanOrEqual(MAX_REQUEST_BYTES);
    }
  });

  describe('counts entry sizes as EventBridge does (UTF-8 bytes, 14 for Time)', () => {
    // Each entry: 14 (Time) + 8 ('dormouse') + 14 ('Tenant Changed') + '{"pad":"…"}' (10 + 2 bytes per 'é').
    const padded = (n: number, extra = '') => ({
      detailType: 'Tenant Changed',
      tenantId: `tenant-${n}`,
      detail: { pad: 'é'.repeat(65_513) + extra },
      time: '2026-11-21T10:00:00.000Z',
    });

    it('fills a request to exactly 256 KB', async () => {
      expect(entrySize(entry(padded(0))) * 2).toBe(MAX_REQUEST_BYTES);

      await publisher().publish([padded(0), padded(1)]);

      expect(requests().map((input) => input.Entries?.length)).toEqual([2]);
    });

    it('splits when one byte more would not fit', async () => {
      await publisher().publish([padded(0), padded(1, 'x')]);

      expect(requests().map((input) => input.Entries?.length)).toEqual([1, 1]);
    });
  });

  it('resends only the entries EventBridge refused', async () => {
    const events = [event(0), event(1), event(2), event(3)];
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({
        FailedEntryCount: 2,
        Entries: [
          { EventId: 'e0' },
          { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' },
          { EventId: 'e2' },
          { ErrorCode: 'InternalFailure', ErrorMessage: 'Internal error' },
        ],
      })
      .callsFake(acceptAll);

    await publisher().publish(events);

    expect(requests()).toEqual([{ Entries: events.map(entry) }, { Entries: [entry(events[1]!), entry(events[3]!)] }]);
  });

  it('resends a single refused entry and nothing else', async () => {
    const events = [event(0), event(1)];
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({ FailedEntryCount: 1, Entries: [{ EventId: 'e0' }, { ErrorCode: 'InternalFailure' }] })
      .callsFake(acceptAll);

    await publisher().publish(events);

    expect(requests()).toEqual([{ Entries: events.map(entry) }, { Entries: [entry(events[1]!)] }]);
  });

  it('resends the whole request when EventBridge counts failures without saying which', async () => {
    const events = [event(0), event(1)];
    eventBridge.on(PutEventsCommand).resolvesOnce({ FailedEntryCount: 1 }).callsFake(acceptAll);

    await publisher().publish(events);

    expect(requests()).toEqual([{ Entries: events.map(entry) }, { Entries: events.map(entry) }]);
  });

  it('gives up with a PublishError after maxAttempts, naming the error codes', async () => {
    // EventBridge keeps refusing tenant-1's event, whatever else is in the request.
    eventBridge.on(PutEventsCommand).callsFake((input: PutEventsCommandInput) => {
      const results = (input.Entries ?? []).map((sent, index) =>
        sent.Detail?.includes('tenant-1') ? { ErrorCode: 'InternalFailure', ErrorMessage: 'Internal error' } : { EventId: `e${index}` },
      );
      return { FailedEntryCount: results.filter((result) => 'ErrorCode' in result).length, Entries: results };
    });
    const events = [event(0), event(1, {}, 'Tenant Ready')];

    const error = await publisher({ maxAttempts: 3 })
      .publish(events)
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(PublishError);
    expect(error).toMatchObject({
      name: 'PublishError',
      errorCodes: ['InternalFailure'],
      attempts: 3,
      failures: [{ detailType: 'Tenant Ready', tenantId: 'tenant-1', errorCode: 'InternalFailure', errorMessage: 'Internal error' }],
      cause: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'Internal error' }],
    });
    expect((error as Error).message).toContain('InternalFailure');
    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 3);
    expect(requests().slice(1)).toEqual([{ Entries: [entry(events[1]!)] }, { Entries: [entry(events[1]!)] }]);
  });

  it('refuses an entry over 256 KB before sending anything', async () => {
    const events = [event(0), event(1, { blob: 'x'.repeat(MAX_REQUEST_BYTES) })];

    await expect(publisher().publish(events)).rejects.toThrow(EventTooLargeError);
    await expect(publisher().publish(events)).rejects.toThrow(/tenant-1 is \d+ bytes; PutEvents accepts at most 262144/);
    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 0);
  });

  it('lets an SDK error (throttling after the SDK retries) propagate', async () => {
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    eventBridge.on(PutEventsCommand).rejects(throttled);

    await expect(publisher().publish([event(0)])).rejects.toThrow('Rate exceeded');
    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 1);
  });

  it('sends nothing when there is nothing to publish', async () => {
    await publisher().publish([]);

    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 0);
  });
});
