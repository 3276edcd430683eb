import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import type { TenantChange } from '../../domain/domain-events.js';
import { systemClock, type Clock } from '../../ports/clock.js';
import { tenantFromItem } from './dynamodb-tenant-store.js';

/**
 * The tenant table's stream records, read as tenant changes: the stream publisher Lambda and
 * embedded mode's stream poller (DynamoDB Local has the same stream) both read them here.
 */

/** A stream payload this function cannot read; retrying it will not help, so it fails loudly. */
export class StreamRecordError extends Error {
  constructor(
    message: string,
    readonly eventID?: string,
  ) {
    super(message);
    this.name = 'StreamRecordError';
  }
}

/** Tenant changes in record order; claims and the counter share the table and are skipped. */
export function tenantChanges(records: DynamoDBRecord[], clock: Clock = systemClock): TenantChange[] {
  return records.flatMap((record) => {
    const { eventID, eventName, dynamodb: stream } = record;
    if (eventName !== 'INSERT' && eventName !== 'MODIFY' && eventName !== 'REMOVE') {
      throw new StreamRecordError(`Stream record ${eventID} has no known eventName (${String(eventName)}).`, eventID);
    }
    const oldImage = stream?.OldImage && unmarshall(stream.OldImage as Record<string, AttributeValue>);
    const newImage = stream?.NewImage && unmarshall(stream.NewImage as Record<string, AttributeValue>);
    // Without both images a change cannot be told from an insert: the table's stream must be
    // NEW_AND_OLD_IMAGES, and anything else is a deployment mistake worth failing on.
    if ((eventName !== 'INSERT' && !oldImage) || (eventName !== 'REMOVE' && !newImage)) {
      throw new StreamRecordError(
        `Stream record ${eventID} (${eventName}) lacks an image; the table stream must be NEW_AND_OLD_IMAGES.`,
        eventID,
      );
    }
    if ((newImage ?? oldImage)?.kind !== 'tenant') return [];
    return [
      {
        ...(oldImage ? { before: tenantFromItem(oldImage) } : {}),
        ...(newImage ? { after: tenantFromItem(newImage) } : {}),
        at: changeTime(stream?.ApproximateCreationDateTime, clock),
      },
    ];
  });
}

/** ApproximateCreationDateTime is epoch seconds (fractional with microsecond precision). */
function changeTime(seconds: number | undefined, clock: Clock): string {
  return typeof seconds === 'number' && Number.isFinite(seconds)
    ? new Date(Math.round(seconds * 1000)).toISOString()
    : clock.now().toISOString();
}
