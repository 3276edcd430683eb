import { setTimeout as sleep } from 'node:timers/promises';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { PutEventsRequestEntry, PutEventsResultEntry } from '@aws-sdk/client-eventbridge';
import { EVENT_SOURCE } from '../../domain/domain-events.js';
import type { DomainEvent, EventPublisher } from '../../ports/events.js';

/** PutEvents quotas: entries per request, and bytes per request as EventBridge counts them. */
export const MAX_ENTRIES_PER_REQUEST = 10;
export const MAX_REQUEST_BYTES = 256 * 1024;
/** EventBridge counts a `Time` as 14 bytes, whatever its value. */
const TIME_BYTES = 14;
/** Keeps a large `maxAttempts` from sleeping for minutes inside one Lambda invocation. */
const MAX_DELAY_MS = 5_000;

/** Some entries were still refused after every attempt; the caller must fail so the batch is retried. */
export class PublishError extends Error {
  readonly errorCodes: string[];
  readonly failures: Array<{ detailType: string; tenantId: string; errorCode: string; errorMessage?: string }>;
  readonly attempts: number;

  constructor(failures: PublishError['failures'], attempts: number, options?: { cause?: unknown }) {
    const errorCodes = [...new Set(failures.map((failure) => failure.errorCode))];
    super(`EventBridge refused ${failures.length} event(s) after ${attempts} attempt(s): ${errorCodes.join(', ')}`, options);
    this.name = 'PublishError';
    this.errorCodes = errorCodes;
    this.failures = failures;
    this.attempts = attempts;
  }
}

/** EventBridge would refuse this entry in any request; retrying cannot help. */
export class EventTooLargeError extends Error {
  constructor(
    readonly detailType: string,
    readonly tenantId: string,
    readonly size: number,
  ) {
    super(`Event "${detailType}" for tenant ${tenantId} is ${size} bytes; PutEvents accepts at most ${MAX_REQUEST_BYTES}.`);
    this.name = 'EventTooLargeError';
  }
}

export interface EventBridgePublisherOptions {
  client?: EventBridgeClient;
  busName: string;
  /** @default 'dormouse' */
  source?: string;
  /** Attempts per request at entries EventBridge refused (the SDK already retries whole-request errors). @default 5 */
  maxAttempts?: number;
  /** Base of the exponential backoff with full jitter between attempts. @default 100 */
  baseDelayMs?: number;
}

interface Pending {
  event: DomainEvent;
  entry: PutEventsRequestEntry;
}

export class EventBridgePublisher implements EventPublisher {
  private readonly client: EventBridgeClient;
  private readonly busName: string;
  private readonly source: string;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;

  constructor({
    client = new EventBridgeClient({}),
    busName,
    source = EVENT_SOURCE,
    maxAttempts = 5,
    baseDelayMs = 100,
  }: EventBridgePublisherOptions) {
    this.client = client;
    this.busName = busName;
    this.source = source;
    this.maxAttempts = maxAttempts;
    this.baseDelayMs = baseDelayMs;
  }

  async publish(events: DomainEvent[]): Promise<void> {
    const pending = events.map((event) => ({ event, entry: this.toEntry(event) }));
    // Checked for all events first, so a batch that can never go out sends nothing at all.
    for (const { event, entry } of pending) {
      const size = entrySize(entry);
      if (size > MAX_REQUEST_BYTES) throw new EventTooLargeError(event.detailType, event.tenantId, size);
    }
    // One request after another, so events reach the bus in the order of the changes.
    for (const batch of batches(pending)) await this.send(batch);
  }

  private toEntry({ detailType, detail, time }: DomainEvent): PutEventsRequestEntry {
    const at = new Date(time);
    if (Number.isNaN(at.getTime())) throw new TypeError(`Event "${detailType}" has an invalid time: ${time}`);
    return {
      EventBusName: this.busName,
      Source: this.source,
      DetailType: detailType,
      Detail: JSON.stringify(detail),
      Time: at,
      Resources: [],
    };
  }

  /** Sends one request's entries, then again only those refused, until none are or attempts run out. */
  private async send(batch: Pending[]): Promise<void> {
    let pending = batch;
    for (let attempt = 1; ; attempt++) {
      const response = await this.client.send(new PutEventsCommand({ Entries: pending.map(({ entry }) => entry) }));
      const results = response.Entries ?? [];
      let failed = pending.flatMap((item, index) => {
        const result = results[index];
        return result?.ErrorCode ? [{ ...item, result }] : [];
      });
      // A count without per-entry codes cannot say which ones failed: resend them all (duplicates are fine).
      if ((response.FailedEntryCount ?? 0) > failed.length) {
        failed = pending.map((item, index) => ({
          ...item,
          result: results[index]?.ErrorCode ? results[index] : { ErrorCode: 'Unknown' },
        }));
      }
      if (failed.length === 0) return;
      if (attempt >= this.maxAttempts) {
        throw new PublishError(failed.map(describeFailure), attempt, {
          cause: failed.map(({ result }) => result),
        });
      }
      pending = failed.map(({ event, entry }) => ({ event, entry }));
      // Full jitter, so publishers throttled together do not come back together.
      await sleep(Math.random() * Math.min(MAX_DELAY_MS, this.baseDelayMs * 2 ** (attempt - 1)));
    }
  }
}

function describeFailure({ event, result }: Pending & { result: PutEventsResultEntry }): PublishError['failures'][number] {
  return {
    detailType: event.detailType,
    tenantId: event.tenantId,
    errorCode: result.ErrorCode ?? 'Unknown',
    ...(result.ErrorMessage ? { errorMessage: result.ErrorMessage } : {}),
  };
}

/**
 * The size EventBridge charges against the request limit, per "Calculating PutEvents event
 * entry size": UTF-8 bytes of Source, DetailType, Detail and each Resource, plus 14 for Time.
 * The bus name does not count.
 */
export function entrySize(entry: PutEventsRequestEntry): number {
  const bytes = (text: string | undefined) => (text === undefined ? 0 : Buffer.byteLength(text, 'utf8'));
  return (
    (entry.Time ? TIME_BYTES : 0) +
    bytes(entry.Source) +
    bytes(entry.DetailType) +
    bytes(entry.Detail) +
    (entry.Resources ?? []).reduce((sum, resource) => sum + bytes(resource), 0)
  );
}

/** Consecutive runs of at most 10 entries and 256 KB, in the order given. */
function batches(items: Pending[]): Pending[][] {
  const result: Pending[][] = [];
  let current: Pending[] = [];
  let size = 0;
  for (const item of items) {
    const itemSize = entrySize(item.entry);
    if (current.length === MAX_ENTRIES_PER_REQUEST || (current.length > 0 && size + itemSize > MAX_REQUEST_BYTES)) {
      result.push(current);
      current = [];
      size = 0;
    }
    current.push(item);
    size += itemSize;
  }
  if (current.length > 0) result.push(current);
  return result;
}
